#!/bin/bash
# Benchmark of the vm tier (prints figures, never fails on time):
#   moat run -p hostile -- /bin/true        cold boot through libvirt (MOAT_VM_START=cold), warm
#                                           session daemon
#   plain QEMU, same kernel, same initramfs, same devices, same guest init
#   cold daemon (capability cache present) and first run ever (no capability cache)
#   warm start (a clone of the template, launcher/vm/README.md "Warm start"): first use (the
#   template is captured), then the whole run and the time to the command, and the memory of
#   two concurrent clones
# n=5 after 1 warm-up (cold rows: n=3), median (min-max) wall seconds.
# Usage: tests/bench/vm.sh [BUILD_DIR]   (as root: runs as moatuser, with a private HOME)
set -u
BUILD=${1:-${MOAT_BUILD_DIR:-$(dirname "$0")/../../build}}
BUILD=$(cd "$BUILD" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MOAT=$BUILD/moat
INIT=$BUILD/launcher/vm/guest/moat-guest-init
KERNEL=${MOAT_GUEST_KERNEL:-/var/lib/moat/guest/vmlinux}
N=${N:-5}
[ -x "$MOAT" ] && [ -x "$INIT" ] && [ -r "$KERNEL" ] || { echo "need $MOAT, $INIT and $KERNEL"; exit 0; }

U=$(id -un)
if [ "$(id -u)" = 0 ]; then
        "$SRC/tests/helpers/setup-test-user.sh" >/dev/null
        U=moatuser
fi
T=$(mktemp -d /tmp/moat-vm-bench.XXXXXX)
chmod 755 "$T"
mkdir -p "$T/home" "$T/work"
[ "$(id -un)" != "$U" ] && chown -R "$U:" "$T"
cleanup() {
        kill_daemon
        rm -rf "$T"
}
trap cleanup EXIT

as_u() {
        local envv=(env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME="$T/home" LANG=C
                    XDG_CACHE_HOME="$T/home/.cache" XDG_CONFIG_HOME="$T/home/.config"
                    MOAT_DATA_DIR="$SRC" MOAT_GUEST_INIT="$INIT" MOAT_GUEST_KERNEL="$KERNEL"
                    MOAT_AUDIT_LOG="$T/audit.log" MOAT_VM_START="${MOAT_VM_START:-cold}")
        if [ "$(id -un)" = "$U" ]; then (cd "$T/work" && "${envv[@]}" "$@")
        else (cd "$T/work" && setpriv --reuid="$U" --regid="$U" --init-groups "${envv[@]}" "$@"); fi
}
now() { date +%s.%N; }
# stats LABEL TIMES...: median (min-max)
stats() {
        local label=$1
        shift
        printf '%s\n' "$@" | sort -n | awk -v l="$label" '{ a[NR] = $1 }
                END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2;
                      printf "%-58s %6.2f s  (%.2f-%.2f, n=%d)\n", l, m, a[1], a[NR], NR }'
}
kill_daemon() {
        local p pids=()
        for p in "$T"/home/.cache/libvirt/libvirtd.pid "$T"/home/.cache/libvirt/virtlogd.pid; do
                [ -r "$p" ] && pids+=("$(cat "$p")")
        done
        [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null
        for _ in $(seq 100); do
                kill -0 "${pids[@]}" 2>/dev/null || break
                sleep 0.1
        done
        sleep 0.5
}
moat_true() {
        local t0 t1
        t0=$(now)
        as_u "$MOAT" run -q -p hostile -- /bin/true </dev/null >/dev/null 2>"$T/err" ||
                { echo "# moat run failed: $(head -c 300 "$T/err")" >&2; }
        t1=$(now)
        echo "$t1 - $t0" | bc
}

echo "# vm tier benchmark: $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), $(uname -r) host," \
     "guest $(cat "$(dirname "$KERNEL")/release" 2>/dev/null), TCG"

# First run ever for this HOME: daemon spawned, no capability cache, initramfs built.
first=$(moat_true)
stats "moat run hostile /bin/true, first run ever (no caches)" "$first"
# Cold daemon, caches present.
cold=()
for _ in 1 2 3; do kill_daemon; cold+=("$(moat_true)"); done
stats "moat run hostile /bin/true, cold session daemon" "${cold[@]}"
# Warm.
moat_true >/dev/null
warm=()
for _ in $(seq "$N"); do warm+=("$(moat_true)"); done
stats "moat run hostile /bin/true, warm session daemon" "${warm[@]}"

# Warm start: the first run captures the template; then clones. moat records the time from
# the clone's QEMU spawn to the guest's "started" in vm-boot-ms.
export MOAT_VM_START=warm
first_warm=$(moat_true)
stats "moat run hostile /bin/true, warm start, first use (captures)" "$first_warm"
wt=()
wc=()
for _ in $(seq "$N"); do
        wt+=("$(moat_true)")
        wc+=("$(echo "$(cat "$T/home/.cache/moat/vm-boot-ms" 2>/dev/null || echo 0) / 1000" | bc -l)")
done
stats "moat run hostile /bin/true, warm start: whole run" "${wt[@]}"
stats "moat run hostile, warm start: QEMU spawn to command started" "${wc[@]}"
grep -q '"tier_detail":"[^"]*warm start' <(tail -n 1 "$T/audit.log") ||
        echo "# the last run was not a warm start: $(tail -n 1 "$T/audit.log" | grep -o '"tier_detail":"[^"]*"')"
# Memory of two concurrent clones while their commands run (smaps_rollup of each QEMU, MiB).
for _ in 1 2; do as_u "$MOAT" run -q -p hostile -- sleep 4 </dev/null >/dev/null 2>&1 & done
sleep 2.5
for q in $(pgrep -u "$(id -u "$U")" -f "mem-path=$T/home/"); do
        awk -v q="$q" '/^(Rss|Pss|Anonymous):/ { v[$1] = $2 / 1024 }
                END { printf "# concurrent warm clone, QEMU %s: Rss %.0f MiB, Pss %.0f MiB, anonymous %.0f MiB\n",
                      q, v["Rss:"], v["Pss:"], v["Anonymous:"] }' "/proc/$q/smaps_rollup"
done
wait
export MOAT_VM_START=cold

# Plain QEMU: the same kernel, initramfs and devices, the configuration fed through a pipe.
INITRD=$(ls -t "$T"/home/.cache/moat/vm/initramfs-*.cpio 2>/dev/null | head -1)
[ -r "$INITRD" ] || { echo "# no initramfs in the cache; plain QEMU skipped"; exit 0; }
rec() { printf '%s%d:%s\n' "$1" "${#2}" "$2"; }
config() {
        rec u "$(id -u "$U")"; rec g "$(id -g "$U")"; rec c /work; rec i "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
        rec m "9p s0 ro /usr"; rec m "9p s1 ro /etc"
        for l in bin sbin lib lib32 lib64 libx32; do
                [ -L /$l ] && rec m "link $(readlink /$l) /$l"
        done
        rec m "tmpfs 134217728 /tmp"; rec m "9p s2 ro /work"
        rec e PATH=/usr/bin:/bin; rec a /bin/true; printf 'z0:\n'; printf 'I0:\n'
}
plain() {
        local d=$T/plain t0 t1
        rm -rf "$d"; mkdir -p "$d"; mkfifo "$d/ctl.in" "$d/ctl.out"
        [ "$(id -un)" != "$U" ] && chown -R "$U:" "$d"
        t0=$(now)
        as_u bash -c '
                d=$1; shift
                qemu-system-x86_64 -accel tcg -cpu max -M pc -bios /usr/share/qemu/qboot.rom \
                        -m 512 -smp 1 -nodefaults -no-user-config -display none -no-reboot \
                        -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny \
                        -kernel "$1" -initrd "$2" \
                        -append "console=ttyS0 quiet panic=-1 tsc=reliable cryptomgr.notests" \
                        -serial file:$d/console \
                        -fsdev local,id=u,path=/usr,security_model=none,readonly=on,multidevs=forbid \
                        -device virtio-9p-pci,fsdev=u,mount_tag=s0 \
                        -fsdev local,id=e,path=/etc,security_model=none,readonly=on,multidevs=forbid \
                        -device virtio-9p-pci,fsdev=e,mount_tag=s1 \
                        -fsdev local,id=w,path=$3,security_model=none,readonly=on,multidevs=forbid \
                        -device virtio-9p-pci,fsdev=w,mount_tag=s2 \
                        -device virtio-serial-pci \
                        -chardev pipe,id=c,path=$d/ctl -device virtserialport,chardev=c,name=org.moat.ctl \
                        -chardev file,id=o,path=$d/out -device virtserialport,chardev=o,name=org.moat.stdout \
                        -chardev file,id=r,path=$d/err -device virtserialport,chardev=r,name=org.moat.stderr &
                q=$!
                cat "$d/ctl.out" >"$d/status" &
                c=$!
                cat "$4" >"$d/ctl.in"
                wait $q; kill $c 2>/dev/null' _ "$d" "$KERNEL" "$INITRD" "$T/work" "$T/config"
        t1=$(now)
        grep -q '^exit 0$' "$d/status" || echo "# plain QEMU run did not report exit 0: $(cat "$d/status" 2>/dev/null)" >&2
        echo "$t1 - $t0" | bc
}
config >"$T/config"
[ "$(id -un)" != "$U" ] && chown "$U:" "$T/config"
plain >/dev/null
pl=()
for _ in $(seq "$N"); do pl+=("$(plain)"); done
stats "plain QEMU (pc, same kernel/initramfs/devices) /bin/true" "${pl[@]}"
echo "# boot-to-command last measured by moat: $(cat "$T/home/.cache/moat/vm-boot-ms" 2>/dev/null) ms"
