#!/bin/bash
# SPDX-License-Identifier: MIT
# moat as an OCI runtime against runc under the same containerd: `ctr run --rm --rootfs R ID
# /bin/true`, pairs alternated (moat, runc) so both see the same load. Prints the median and
# min/max wall time of each and the moat/runc ratio (target <= 1.2). Root; starts its own
# containerd (own config, root, state and socket under a mktemp -d) and stops it. Never fails on
# time: exits non-zero only when a run does not work at all.
#   MOAT (default build/moat), MOAT_DATA_DIR (default: the source tree), MOAT_BENCH_RUNS (10)
set -uo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
MOAT=$(realpath "${MOAT:-$src/build/moat}")
export MOAT_DATA_DIR=${MOAT_DATA_DIR:-$src}
runs=${MOAT_BENCH_RUNS:-10}
for b in containerd ctr runc busybox; do
        command -v $b >/dev/null || { echo "oci.sh: needs $b"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "oci.sh: run as root"; exit 1; }

T=$(mktemp -d /tmp/moat-oci-bench-XXXXXX)
export MOAT_AUDIT_LOG=$T/audit.jsonl
cleanup() {
        [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
        grep -o " $T[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m"; done
        for d in /sys/fs/cgroup/*/moat-oci-bench-$$ /sys/fs/cgroup/moat-oci-bench-$$; do
                [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
        rm -rf "$T"
}
trap cleanup EXIT
R=$T/rootfs
mkdir -p "$R"/{bin,proc,dev,sys,tmp,run,etc}
cp "$(command -v busybox)" "$R/bin/busybox"
ln -s busybox "$R/bin/true"
mkdir "$T/oci" && ln -s "$MOAT" "$T/oci/ci-untrusted"
cat >"$T/config.toml" <<CONF
version = 2
root = "$T/root"
state = "$T/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$T/c.sock"
[ttrpc]
  address = "$T/c.sock.ttrpc"
[debug]
  address = "$T/debug.sock"
CONF
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do [ -S "$T/c.sock" ] && break; sleep 0.1; done

one() { # RUNTIME-BINARY ID -> wall ms
        local t0 t1
        t0=$(date +%s%N)
        ctr --address "$T/c.sock" run --rm --rootfs --runc-binary "$1" --runc-root "$T/r-$(basename "$1")" \
                --cgroup "/moat-oci-bench-$$/$2" "$R" "$2" /bin/true >/dev/null 2>&1 || return 1
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000000))
}
m=() r=()
one "$T/oci/ci-untrusted" warm-m >/dev/null || { echo "oci.sh: moat run failed"; tail -3 "$T/containerd.log"; exit 1; }
one "$(command -v runc)" warm-r >/dev/null || { echo "oci.sh: runc run failed"; exit 1; }
for i in $(seq "$runs"); do
        m+=("$(one "$T/oci/ci-untrusted" m$i)") || exit 1
        r+=("$(one "$(command -v runc)" r$i)") || exit 1
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "%d %d %d", a[int((NR+1)/2)], a[1], a[NR]}'; }
read -r mm mmin mmax <<<"$(stats "${m[@]}")"
read -r rm rmin rmax <<<"$(stats "${r[@]}")"
echo "ctr run --rm /bin/true, $runs runs each, alternated"
printf "  moat (ci-untrusted): median %d ms (min %d, max %d)\n" "$mm" "$mmin" "$mmax"
printf "  runc:                median %d ms (min %d, max %d)\n" "$rm" "$rmin" "$rmax"
awk -v a="$mm" -v b="$rm" 'BEGIN {printf "  ratio moat/runc: %.2f (target <= 1.2)\n", a / b}'
