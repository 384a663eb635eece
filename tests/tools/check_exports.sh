#!/usr/bin/env bash
# check_exports.sh - mod_oauth2.so must export only its module record, so it
# never clashes with Debian's liboauth2 (which exports oauth2_* too).
set -u
cd "$(dirname "$0")/../.."
so=${MODULE:-build/mod_oauth2.so}
[ -f "$so" ] || { echo "check_exports: $so not built" >&2; exit 1; }
exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' |
    grep -vE '^(_init|_fini|__bss_start|_edata|_end)$')
if [ "$exports" != "oauth2_module" ]; then
    echo "check_exports: unexpected exports in $so:" >&2
    echo "$exports" >&2
    exit 1
fi
# Every non-static symbol of the core archive carries our prefix.
lib=$(dirname "$so")/libmodoauth2core.a
if [ -f "$lib" ]; then
    bad=$(nm --defined-only "$lib" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ {print $3}' |
        grep -vE '^oauth2_' || true)
    if [ -n "$bad" ]; then
        echo "check_exports: core symbols without the oauth2_ prefix:" >&2
        echo "$bad" >&2
        exit 1
    fi
fi
echo "check_exports: ok"
