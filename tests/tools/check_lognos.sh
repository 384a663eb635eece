#!/usr/bin/env bash
# check_lognos.sh - every log call at debug or above carries an OAUTH2_LOGNO
# (core) or APLOGNO-style OAUTH2_LOGNO (adapter) number, and no number is
# used twice. Numbers: see tests/tools/lognos.txt for the ranges per area.
set -u
cd "$(dirname "$0")/../.."
srcs=$(ls mod_oauth2/core/*.c mod_oauth2/policy/*.c mod_oauth2/apache/*.c 2>/dev/null)
[ -n "$srcs" ] || { echo "check_lognos: no sources"; exit 0; }
fail=0
# Every number appears at most once.
dups=$(grep -ohE 'OAUTH2_LOGNO\([0-9]+\)' $srcs | sort | uniq -d)
if [ -n "$dups" ]; then
    echo "check_lognos: numbers used more than once:" >&2; echo "$dups" >&2; fail=1
fi
# A logging call must carry a number within its first two lines.
untagged=$(awk '
    /(oauth2_log_(error|warn|notice|info|debug)|ap_log_[rc]?error|ap_log_perror)\(/ &&
    !/define / {
        if (want != "") print want
        want = FILENAME ":" FNR; n = 0
    }
    want != "" {
        if ($0 ~ /OAUTH2_LOGNO|APLOGNO/) want = ""
        else if (++n >= 3) { print want; want = "" }
    }
    END { if (want != "") print want }
' $srcs)
if [ -n "$untagged" ]; then
    echo "check_lognos: log calls without a number:" >&2; echo "$untagged" >&2; fail=1
fi
[ $fail -eq 0 ] && echo "check_lognos: ok"
exit $fail
