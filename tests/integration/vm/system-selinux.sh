#!/bin/bash
# The system tier's SELinux context enforced, proved in a vm-tier guest whose kernel has
# SELinux (this host's has none): one boot with `security=selinux selinux=1`, the policy built
# on the host as selinux.sh builds it (Debian's base and unconfined modules, selinux/moattest.cil
# and selinux/system-test.cil), moat's module installed in the guest with `moat policy install`.
# As unconfined_t in enforcing mode the real moat runs system-tier containers (liblxc, the
# busybox test image, its store and lxc's run directories on tmpfs labelled
# moat_sandbox_file_t) under `mac: {selinux: unconfined_u:unconfined_r:moat_sandbox_t:s0}`
# (system-selinux-guest.sh has the checks: the context inside and from outside, a denied write,
# the audit record, a context liblxc did not apply, permissive mode and a permissive domain
# refused from the host, the module removed refused naming `moat policy install`).
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
[ -x "$MOAT_BUILD_DIR/moat-system-run" ] || skip_all "moat-system-run is not built (needs -Dlxc=enabled)"
command -v jq >/dev/null || skip_all "jq is not installed"
S=/usr/share/selinux/default
[ -r $S/base.pp.bz2 ] && [ -r $S/unconfined.pp.bz2 ] && [ -d /etc/selinux/default/contexts ] ||
        skip_all "Debian's selinux-policy-default is not installed ($S)"
[ -x /usr/sbin/semodule ] && [ -x /usr/sbin/load_policy ] || skip_all "policycoreutils is not installed"
[ -e /usr/share/selinux/devel/Makefile ] || skip_all "selinux-policy-dev is not installed"
[ "$(id -u)" = 0 ] || skip_all "building the guest's policy store needs root here (semodule -p)"
MODS=$(dirname "$GUEST_KERNEL")/modules-extra
grep -qx overlay "$MODS/order" 2>/dev/null ||
        skip_all "no overlay in $MODS/order (run moat-guest-kernel as root)"

SRC=$MOAT_SOURCE_DIR
guest_setup system-selinux-guest.sh -b "$MODS:$MODS:ro"
"$SRC/tests/helpers/make-busybox-image.sh" "$d/work/bb.tar" ||
        skip_all "cannot make the busybox test image (busybox-static)"
chmod a+r "$d/work/bb.tar"

P=$d/work/polroot
mkdir -p "$P/etc/selinux/default" "$P/var/lib/selinux"
printf 'SELINUX=enforcing\nSELINUXTYPE=default\n' >"$P/etc/selinux/config"
cp /etc/selinux/semanage.conf "$P/etc/selinux/"
cp -r /etc/selinux/default/contexts "$P/etc/selinux/default/"
semodule -p "$P" -s default -X 100 -n -i $S/base.pp.bz2 -i $S/unconfined.pp.bz2 \
        -i "$SRC/tests/integration/vm/selinux/moattest.cil" >"$T/semodule.out" 2>&1
rc=$?
check_all "the guest's policy (Debian's base and unconfined modules) builds on the host" \
        '[ "$rc" = 0 ] && [ -s "$P/etc/selinux/default/policy/policy.33" ]' ||
        { diag "$(head -c 600 "$T/semodule.out")"; tap_end; exit 1; }
chmod -R a+rX "$P"

guest_boot "security=selinux selinux=1" 768 540000 \
        bash /t/guest.sh "$MOAT" /t/bb.tar "$MODS" /t/polroot "$SRC/tests/integration/vm/selinux"
diag "driver: rc=$rc in $secs ms; $(tr '\n' ' ' <"$T/guest.res") err='$(head -c 400 "$T/guest.err")'"
report_guest "$out" "system-tier SELinux" 14
tap_end
