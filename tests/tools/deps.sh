#!/usr/bin/env bash
# deps.sh - installs the Debian packages mod_oauth2 builds, tests and demos
# with. Checks with dpkg first, so it is a no-op when everything is there; as
# root it runs apt-get, otherwise it prints the exact command to run.
set -euo pipefail

PKGS=(
    make gcc pkg-config clang
    # libFuzzer/ASan runtimes are only a Recommends of clang-14
    libclang-rt-14-dev valgrind
    apache2 apache2-dev libapr1-dev libaprutil1-dev
    libssl-dev libjansson-dev libhiredis-dev liblua5.4-dev lua5.4
    libcurl4-openssl-dev libcmocka-dev
    redis-server redis-sentinel curl wrk
    python3 python3-pytest python3-requests python3-cryptography python3-jwt
)
# The headless-browser tests need these; OAUTH2_NO_BROWSER=1 skips them.
if [ "${OAUTH2_NO_BROWSER:-0}" != 1 ]; then
    PKGS+=(chromium chromium-driver python3-selenium)
fi

missing=()
for p in "${PKGS[@]}"; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing Debian packages; run as root:" >&2
    echo "  apt-get update && $cmd" >&2
    exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends "${missing[@]}"
