#!/bin/bash
# The shipped MAC policies compile with this host's tools, without loading anything:
#   - every AppArmor profile in policies/apparmor/ (apparmor_parser -QK: parse and compile, no
#     kernel, no cache), each with a header saying what it confines;
#   - moat (AppArmor 4, abi 4.0) where the parser knows abi 4.0; where it does not (AppArmor 3,
#     Debian 12), abi3/moat is the profile that is loaded, and the two differ in nothing but the
#     abi line and the userns rule;
#   - the SELinux module (refpolicy headers, selinux-policy-dev) builds to a policy package that
#     declares moat_t, moat_exec_t and moat_sandbox_t and the transition between them.
# A broken profile and a broken module are rejected by the same checks (they compile for real).
source "$(dirname "$0")/../tap.sh"
SRC=${MOAT_SOURCE_DIR:?}
AA=$SRC/policies/apparmor
SE=$SRC/policies/selinux
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

parser=
for p in /usr/sbin/apparmor_parser /sbin/apparmor_parser; do [ -x "$p" ] && parser=$p && break; done
aa_compile() { "$parser" -QK "$1" >"$T/aa.out" 2>"$T/aa.err" || return 1; }

if [ -z "$parser" ]; then
        tap_skip "AppArmor profiles compile" "apparmor_parser is not installed"
else
        diag "$("$parser" --version | head -1)"
        for f in "$AA"/moat-* "$AA"/abi3/*; do
                n=${f#"$AA"/}
                check "apparmor: $n compiles" aa_compile "$f" || diag "$(grep -v 'Cache read' "$T/aa.err")"
        done
        for f in "$AA"/moat "$AA"/moat-* "$AA"/abi3/*; do
                n=${f#"$AA"/}
                check_all "apparmor: $n has a header naming the profile and what it confines" \
                        'head -1 "$f" | grep -q "^# ${n##*/}[ :(]" && grep -qi "confine" "$f"'
                check_all "apparmor: $n declares the profile ${n##*/}" \
                        'grep -Eq "^profile ${n##*/}( |\$)" "$f"'
        done
        # moat: abi 4.0 and userns. AppArmor 3 parsers cannot read either.
        if [ -e /etc/apparmor.d/abi/4.0 ]; then
                check "apparmor: moat (abi 4.0, userns) compiles" aa_compile "$AA/moat" ||
                        diag "$(grep -v 'Cache read' "$T/aa.err")"
        else
                tap_skip "apparmor: moat (abi 4.0, userns) compiles" \
                        "this parser has no abi 4.0 ($("$parser" --version | head -1))"
                check_all "apparmor: ... and this parser refuses it for the abi (what abi3/moat is for)" \
                        '! aa_compile "$AA/moat" && grep -q "abi/4.0" "$T/aa.err"'
        fi
        rules() { grep -v '^\s*#' "$1" | grep -v '^\s*$' | grep -Ev '^abi <abi/[34]\.0>,$|^\s*userns,$'; }
        check_all "apparmor: moat and abi3/moat differ only in the abi and the userns rule" \
                'cmp -s <(rules "$AA/moat") <(rules "$AA/abi3/moat") &&
                 grep -qx "abi <abi/4.0>," "$AA/moat" && grep -qx "  userns," "$AA/moat"'
        printf 'abi <abi/3.0>,\nprofile moat-broken {\n  /etc/** rw x,\n}\n' >"$T/moat-broken"
        check_all "apparmor: a broken profile is rejected by the same check" \
                '! aa_compile "$T/moat-broken"'
fi

mk=/usr/share/selinux/devel/Makefile
if [ ! -e "$mk" ] || ! command -v checkmodule >/dev/null; then
        tap_skip "selinux: moat module builds" "selinux-policy-dev or checkpolicy is not installed"
else
        mkdir "$T/se" "$T/bad"
        cp "$SE"/moat.te "$SE"/moat.fc "$SE"/moat.if "$T/se/"
        se_build() { make -s -C "$1" -f "$mk" moat.pp >"$T/se.out" 2>&1; }
        check "selinux: moat.pp builds with the refpolicy headers" se_build "$T/se" ||
                diag "$(tail -5 "$T/se.out")"
        # The package's module, read back by semodule_unpackage and the CIL it holds.
        if [ -s "$T/se/moat.pp" ] && command -v /usr/libexec/selinux/hll/pp >/dev/null; then
                /usr/libexec/selinux/hll/pp "$T/se/moat.pp" "$T/se/moat.cil" 2>/dev/null
                check_all "selinux: the module declares moat_t, moat_exec_t, moat_sandbox_t, moat_sandbox_file_t" \
                        'for t in moat_t moat_exec_t moat_sandbox_t moat_sandbox_file_t; do
                                grep -q "(type $t)" "$T/se/moat.cil" || exit 1; done'
                check_all "selinux: ... and the launcher may transition to moat_sandbox_t" \
                        'grep -Eq "\(allow moat_launcher moat_sandbox_t \(process \(.*transition" "$T/se/moat.cil"'
                check_all "selinux: ... and moat_exec_t is the file context of /usr/bin/moat" \
                        'grep -Eq "^/usr/bin/moat\s.*moat_exec_t" "$SE/moat.fc"'
        else
                tap_skip "selinux: the module's CIL" "no /usr/libexec/selinux/hll/pp to read the package"
        fi
        cp "$SE"/moat.te "$SE"/moat.fc "$SE"/moat.if "$T/bad/"
        echo 'allow moat_sandbox_t no_such_type_t:file read;' >>"$T/bad/moat.te"
        check_all "selinux: a module naming an unknown type is rejected by the same build" \
                '! se_build "$T/bad"'
fi
tap_end
