#!/usr/bin/env bash
# check_policies.sh - every example policy passes its own POLICY_test.lua
# cases through the oauth2-policy CLI (helper library from the repo), and
# the CLI's exit codes hold: check 0/2, eval 0 allow / 1 deny / 2 unusable.
set -u
cd "$(dirname "$0")/../.."
cli=build/oauth2-policy
[ -x "$cli" ] || { echo "check_policies: $cli not built (make all)" >&2; exit 1; }
fail=0
out=$("$cli" --lib policies test policies/examples/*.lua 2>&1)
rc=$?
last=$(printf '%s\n' "$out" | tail -n 1)
if [ $rc -ne 0 ] || ! printf '%s\n' "$last" | grep -qE '^[0-9]+ passed, 0 failed$'; then
    printf '%s\n' "$out" >&2
    echo "check_policies: example tests failed" >&2
    fail=1
fi
expect() { # expect RC CMD...: the CLI must exit with RC
    local want=$1; shift
    "$cli" --lib policies "$@" >/dev/null 2>&1
    local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "check_policies: exit $got, expected $want: $*" >&2
        fail=1
    fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo 'return 42' >"$tmp/bad.lua"
echo 'return function() return true end' >"$tmp/untested.lua"
ex=policies/examples
expect 0 check $ex/photos.lua $ex/admin.lua $ex/workspace.lua
expect 2 check "$tmp/bad.lua"
expect 2 check "$tmp/missing.lua"
expect 0 eval $ex/photos.lua --method GET --path /api/photos/1 --scopes "photos.read"
expect 1 eval $ex/photos.lua --method POST --path /api/photos/1 --scopes "photos.read"
expect 0 eval $ex/admin.lua --method GET --path /api/admin/x --claim groups=staff --claim groups=admin
expect 1 eval $ex/admin.lua --method GET --path /api/admin/x --claim groups=staff
expect 0 eval $ex/workspace.lua --path /app/ --principal session \
    --claims-json '{"hd":"example.com","email":"a@example.com","email_verified":true}'
expect 2 eval "$tmp/bad.lua" --path /
expect 2 eval $ex/photos.lua --path /x --bogus 1
expect 0 eval $ex/photos.lua --limits instructions=50000 memory=2M --method GET \
    --path /api/photos/1 --scopes photos.read
expect 2 eval $ex/photos.lua --limits memory=1X --path /x
expect 1 test "$tmp/untested.lua"
expect 1 test "$tmp/bad.lua"
[ $fail -eq 0 ] && echo "check_policies: ok ($last)"
exit $fail
