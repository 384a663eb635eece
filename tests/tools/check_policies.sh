#!/usr/bin/env bash
# check_policies.sh - every example policy passes its own POLICY_test.lua
# cases through the oauth2-policy CLI, with the helper library from the repo.
set -u
cd "$(dirname "$0")/../.."
cli=build/oauth2-policy
[ -x "$cli" ] || { echo "check_policies: $cli not built (make all)" >&2; exit 1; }
out=$("$cli" --lib policies test policies/examples/*.lua 2>&1)
rc=$?
last=$(printf '%s\n' "$out" | tail -n 1)
if [ $rc -ne 0 ] || ! printf '%s\n' "$last" | grep -qE '^[0-9]+ passed, 0 failed$'; then
    printf '%s\n' "$out" >&2
    echo "check_policies: failed" >&2
    exit 1
fi
echo "check_policies: ok ($last)"
