#!/bin/bash
# SPDX-License-Identifier: MIT
# network: outbound (proxy mode), in a test bed of two network namespaces this script makes and
# removes (root): a sender of zeros over HTTP on 198.51.100.10:80 in "inet", moat in "host".
#   1. launch: `moat run -p network-client -- /bin/true` vs the same profile with network: none
#      (median and p90 wall ms, the difference; target: the proxy adds <= 2 ms);
#   2. download throughput of MOAT_BENCH_BYTES (1 GiB) with curl: through the proxy from inside
#      the sandbox (absolute-form GET and CONNECT) vs curl on the veth without moat;
#   3. memory of the proxy process (PSS, RSS) while idle, from /proc/PID/smaps_rollup.
# Prints figures; never fails on time (exit 1 only if a tool is missing or the bed fails).
#
#   bash tests/bench/network.sh      MOAT=path/to/moat  MOAT_BENCH_RUNS=50
#   MOAT_BENCH_LAUNCH_ONLY=1: part 1 only.
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MOAT=${MOAT:-$src/build/moat}
runs=${MOAT_BENCH_RUNS:-50}
bytes=${MOAT_BENCH_BYTES:-1073741824}
[ "$(id -u)" -eq 0 ] || { echo "network bench: needs root (network namespaces)" >&2; exit 1; }
for tool in ip curl python3 unshare; do
        command -v $tool >/dev/null || { echo "network bench: $tool is not installed" >&2; exit 1; }
done
[ -x "$MOAT" ] || { echo "network bench: no moat binary at $MOAT" >&2; exit 1; }
tmp=$(mktemp -d)
chmod 0755 "$tmp"
NI=moat-bench-inet-$$ NH=moat-bench-host-$$
srv=
cleanup() {
        [ -n "$srv" ] && kill "$srv" 2>/dev/null
        ip netns del "$NI" 2>/dev/null
        ip netns del "$NH" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
export MOAT_DATA_DIR=${MOAT_DATA_DIR:-$src} HOME=$tmp MOAT_AUDIT_LOG=$tmp/audit.jsonl
ip netns add "$NI" && ip netns add "$NH" &&
        ip link add bi0 netns "$NI" type veth peer name bh0 netns "$NH" &&
        ip -n "$NI" addr add 198.51.100.10/24 dev bi0 && ip -n "$NH" addr add 198.51.100.2/24 dev bh0 &&
        ip -n "$NI" link set bi0 up && ip -n "$NI" link set lo up &&
        ip -n "$NH" link set bh0 up && ip -n "$NH" link set lo up || { echo "bed failed" >&2; exit 1; }
cat >"$tmp/zeros.py" <<'PY'
import socket, sys, threading
n = int(sys.argv[1])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("198.51.100.10", 80)); s.listen(16)
buf = bytes(1 << 20)
def serve(c):
    c.recv(65536)
    c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
    left = n
    while left > 0:
        k = c.send(buf[:min(left, len(buf))]); left -= k
    c.close()
print("ready", flush=True)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
ip netns exec "$NI" python3 "$tmp/zeros.py" "$bytes" >"$tmp/srv.out" &
srv=$!
for _ in $(seq 50); do grep -q ready "$tmp/srv.out" && break; sleep 0.1; done
echo "nameserver 198.51.100.10" >"$tmp/resolv.conf"
printf 'moat: 1\nextends: network-client\nname: bench-net\nnetwork: {outbound: {allow: ["198.51.100.10/32:80,443"]}}\n' >"$tmp/net.yaml"
printf 'moat: 1\nextends: network-client\nname: bench-none\nnetwork: none\n' >"$tmp/none.yaml"
mkdir -p "$tmp/work"
inbed() {
        ip netns exec "$NH" unshare -m --propagation private sh -c \
                'mount --bind "$1" /etc/resolv.conf && shift && cd "$0" && exec "$@"' "$tmp/work" \
                "$tmp/resolv.conf" "$@"
}
export -f inbed 2>/dev/null
stats() { sort -n | awk '{a[NR]=$1} END {printf "median %.2f ms  p90 %.2f ms", a[int((NR+1)/2)], a[int(NR*0.9)]}'; }
launch() {
        local p=$1
        for _ in $(seq "$runs"); do
                local t0 t1
                t0=$(date +%s%N)
                inbed "$MOAT" run -p "$p" -- /bin/true >/dev/null 2>&1
                t1=$(date +%s%N)
                echo $(((t1 - t0) / 1000)) | awk '{print $1/1000}'
        done
}
echo "== 1. launch of /bin/true, n=$runs alternating"
: >"$tmp/l-net"; : >"$tmp/l-none"
for _ in $(seq "$runs"); do
        runs=1 launch "$tmp/net.yaml" >>"$tmp/l-net"
        runs=1 launch "$tmp/none.yaml" >>"$tmp/l-none"
done
echo "network: outbound  $(stats <"$tmp/l-net")"
echo "network: none      $(stats <"$tmp/l-none")"
mn=$(sort -n "$tmp/l-net" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
mo=$(sort -n "$tmp/l-none" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
awk -v a="$mn" -v b="$mo" 'BEGIN {printf "proxy setup adds %.2f ms (difference of the medians; target <= 2 ms)\n", a-b}'
# The machine is shared: each pair ran back to back, so the median of the per-pair differences
# is less exposed to load that changes over the run than the difference of the medians.
paste "$tmp/l-net" "$tmp/l-none" | awk '{print $1-$2}' | sort -n |
        awk '{a[NR]=$1} END {printf "per-pair difference: median %.2f ms  p25 %.2f  p75 %.2f ms (n=%d)\n", a[int((NR+1)/2)], a[int(NR*0.25)+1], a[int(NR*0.75)], NR}'
[ "${MOAT_BENCH_LAUNCH_ONLY:-0}" = 1 ] && exit 0

echo "== 2. download of $bytes bytes (Gbit/s)"
rate() { awk -v s="$1" 'BEGIN {printf "%.2f", s*8/1e9}'; }
for i in 1 2 3; do
        v=$(ip netns exec "$NH" curl -s -o /dev/null -w '%{speed_download}' http://198.51.100.10/)
        p=$(inbed "$MOAT" run -p "$tmp/net.yaml" -- curl -s -o /dev/null -w '%{speed_download}' http://198.51.100.10/ 2>/dev/null)
        c=$(inbed "$MOAT" run -p "$tmp/net.yaml" -- curl -s -o /dev/null -p -w '%{speed_download}' http://198.51.100.10/ 2>/dev/null)
        echo "run $i: veth $(rate "$v")  proxy GET $(rate "${p:-0}")  proxy CONNECT $(rate "${c:-0}")"
done

echo "== 3. memory of one idle proxy"
inbed "$MOAT" run -p "$tmp/net.yaml" -- sleep 3 >/dev/null 2>&1 &
sleep 1.5
for m in $(pgrep -x moat); do
        for k in $(pgrep -P "$m"); do
                if grep -q '^Seccomp:\s*2' /proc/$k/status && [ -z "$(pgrep -P "$k")" ] &&
                        grep -q "$tmp/net.yaml" /proc/$k/cmdline 2>/dev/null; then
                        awk '/^Rss|^Pss:/ {printf "%s %d KiB  ", $1, $2} END {print ""}' /proc/$k/smaps_rollup
                fi
        done
done
wait
