#!/bin/bash
# README.md opens with exactly two commands that set up everything on a fresh Debian 12 machine
# as root: they must run as written there. A fresh Debian 12 has no sudo, so each is
# `bash SCRIPT` with SCRIPT in the tree, and the scripts parse.
set -u
src=${MOAT_SOURCE_DIR:?}
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

# The first indented block of README.md.
mapfile -t cmds < <(awk '/^    [^ ]/ { print; found = 1; next } found { exit }' "$src/README.md")
if [ "${#cmds[@]}" = 2 ]; then ok "README opens with two commands"; else not_ok "README opens with two commands (found ${#cmds[@]})"; fi
for c in "${cmds[@]}"; do
        c=$(sed 's/ *#.*//; s/^ *//' <<<"$c")
        read -r first script _ <<<"$c"
        if [ "$first" = bash ]; then
                ok "'$c' starts with bash, as root on a fresh Debian runs it"
        else
                not_ok "'$c' starts with '$first', which a fresh Debian 12 does not have for sure"
        fi
        if [ -f "$src/$script" ] && bash -n "$src/$script"; then
                ok "$script exists and parses"
        else
                not_ok "$script exists and parses"
        fi
done
echo "1..$n"
[ "$failed" = 0 ]
