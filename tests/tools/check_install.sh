#!/usr/bin/env bash
# check_install.sh - `make install DESTDIR=<tmp>` installs exactly the
# expected files (module, a2enmod files, policy library, CLI) under the
# staging root and nothing outside it. Never touches the real system.
set -u
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d /tmp/oauth2-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
if ! make --no-print-directory install DESTDIR="$tmp" >"$tmp.log" 2>&1; then
    echo "check_install: make install failed:" >&2; cat "$tmp.log" >&2
    rm -f "$tmp.log"; exit 1
fi
rm -f "$tmp.log"
libexec=$(apxs -q LIBEXECDIR)
libdir=$(sed -n 's/^#define OAUTH2_POLICY_LIB_DIR "\(.*\)"/\1/p' \
    include/oauth2/policy.h)
expected=$(printf '%s\n' \
    "$libexec/mod_oauth2.so" \
    /etc/apache2/mods-available/oauth2.load \
    /etc/apache2/mods-available/oauth2.conf \
    /usr/local/bin/oauth2-policy \
    $(for f in policies/oauth2/*.lua; do echo "$libdir/oauth2/$(basename "$f")"; done) \
    | sort)
got=$(cd "$tmp" && find . -type f | sed 's/^\.//' | sort)
fail=0
if [ "$expected" != "$got" ]; then
    echo "check_install: installed files differ from the expected list:" >&2
    diff <(echo "$expected") <(echo "$got") >&2
    fail=1
fi
# a2enmod needs the LoadModule line to name the installed file.
if ! grep -qx "LoadModule oauth2_module $libexec/mod_oauth2.so" \
    "$tmp/etc/apache2/mods-available/oauth2.load"; then
    echo "check_install: oauth2.load does not load $libexec/mod_oauth2.so" >&2
    fail=1
fi
[ -x "$tmp/usr/local/bin/oauth2-policy" ] || {
    echo "check_install: oauth2-policy not executable" >&2; fail=1; }
[ $fail -eq 0 ] && echo "check_install: ok"
exit $fail
