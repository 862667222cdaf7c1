#!/bin/bash
# moat's SELinux module enforced, proved in a vm-tier guest whose kernel has SELinux (this
# host's has none): one boot with `security=selinux selinux=1`. The host builds a policy store
# and binary policy from Debian's selinux-policy-default (base and unconfined modules, plus the
# test's selinux/moattest.cil) with `semodule -p`; the guest loads it, sets enforcing, and as
# unconfined_t runs the real moat (selinux-guest.sh collects; this script asserts):
#   - `moat policy install` builds moat.pp from policies/selinux with the refpolicy headers and
#     installs it with semodule, idempotently; `status` reports it by digest;
#   - `moat run -p` a profile requiring unconfined_u:unconfined_r:moat_sandbox_t:s0, as root
#     and as moatuser: the workload's /proc/self/attr/current is that context, its write to a
#     file labelled etc_t is denied while a write to the work directory (moat_sandbox_file_t)
#     is not, and the audit record lists selinux as applied; without the label (control) the
#     same write succeeds;
#   - `moat policy remove` removes the module, idempotently; the same run then refuses (125),
#     naming `moat policy install`.
source "$(dirname "$0")/lib.sh"
guest_checks_return
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"
S=/usr/share/selinux/default
[ -r $S/base.pp.bz2 ] && [ -r $S/unconfined.pp.bz2 ] && [ -d /etc/selinux/default/contexts ] ||
        skip_all "Debian's selinux-policy-default is not installed ($S)"
[ -x /usr/sbin/semodule ] && [ -x /usr/sbin/load_policy ] || skip_all "policycoreutils is not installed"
[ -e /usr/share/selinux/devel/Makefile ] || skip_all "selinux-policy-dev is not installed"
[ -x /bin/busybox ] && file -L /bin/busybox | grep -q 'statically linked' ||
        skip_all "busybox-static is not installed"
[ "$(id -u)" = 0 ] || skip_all "building the guest's policy store needs root here (semodule -p)"

SRC=$MOAT_SOURCE_DIR
guest_setup selinux-guest.sh

# The guest's policy root: Debian's base and unconfined modules and the test's plumbing.
P=$d/work/polroot
mkdir -p "$P/etc/selinux/default" "$P/var/lib/selinux"
printf 'SELINUX=enforcing\nSELINUXTYPE=default\n' >"$P/etc/selinux/config"
cp /etc/selinux/semanage.conf "$P/etc/selinux/"
cp -r /etc/selinux/default/contexts "$P/etc/selinux/default/"
t0=$(date +%s%N)
semodule -p "$P" -s default -X 100 -n -i $S/base.pp.bz2 -i $S/unconfined.pp.bz2 \
        -i "$SRC/tests/integration/vm/selinux/moattest.cil" >"$T/semodule.out" 2>&1
rc=$?
diag "semodule -p (base, unconfined, moattest) rc=$rc in $((($(date +%s%N) - t0) / 1000000)) ms: $(grep -v 'not in password file' "$T/semodule.out" | head -c 300)"
check_all "the guest's policy (Debian's base and unconfined modules) builds on the host" \
        '[ "$rc" = 0 ] && [ -s "$P/etc/selinux/default/policy/policy.33" ]' || { tap_end; exit 1; }
chmod -R a+rX "$P"

kargs="security=selinux selinux=1"
guest_boot "$kargs" 512 540000 \
        bash /t/guest.sh "$MOAT" /t/out moatuser "$SRC/tests/integration/vm" /t/polroot
guest_ran "booted with '$kargs'"
diag "$(sed 's/^/install: /' "$o/install.out"; sed 's/^/status: /' "$o/status.out")"

check_all "the policy loads and SELinux is enforcing" \
        '[ "$(rc_of load-policy)" = 0 ] && [ "$(rc_of setenforce)" = 0 ]' || show load-policy
check_all "policy status before install: exit 1, moat not installed" \
        '[ "$(rc_of status-before)" = 1 ] && grep -Eq "^  moat +not installed" "$o/status-before.out"' ||
        show status-before
