#!/bin/bash
# The system tier in command mode against bubblewrap, in one run, alternating (A B C A B C ...):
# `moat run -p <command-mode profile> -- /bin/true` on the busybox test image vs
# `bwrap ... /bin/true`, as the calling user (root: range map, else single-uid map), and boot
# mode to a finished command (busybox init as pid 1, /bin/true attached).
# Prints median, min and max wall ms and the ratio (targets: <= 2x bwrap unprivileged, <= 3x
# as root). Never fails on time; exits non-zero only when a run does not work at all.
#   MOAT_BUILD_DIR (build), MOAT_DATA_DIR (source tree), MOAT_BENCH_RUNS (30)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${MOAT_BUILD_DIR:-$src/build}
moat=$build/moat
runs=${MOAT_BENCH_RUNS:-30}
export MOAT_DATA_DIR=${MOAT_DATA_DIR:-$src}
[ -x "$build/moat-system-run" ] || { echo "system.sh: moat-system-run is not built" >&2; exit 1; }
command -v bwrap >/dev/null || { echo "system.sh: bwrap is not installed" >&2; exit 1; }
t=$(mktemp -d)
chmod 0755 "$t" # container root (another host uid for root's range map) must reach the image
trap 'chmod -R u+rwX "$t"; rm -rf "$t"' EXIT
export MOAT_IMAGE_DIR=$t/store MOAT_AUDIT_LOG=$t/audit.jsonl
"$src/tests/helpers/make-busybox-image.sh" "$t/bb.tar"
"$moat" image import -q bb "$t/bb.tar" >/dev/null
# boot mode: the same image with /sbin/init (busybox init) and an inittab
mkdir "$t/bootimg" && tar -C "$t/bootimg" -xf "$t/bb.tar" && ln -sf /bin/busybox "$t/bootimg/sbin/init"
printf '::sysinit:/bin/true\n' >"$t/bootimg/etc/inittab"
tar --numeric-owner --owner=0 --group=0 -C "$t/bootimg" -cf "$t/boot.tar" .
"$moat" image import -q boot "$t/boot.tar" >/dev/null
printf 'moat: 1\nname: benchb\nisolation: system\nmax_tier: system\nfilesystem: {root: {image: boot}}\nos: {full_os: true, init: /sbin/init}\n' >"$t/b.yaml"
"$moat" run -q -p "$t/b.yaml" -- /bin/true
printf 'moat: 1\nname: bench\nisolation: system\nmax_tier: system\nfilesystem: {root: {image: bb}}\nos: {full_os: true, init: none}\n' >"$t/p.yaml"
"$moat" run -q -p "$t/p.yaml" -- /bin/true # the first run of root makes the shifted copy
bw=(bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/bin /bin
        --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev /bin/true)
ms() { local a b; a=$(date +%s%N); "$@" >/dev/null 2>&1 || return 1; b=$(date +%s%N); echo $(((b - a) / 1000)); }
A=() B=() C=()
for _ in $(seq "$runs"); do
        A+=("$(ms "$moat" run -q -p "$t/p.yaml" -- /bin/true)") || { echo "system.sh: moat run failed" >&2; exit 1; }
        B+=("$(ms "${bw[@]}")") || { echo "system.sh: bwrap failed" >&2; exit 1; }
        C+=("$(ms "$moat" run -q -p "$t/b.yaml" -- /bin/true)") || { echo "system.sh: boot-mode run failed" >&2; exit 1; }
done
stats() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "%.1f %.1f %.1f", v[int((NR+1)/2)]/1000, v[1]/1000, v[NR]/1000}'; }
read -r am amin amax <<<"$(stats "${A[@]}")"
read -r bm bmin bmax <<<"$(stats "${B[@]}")"
echo "system tier, command mode, /bin/true, as $(id -un), n=$runs alternating"
printf '  moat system  median %6.1f ms  (min %.1f, max %.1f)\n' "$am" "$amin" "$amax"
printf '  bwrap        median %6.1f ms  (min %.1f, max %.1f)\n' "$bm" "$bmin" "$bmax"
awk -v a="$am" -v b="$bm" -v r="$(id -u)" 'BEGIN {printf "  ratio %.1fx (target <= %dx)\n", a / b, r == 0 ? 3 : 2}'
read -r cm cmin cmax <<<"$(stats "${C[@]}")"
printf '  boot mode (busybox init), start to finished command  median %6.1f ms  (min %.1f, max %.1f; target <= 300 ms)\n' \
        "$cm" "$cmin" "$cmax"
echo "  systemd boot mode and idle-container memory: not measured here yet (systemd reported READY=1 at ~150-165 ms in the audit records of tests/integration/system/systemd.sh)"
