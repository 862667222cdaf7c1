#!/bin/bash
# resources.disk in the vm tier: a project quota on the read-write shares that QEMU writes as
# moat-vm, tested where one can be set: in a vm-tier guest whose Debian kernel has ext4's quota
# format (this host's kernel has none). The guest, as guest root, runs the real moat there as
# root, whose vm tier starts a nested QEMU through libvirt (vm-quota-guest.sh has the checks and
# says what a nested guest can and cannot show; this script boots the outer guest and reports).
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
# In the guest, moat runs as guest root and its vm tier's QEMU as moat-vm (from the host's /etc)
id moat-vm >/dev/null 2>&1 || skip_all "the moat-vm account is missing (moat-guest-kernel creates it)"
MODS=$(dirname "$GUEST_KERNEL")/modules-extra
[ -s "$MODS/order" ] || skip_all "no $MODS/order (run moat-guest-kernel as root)"

# moat, its data, the modules and the guest kernel (for the nested QEMU), read-only at the same
# paths in the guest
KDIR=$(dirname "$GUEST_KERNEL")
guest_setup vm-quota-guest.sh -b "$KDIR:$KDIR:ro"
guest_boot "" 1536 1500000 env MOAT_GUEST_INIT="$GUEST_INIT" MOAT_GUEST_KERNEL="$GUEST_KERNEL" \
        bash /t/guest.sh "$MOAT" "$MODS"
diag "driver: rc=$rc in ${secs} ms; $(tr '\n' ' ' <"$T/guest.res") err='$(head -c 400 "$T/guest.err")'"
report_guest "$out" "vm-tier project quota" 20
tap_end
