#!/bin/bash
# resources.disk as a project quota, tested where one can be set: in a vm-tier guest whose
# Debian kernel has ext4's quota format (this host's kernel has none: CONFIG_QFMT_V2 is off, so
# ext4 with project quotas does not even mount here). The guest, as guest root, loads ext4 and
# quota_v2 (moat-guest-kernel keeps them in modules-extra/), makes an ext4 file system with
# project quotas on a loop device and runs the real moat there as root and as moatuser
# (disk-quota-guest.sh has the checks; this script boots the guest and reports them).
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"
MODS=$(dirname "$GUEST_KERNEL")/modules-extra
[ -s "$MODS/order" ] || skip_all "no $MODS/order (run moat-guest-kernel as root)"

u=${USERS[-1]}
d=$(user_dir "$u")
chown "$(qemu_uid "$u")" "$d/work"
cp "$(dirname "$0")/disk-quota-guest.sh" "$d/work/guest.sh"
cp "$(dirname "$0")/guest-lib.sh" "$d/work/guest-lib.sh"
chmod a+r "$d/work/guest.sh" "$d/work/guest-lib.sh"

# The moat binary, its data and the modules, read-only at the same paths in the guest.
binds=(-b "$MOAT_SOURCE_DIR:$MOAT_SOURCE_DIR:ro" -b "$MODS:$MODS:ro")
for dir in "$MOAT_BUILD_DIR" "$MOAT_DATA_DIR"; do
        case "$dir/" in "$MOAT_SOURCE_DIR"/*) ;; *) binds+=(-b "$dir:$dir:ro") ;; esac
done
out=$(as_user "$u" "$DRIVER" -r -m 768 -t 400000 "${binds[@]}" -w /t -- \
        env MOAT_DATA_DIR="$MOAT_DATA_DIR" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        bash /t/guest.sh "$MOAT" "$MODS" moatuser </dev/null 2>"$T/guest.err" 3>"$T/guest.res")
rc=$?
diag "driver: rc=$rc $(tr '\n' ' ' <"$T/guest.res") err='$(head -c 400 "$T/guest.err")'"
report_guest "$out" "project quota" 25
tap_end
