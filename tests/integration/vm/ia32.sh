#!/bin/bash
# The i386 ABI (int 0x80 from 64-bit code) under moat's seccomp filter, tested where a kernel
# accepts int 0x80: in a vm-tier guest. This host's kernel has IA32 emulation built in but off
# at run time, so the unit tests' i386 probes skip here. One guest, as guest root, runs the
# build's own i386 seccomp unit tests (which must run, not skip) and the real moat with an i386
# keyctl (ia32-guest.sh has the checks; this script boots the guest and reports them).
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
SECCOMP_TEST=$MOAT_BUILD_DIR/tests/unit/sys/test-sys-seccomp
PROBE=$MOAT_BUILD_DIR/tests/helpers/moat-probe
[ -x "$SECCOMP_TEST" ] && [ -x "$PROBE" ] || skip_all "test-sys-seccomp or moat-probe not built"
command -v jq >/dev/null || skip_all "jq is not installed"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"

# Debian's 6.1 guest kernel accepts int 0x80 by default and has no ia32_emulation= parameter
# (6.7 added it, with CONFIG_IA32_EMULATION_DEFAULT_DISABLED); a guest kernel built that way
# gets it turned on.
kargs=()
config=$(dirname "$GUEST_KERNEL")/config
if [ -r "$config" ] && grep -qx CONFIG_IA32_EMULATION_DEFAULT_DISABLED=y "$config"; then
        kargs=(-K ia32_emulation=on)
fi

u=${USERS[-1]}
d=$(user_dir "$u")
cp "$(dirname "$0")/ia32-guest.sh" "$d/work/guest.sh"
cp "$(dirname "$0")/guest-lib.sh" "$d/work/guest-lib.sh"
chmod a+r "$d/work/guest.sh" "$d/work/guest-lib.sh"

# The build tree and the data, read-only at the same paths in the guest.
binds=(-b "$MOAT_SOURCE_DIR:$MOAT_SOURCE_DIR:ro")
for dir in "$MOAT_BUILD_DIR" "$MOAT_DATA_DIR"; do
        case "$dir/" in "$MOAT_SOURCE_DIR"/*) ;; *) binds+=(-b "$dir:$dir:ro") ;; esac
done
start=$(date +%s%N)
out=$(as_user "$u" "$DRIVER" -r -m 512 -t 180000 "${kargs[@]}" "${binds[@]}" -w /t -- \
        env MOAT_DATA_DIR="$MOAT_DATA_DIR" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        bash /t/guest.sh "$SECCOMP_TEST" "$MOAT" "$PROBE" \
        </dev/null 2>"$T/guest.err" 3>"$T/guest.res")
rc=$?
diag "driver: rc=$rc in $((($(date +%s%N) - start) / 1000000)) ms $(tr '\n' ' ' <"$T/guest.res")" \
        "err='$(head -c 400 "$T/guest.err")'"
report_guest "$out" "i386" 10
tap_end
