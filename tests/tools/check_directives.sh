#!/usr/bin/env bash
# check_directives.sh - every directive in the command table (AP_INIT_* lines
# in mod_oauth2/apache/*.c) has a "## Name" section in docs/directives.md,
# and every field of the server and directory config records has its merge
# line (MERGE_PTR/MERGE_VAL) in mod_oauth2/apache/config.c.
set -u
cd "$(dirname "$0")/../.."
doc=docs/directives.md
fail=0
names=$(grep -ohE 'AP_INIT_[A-Z0-9_]+\([[:space:]]*"[A-Za-z0-9]+"' \
    mod_oauth2/apache/*.c | sed -E 's/.*"([A-Za-z0-9]+)"/\1/' | sort -u)
# A table entry may put the name on the line after AP_INIT_*( .
names+=$'\n'$(grep -hA1 -E 'AP_INIT_[A-Z0-9_]+\($' mod_oauth2/apache/*.c |
    grep -ohE '^[[:space:]]*"[A-Za-z0-9]+"' | tr -d ' "' | sort -u)
names=$(echo "$names" | grep -v '^$' | sort -u)
[ -n "$names" ] || { echo "check_directives: no directives found" >&2; exit 1; }
for n in $names; do
    if ! grep -qE "^## ${n}[[:space:]]*$" "$doc" 2>/dev/null; then
        echo "check_directives: $n has no '## $n' section in $doc" >&2
        fail=1
    fi
done
# Fields of the config records: every one merged.
hdr=mod_oauth2/apache/oauth2_apache.h
for rec in oauth2_ap_srv_cfg_t oauth2_ap_dir_cfg_t; do
    fields=$(awk -v rec="$rec" '
        $0 ~ "^typedef struct " rec " \\{" { on = 1; next }
        on && /^}/ { on = 0 }
        on && /;/ {
            line = $0; sub(/\/\*.*/, "", line); sub(/;.*/, "", line)
            n = split(line, w, /[ *]+/); print w[n]
        }' "$hdr")
    [ -n "$fields" ] || { echo "check_directives: $rec not found" >&2; fail=1; }
    for f in $fields; do
        # A feature sub-struct is merged by its own function.
        if ! grep -qE "MERGE_(PTR|VAL)\($f\)|n->$f = oauth2_ap_[a-z_]+_merge\(" \
            mod_oauth2/apache/config.c; then
            echo "check_directives: $rec.$f has no merge line" >&2
            fail=1
        fi
    done
done
[ $fail -eq 0 ] && echo "check_directives: ok ($(echo "$names" | wc -l) directives)"
exit $fail
