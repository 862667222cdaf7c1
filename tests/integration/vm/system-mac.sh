#!/bin/bash
# The system tier's MAC label enforced, proved in a vm-tier guest whose kernel has AppArmor
# (this host's has none): one boot with `apparmor=1 security=apparmor`, in which the real moat
# runs system-tier containers (liblxc, the busybox test image) as guest root and as moatuser
# under moat's shipped profile moat-container (system-mac-guest.sh has the checks: the label
# in enforce mode on the container's processes, a denied write, the audit record, complain
# mode and an unapplied label refused from the host, the unloaded profile refused).
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
[ -x "$MOAT_BUILD_DIR/moat-system-run" ] || skip_all "moat-system-run is not built (needs -Dlxc=enabled)"
[ -x /usr/sbin/apparmor_parser ] || skip_all "apparmor_parser is not installed on the host"
[ -r /etc/apparmor.d/abstractions/lxc/container-base ] ||
        skip_all "lxc's AppArmor abstractions are not installed (package lxc): moat-container needs them"
command -v jq >/dev/null || skip_all "jq is not installed"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"
# liblxc's rootfs is an overlay: the guest loads overlayfs from moat-guest-kernel's extras
MODS=$(dirname "$GUEST_KERNEL")/modules-extra
grep -qx overlay "$MODS/order" 2>/dev/null ||
        skip_all "no overlay in $MODS/order (run moat-guest-kernel as root)"

guest_setup system-mac-guest.sh -b "$MODS:$MODS:ro"
"$MOAT_SOURCE_DIR/tests/helpers/make-busybox-image.sh" "$d/work/bb.tar" ||
        skip_all "cannot make the busybox test image (busybox-static)"
chmod a+r "$d/work/bb.tar"
guest_boot "apparmor=1 security=apparmor" 768 400000 bash /t/guest.sh "$MOAT" /t/bb.tar moatuser "$MODS"
diag "driver: rc=$rc in $secs ms; $(tr '\n' ' ' <"$T/guest.res") err='$(head -c 400 "$T/guest.err")'"
report_guest "$out" "system-tier AppArmor" 28
tap_end
