#!/bin/bash
# The system tier in command mode against bubblewrap, in one run, alternating (A B C A B C ...):
# `moat run -p <command-mode profile> -- /bin/true` on the busybox test image vs
# `bwrap ... /bin/true`, as the calling user (root: range map, else single-uid map), and boot
# mode to a finished command (busybox init as pid 1, /bin/true attached).
# As root, with the Debian image with systemd (the CI cache of tests/integration/system, or
# built here with `moat image build --include systemd-sysv` when mmdebstrap is installed), also
# boot mode with systemd as pid 1 to a finished command (in the same alternation), and the
# memory of idle booted containers: N of them started one after another, each running `sleep`
# once systemd reported ready, left idle for 5 s; per container the PSS of its processes
# (systemd, journald, ...; the gate-turned-sleep left out) plus its liblxc monitor, and the
# payload memory cgroup's charge (cgroup v1).
# Prints median, min and max wall ms and the ratio (targets: <= 2x bwrap unprivileged, <= 3x
# as root; systemd boot to a finished command <= 300 ms; <= 10 MiB PSS per idle container).
# Never fails on time; exits non-zero only when a run does not work at all.
#   MOAT_BUILD_DIR (build), MOAT_DATA_DIR (source tree), MOAT_BENCH_RUNS (30),
#   MOAT_BENCH_SYSTEMD (1; 0: command and busybox boot mode only),
#   MOAT_BENCH_IDLE (10 idle systemd containers;
#   PSS shares the image's pages among them: fewer containers, more each), MOAT_SYSTEM_IMAGE_CACHE (/tmp/moat-system-images)
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
# systemd: root only, with the image
sd=
sdtar=${MOAT_SYSTEM_IMAGE_CACHE:-/tmp/moat-system-images}/debian-systemd.tar
if [ "$(id -u)" = 0 ] && [ "${MOAT_BENCH_SYSTEMD:-1}" != 0 ]; then
        if [ -s "$sdtar" ]; then
                "$moat" image import -q sd "$sdtar" >/dev/null && sd=1
        elif command -v mmdebstrap >/dev/null; then
                "$moat" image build -q sd --include systemd-sysv >/dev/null && sd=1
        fi
fi
if [ -n "$sd" ]; then
        printf 'moat: 1\nname: benchsd\nisolation: system\nmax_tier: system\nfilesystem: {root: {image: sd}}\nos: {full_os: true, init: /sbin/init}\nuid: 33\ngid: 33\n' >"$t/sd.yaml"
        "$moat" run -q -p "$t/sd.yaml" -- /bin/true # the shifted copy
fi
bw=(bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/bin /bin
        --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev /bin/true)
# ms ARRAY COMMAND...: COMMAND's wall time in us appended to ARRAY, read from bash's own clock
# ($EPOCHREALTIME) in this shell: no process of the timer's own around the command (a `date`
# before and after, in a command substitution, added some 8 ms of process starts to each side
# on the 2-vCPU VM, which pulled every ratio toward 1).
ms() {
        local -n out=$1
        shift
        local a=$EPOCHREALTIME b
        "$@" >/dev/null 2>&1 || return 1
        b=$EPOCHREALTIME
        out+=($((${b/./} - ${a/./})))
}
A=() B=() C=() D=() E=()
for _ in $(seq "$runs"); do
        ms A "$moat" run -q -p "$t/p.yaml" -- /bin/true || { echo "system.sh: moat run failed" >&2; exit 1; }
        ms B "${bw[@]}" || { echo "system.sh: bwrap failed" >&2; exit 1; }
        ms C "$moat" run -q -p "$t/b.yaml" -- /bin/true || { echo "system.sh: boot-mode run failed" >&2; exit 1; }
        if [ -n "$sd" ]; then
                # the command prints when it runs (the container shares the host's realtime clock)
                a=${EPOCHREALTIME/./}000
                c=$("$moat" run -q -p "$t/sd.yaml" -- date +%s%N) || { echo "system.sh: systemd run failed" >&2; exit 1; }
                b=${EPOCHREALTIME/./}000
                E+=($(((c - a) / 1000)))
                D+=($(((b - a) / 1000)))
        fi
