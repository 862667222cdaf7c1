#!/bin/bash
# The shipped AppArmor profiles compile with an AppArmor 4 parser: Debian 13's apparmor_parser,
# unpacked (with its glibc, abi files and tunables, and lxc's abstractions) by
# tests/helpers/fetch-trixie.sh into /var/cache/moat/trixie, never installed on this host;
# fetched here when the cache is missing and this runs as root (retried; a failed fetch fails
# the test). Compiled only (-QK: no kernel, no cache):
#   - moat in its abi 4.0 form, with the `userns` rule, and the rule is compiled into the
#     policy for an AppArmor 4 kernel (the binary differs from the profile without it);
#   - moat-default, moat-container and abi3/moat compile with the AppArmor 4 parser too;
#   - the same parser rejects a profile with a malformed userns rule and a profile asking for
#     an abi it does not have (so the checks above can fail).
source "$(dirname "$0")/../tap.sh"
SRC=${MOAT_SOURCE_DIR:?}
AA=$SRC/policies/apparmor
TRIXIE=${MOAT_TRIXIE_DIR:-/var/cache/moat/trixie}
parser=$TRIXIE/bin/apparmor_parser
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

if [ ! -x "$parser" ] || [ ! -s "$TRIXIE/parser/complete" ]; then
        if [ "$(id -u)" = 0 ]; then
                # A missing archive is a failure, not a skip: the machine is meant to reach it.
                if ! bash "$SRC/tests/helpers/fetch-trixie.sh" parser >"$T/fetch.out" 2>&1; then
                        tap_not_ok "fetch Debian 13's AppArmor parser"
                        diag "$(tail -5 "$T/fetch.out")"
                        tap_end
                        exit 1
                fi
        elif [ "${MOAT_MUST_WORK:-0}" = 1 ]; then
                tap_not_ok "no AppArmor 4 parser in $TRIXIE although MOAT_MUST_WORK=1 (tests/helpers/fetch-trixie.sh as root)"
                tap_end
                exit 1
        else
                echo "1..0 # SKIP no AppArmor 4 parser in $TRIXIE (tests/helpers/fetch-trixie.sh as root)"
                exit 77
        fi
fi
diag "$("$parser" --version | head -1) (Debian $(cat "$TRIXIE/parser/complete"))"
compile() { "$parser" -QK "$1" >"$T/out" 2>"$T/err"; }
binary() { "$parser" -SK "$@" 2>/dev/null; }
FEATURES=$TRIXIE/parser/usr/share/apparmor-features/features
err() { grep -v 'Cache read' "$T/err" | head -5; }

check_all "the parser is AppArmor 4 and has abi 4.0" \
        '"$parser" --version | head -1 | grep -q "version 4\." && [ -e "$TRIXIE/parser/etc/apparmor.d/abi/4.0" ]'
check "moat (abi 4.0, userns) compiles" compile "$AA/moat" || diag "$(err)"
# The rule is compiled, not dropped: for a kernel with AppArmor 4's features (the features
# file trixie's apparmor ships, which has namespaces/mask userns_create) the policy differs
# with and without it. (Without kernel features, as here, the parser leaves out rules no
# kernel it knows of mediates, so the two would be the same.)
grep -v '^\s*userns,$' "$AA/moat" >"$T/moat-no-userns"
check_all "... and its userns rule is compiled into the policy for an AppArmor 4 kernel (differs without it)" \
        'a=$(binary "$AA/moat" --kernel-features "$FEATURES" | sha256sum) &&
         b=$(binary "$T/moat-no-userns" --kernel-features "$FEATURES" | sha256sum) &&
         [ "$a" != "$(sha256sum </dev/null)" ] && [ "$a" != "$b" ] &&
         grep -q userns_create "$FEATURES"'
for f in "$AA"/moat-* "$AA"/abi3/*; do
        n=${f#"$AA"/}
        check "$n compiles with the AppArmor 4 parser" compile "$f" || diag "$(err)"
done
sed 's/^  userns,$/  userns bogus,/' "$AA/moat" >"$T/moat-bad-userns"
check_all "a malformed userns rule is rejected by the same check" '! compile "$T/moat-bad-userns"'
sed 's|^abi <abi/4.0>,$|abi <abi/9.9>,|' "$AA/moat" >"$T/moat-bad-abi"
check_all "an abi the parser does not have is rejected by the same check" '! compile "$T/moat-bad-abi"'
tap_end
