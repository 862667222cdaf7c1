#!/bin/bash
# The system tier's boot mode with systemd on a host whose kernel gives user namespaces to the
# initial namespace's root only (Debian's kernel.unprivileged_userns_clone 0, a common
# hardening setting; this host's kernel has no such sysctl), proved in a vm-tier guest booted
# with Debian's kernel and `sysctl.kernel.unprivileged_userns_clone=0`, in which the real moat
# runs system-tier containers (liblxc, the busybox test image with an init named systemd) as
# guest root. systemd runs in a user namespace that the container's root makes (gate.c
# lock_mounts(): moat's mounts locked against systemd's services), which that setting forbids:
#   - moat refuses the run before it starts anything (125, naming the sysctl), and leaves no
#     run directory;
#   - with that refusal skipped (MOAT_SYSTEM_FAULT=userns) the container's pid 1 refuses in
#     turn (125, "system gate: userns"), and systemd is never exec'd: closed either way;
#   - command mode runs (liblxc's user namespace is made by the host's root);
#   - with the sysctl set to 1 in the same boot, both runs reach the image's init, which shows
#     the nested identity map: the refusals above were the kernel's rule, nothing else.
# system-userns-guest.sh has the checks.
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
[ -x "$MOAT_BUILD_DIR/moat-system-run" ] || skip_all "moat-system-run is not built (needs -Dlxc=enabled)"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"
MODS=$(dirname "$GUEST_KERNEL")/modules-extra
grep -qx overlay "$MODS/order" 2>/dev/null ||
        skip_all "no overlay in $MODS/order (run moat-guest-kernel as root)"

guest_setup system-userns-guest.sh -b "$MODS:$MODS:ro"
"$MOAT_SOURCE_DIR/tests/helpers/make-busybox-image.sh" "$d/work/bb.tar" ||
        skip_all "cannot make the busybox test image (busybox-static)"
chmod a+r "$d/work/bb.tar"
guest_boot "sysctl.kernel.unprivileged_userns_clone=0" 768 400000 bash /t/guest.sh "$MOAT" /t/bb.tar "$MODS"
diag "driver: rc=$rc in $secs ms; $(tr '\n' ' ' <"$T/guest.res") err='$(head -c 400 "$T/guest.err")'"
report_guest "$out" "system-tier user namespace" 9
tap_end
