#!/usr/bin/env bash
# check_layering.sh - the core and the policy engine must stay plain C: they
# may not include httpd headers (httpd.h, http_*.h, ap_*.h, util_*.h).
set -u
cd "$(dirname "$0")/../.."
bad=$(grep -lE '#[[:space:]]*include[[:space:]]*[<"](httpd|http_[a-z_]+|ap_[a-z_]+|util_[a-z_]+|mod_[a-z_]+)\.h[>"]' \
    mod_oauth2/core/*.c mod_oauth2/policy/*.c include/oauth2/*.h 2>/dev/null)
if [ -n "$bad" ]; then
    echo "check_layering: httpd headers included by core/policy files:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "check_layering: ok"
