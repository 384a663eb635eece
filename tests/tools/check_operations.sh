#!/usr/bin/env bash
# check_operations.sh - every log number used in the source (OAUTH2_LOGNO)
# has a row in docs/operations.md's log table, and the table lists no
# number the source does not use. Run by `make check-tools`.
set -u
cd "$(dirname "$0")/../.."
doc=docs/operations.md
[ -f "$doc" ] || { echo "check_operations: $doc missing" >&2; exit 1; }
used=$(grep -rhoE 'OAUTH2_LOGNO\([0-9]+\)' mod_oauth2 |
    sed -E 's/OAUTH2_LOGNO\(([0-9]+)\)/OA\1/' | sort -u)
documented=$(grep -oE '^\| OA[0-9]{5} \|' "$doc" | grep -oE 'OA[0-9]{5}' |
    sort -u)
missing=$(comm -23 <(echo "$used") <(echo "$documented"))
stale=$(comm -13 <(echo "$used") <(echo "$documented"))
fail=0
if [ -n "$missing" ]; then
    echo "check_operations: log numbers without a row in $doc:" >&2
    echo "$missing" >&2
    fail=1
fi
if [ -n "$stale" ]; then
    echo "check_operations: rows in $doc for numbers the source does not use:" >&2
    echo "$stale" >&2
    fail=1
fi
[ $fail -eq 0 ] && echo "check_operations: ok ($(echo "$used" | wc -l) numbers)"
exit $fail