done
stats() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {printf "%.1f %.1f %.1f", v[int((NR+1)/2)]/1000, v[1]/1000, v[NR]/1000}'; }
read -r am amin amax <<<"$(stats "${A[@]}")"
read -r bm bmin bmax <<<"$(stats "${B[@]}")"
echo "system tier, command mode, /bin/true, as $(id -un), n=$runs alternating"
printf '  moat system  median %6.1f ms  (min %.1f, max %.1f)\n' "$am" "$amin" "$amax"
printf '  bwrap        median %6.1f ms  (min %.1f, max %.1f)\n' "$bm" "$bmin" "$bmax"
awk -v a="$am" -v b="$bm" -v r="$(id -u)" 'BEGIN {printf "  ratio %.2fx (target <= %dx)\n", a / b, r == 0 ? 3 : 2}'
read -r cm cmin cmax <<<"$(stats "${C[@]}")"
printf '  boot mode (busybox init), start to finished command  median %6.1f ms  (min %.1f, max %.1f; target <= 300 ms)\n' \
        "$cm" "$cmin" "$cmax"
if [ -z "$sd" ]; then
        echo "  systemd: not measured (needs root and the Debian image with systemd, or mmdebstrap; MOAT_BENCH_SYSTEMD=0 skips it)"
        exit 0
fi
read -r em emin emax <<<"$(stats "${E[@]}")"
printf '  boot mode (systemd), start to running command        median %6.1f ms  (min %.1f, max %.1f; target <= 300 ms)\n' \
        "$em" "$emin" "$emax"
read -r dm dmin dmax <<<"$(stats "${D[@]}")"
printf '  boot mode (systemd), start to halted container       median %6.1f ms  (min %.1f, max %.1f)\n' \
        "$dm" "$dmin" "$dmax"
ready=$(tail -n "$runs" "$MOAT_AUDIT_LOG" | grep -o 'systemd, ready at [0-9]* ms' | grep -o '[0-9]*' | sort -n |
        awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]}')
echo "  systemd READY=1 (moat's start to systemd's report), median ${ready:-?} ms"

# idle booted containers (processes come and go while /proc is walked: no -e here)
set +e
n=${MOAT_BENCH_IDLE:-10}
pids=()
for i in $(seq "$n"); do
        "$moat" run -q -p "$t/sd.yaml" -- sleep 600 &
        pids+=($!)
        for _ in $(seq 300); do [ "$(pgrep -xc -f "sleep 600")" -ge "$i" ] && break; sleep 0.05; done
done
sleep 5
pss() { awk '/^Pss:/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0; }
total=0 memcg=0 own=0 count=0
comm() { cat "/proc/$1/comm" 2>/dev/null; }
for mr in $(pgrep -f "moat run -q -p $t/sd.yaml"); do
        # moat itself (its guard is a fork of it, same cmdline; the runner and the attacher
        # exec moat-system-run)
        case "$(comm "$mr")" in moat) ;; *) continue ;; esac
        runner= init=
        for c in $(cat "/proc/$mr/task/$mr/children" 2>/dev/null); do
                for g in $(cat "/proc/$c/task/$c/children" 2>/dev/null); do
                        # the container's pid 1 (NSpid ends in 1) is the runner's child
                        [ "$(awk '/^NSpid:/ {print $NF}' "/proc/$g/status" 2>/dev/null)" = 1 ] && runner=$c init=$g
                done
        done
        [ -n "$init" ] || continue
        ns=$(readlink "/proc/$init/ns/pid")
        kb=$(pss "$runner")
        for p in /proc/[0-9]*; do
                [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$ns" ] || continue
                [ "$(comm "${p#/proc/}")" = sleep ] && continue
                kb=$((kb + $(pss "${p#/proc/}")))
        done
        total=$((total + kb))
        # moat's own per-run processes: moat itself, its guard and the attacher
        for c in "$mr" $(cat "/proc/$mr/task/$mr/children" 2>/dev/null); do
                [ "$c" = "$runner" ] || own=$((own + $(pss "$c")))
        done
        cg=$(awk -F: '$2 ~ /(^|,)memory(,|$)/ {print $3}' "/proc/$init/cgroup")
        cg=${cg%%/payload/*}/payload # the container's whole cgroup, not systemd's init.scope
        f=/sys/fs/cgroup/memory$cg/memory.usage_in_bytes
        [ -r "$f" ] && memcg=$((memcg + $(cat "$f")))
        count=$((count + 1))
done
kill -TERM "${pids[@]}" 2>/dev/null
wait "${pids[@]}" 2>/dev/null
if [ "$count" -gt 0 ]; then
        awk -v k="$total" -v m="$memcg" -v o="$own" -v c="$count" 'BEGIN {
                printf "  idle systemd container (n=%d): PSS %.1f MiB each, its processes and liblxc monitor (target <= 10 MiB)", c, k / c / 1024
                if (m > 0) printf ", memory cgroup %.1f MiB each", m / c / 1048576
                printf "; moat, its guard and attacher %.1f MiB more", o / c / 1024
                printf "\n" }'
else
        echo "system.sh: no idle systemd container was found" >&2
        exit 1
fi