check_all "policy install: exit 0, the module built and installed" \
        '[ "$(rc_of install)" = 0 ] && grep -Eq "^  moat +installed \(semodule\), sources sha256 [0-9a-f]{12}" "$o/install.out"' ||
        show install
check_all "policy install again: exit 0 (idempotent)" \
        '[ "$(rc_of install-again)" = 0 ] && cmp -s "$o/install.out" "$o/install-again.out"' || show install-again
sha=$(cat "$SRC"/policies/selinux/moat.te "$SRC"/policies/selinux/moat.fc "$SRC"/policies/selinux/moat.if | sha256sum | cut -c1-12)
check_all "policy status: exit 0, the shipped sources by digest ($sha)" \
        '[ "$(rc_of status)" = 0 ] && grep -Eq "^  moat +installed, the shipped sources \(sha256 $sha\)" "$o/status.out"' ||
        show status
ctx=unconfined_u:unconfined_r:moat_sandbox_t:s0
for who in root moatuser; do
        f=$o/$who-loaded
        check "$who: moat host: SELinux enforcing, moat's module loaded" \
                jqt '.selinux_mode == 1 and .selinux_moat_loaded == true' "$f-host.out" || show "$who-loaded-host"
        check_all "$who: moat run -p se-required runs the workload (exit 0)" '[ "$(rc_of "$who-loaded")" = 0 ]' ||
                show "$who-loaded"
        check "$who: /proc/self/attr/current in the workload is $ctx" grep -qx "label=$ctx" "$f.out"
        check_all "$who: a write to a file labelled etc_t is denied, a write to the work directory is not" \
                'grep -qx etc-write=denied "$f.out" && grep -qx work-write=ok "$f.out" && grep -qx original "$f.etc"' ||
                diag "$(cat "$f.out" "$f.err" "$f.etc" | head -c 600)"
        check "$who: the audit record lists selinux ($ctx) required and applied" \
                jqt '[.controls[] | select(.name == "selinux")] | length == 1 and
                     .[0].planned == "required" and .[0].outcome == "applied"' "$f.audit.json" ||
                diag "$(jq -c '.controls[] | select(.name == "selinux")' "$f.audit.json" 2>&1 | head -c 400)"
        diag "$who: the workload printed: $(tr '\n' ' ' <"$f.out"), stderr: $(head -c 300 "$f.err" | tr '\n' ' ')"
        c=$o/$who-unlabelled
        check_all "$who: control: without the label the workload is unconfined_t and the same write succeeds" \
                '[ "$(rc_of "$who-unlabelled")" = 0 ] && grep -q "^label=unconfined_u:unconfined_r:unconfined_t:" "$c.out" &&
                 grep -qx etc-write=ok "$c.out" && grep -qx changed "$c.etc"' || show "$who-unlabelled"
done
check_all "policy remove: exit 0, the module removed" \
        '[ "$(rc_of remove)" = 0 ] && grep -Eq "^  moat +removed" "$o/remove.out"' || show remove
check_all "policy remove again: exit 0, not installed (idempotent)" \
        '[ "$(rc_of remove-again)" = 0 ] && grep -Eq "^  moat +not installed" "$o/remove-again.out"' || show remove-again
check_all "policy status after remove: exit 1" '[ "$(rc_of status-after)" = 1 ]' || show status-after
for who in root moatuser; do
        check_all "$who: without moat's module, the same run refuses (125) naming moat policy install, and runs nothing" \
                '[ "$(rc_of "$who-removed")" = 125 ] && [ ! -s "$o/$who-removed.out" ] &&
                 grep -q "SELinux module is not loaded; moat policy install loads" "$o/$who-removed.err"' ||
                show "$who-removed"
done
[ -s "$o/avc.txt" ] && diag "AVC denials (last 20): $(cat "$o/avc.txt")"
diag "seconds (boot and guest work): $((secs / 1000))"
tap_end
