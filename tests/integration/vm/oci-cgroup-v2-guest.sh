#!/bin/bash
# Runs inside a vm-tier guest as guest root (driven by oci-cgroup-v2.sh): `moat oci` on a pure
# cgroup v2 hierarchy, which the host's hybrid layout does not have. A container is created
# from the captured ctr-run spec with linux.cgroupsPath and linux.resources (memory, pids, cpu);
# its cgroup's files, the workload's /proc/PID/cgroup, `update --resources -`, `state`, `ps`,
# pause/resume (cgroup.freeze), the statistics files the shim reads and `delete` are checked.
# Prints "PASS name", "FAIL name" and "DIAG text" lines for the host side.
#   oci-cgroup-v2-guest.sh MOAT PROFILE-NAME SPEC
set -u
moat=$1 profile=$2 spec=$3
CG=/sys/fs/cgroup
CGP=/moat-oci-v2/c1 # linux.cgroupsPath
C=$CG$CGP

source "$(dirname "$0")/guest-lib.sh"

mount -t cgroup2 cgroup2 "$CG" || { fail "mount cgroup2"; echo DONE; exit 0; }
# Nothing is enabled anywhere: moat oci enables what the limits need on the way down to
# cgroupsPath, as runc does.
diag "guest kernel $(uname -r); controllers $(cat $CG/cgroup.controllers); root subtree_control [$(tr -d '\n' <$CG/cgroup.subtree_control)]"

export HOME=/tmp/home MOAT_AUDIT_LOG=/tmp/audit.jsonl
mkdir -p /tmp/home /tmp/oci
ln -s "$moat" "/tmp/oci/$profile"
rt() { timeout 120 "/tmp/oci/$profile" --root /tmp/run --log /tmp/log.json --log-format json "$@"; }
last_log() { tail -1 /tmp/log.json 2>/dev/null; }
gone() { [ ! -e "/proc/$1" ] || grep -q "^State:.*Z" "/proc/$1/status" 2>/dev/null; }
pids_sorted() { printf "%s\n" "$@" | sort -n | tr "\n" " "; }

B=/tmp/bundle
mkdir -p "$B/rootfs"/{bin,proc,dev,sys,tmp,run,etc}
cp "$(command -v busybox)" "$B/rootfs/bin/busybox"
for x in sh sleep cat; do ln -s busybox "$B/rootfs/bin/$x"; done
python3 - "$spec" "$B/config.json" "$CGP" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["process"]["args"] = ["/bin/sleep", "600"]
d["process"]["terminal"] = False
d["linux"]["cgroupsPath"] = sys.argv[3]
d["linux"]["resources"] = {
    "devices": d["linux"].get("resources", {}).get("devices", [{"allow": False, "access": "rwm"}]),
    "memory": {"limit": 64 << 20},
    "pids": {"limit": 32},
    "cpu": {"quota": 50000, "period": 100000, "shares": 512},
}
json.dump(d, open(sys.argv[2], "w"))
PY

rt create --bundle "$B" --pid-file "$B/pid" c1 </dev/null >/tmp/create.out 2>&1
st=$?
check "create with cgroupsPath and linux.resources exits 0" [ $st = 0 ]
[ $st = 0 ] || diag "create: $(last_log) $(head -c 300 /tmp/create.out)"
pid=$(cat "$B/pid" 2>/dev/null)
check "the container's cgroup is at cgroupsPath" [ -d "$C" ]
check "memory.max 64 MiB (linux.resources.memory.limit)" [ "$(cat $C/memory.max 2>/dev/null)" = 67108864 ]
check "memory.swap.max 0" [ "$(cat $C/memory.swap.max 2>/dev/null)" = 0 ]
check "pids.max 32 (linux.resources.pids.limit)" [ "$(cat $C/pids.max 2>/dev/null)" = 32 ]
check "cpu.max 50 ms per 100 ms (linux.resources.cpu quota/period)" [ "$(cat $C/cpu.max 2>/dev/null)" = "50000 100000" ]
check "cpu.weight 20 (cpu.shares 512, converted as runc and crun do)" [ "$(cat $C/cpu.weight 2>/dev/null)" = 20 ]
check_all "the pid-file process (moat's init) is in it: /proc/PID/cgroup is 0::$CGP" \
        '[ -n "$pid" ] && [ "$(cat /proc/$pid/cgroup)" = "0::$CGP" ]'
diag "parent subtree_control [$(tr -d '\n' <$CG/moat-oci-v2/cgroup.subtree_control 2>/dev/null)] /proc/$pid/cgroup [$(cat /proc/$pid/cgroup 2>/dev/null)]"

rt start c1 </dev/null
check "start exits 0" [ $? = 0 ]
wl=""
wait_for 20 sh -c 'pgrep -P "$0" sleep >/dev/null' "$pid" && wl=$(pgrep -P "$pid" sleep | head -1)
check_all "the workload is in the container's cgroup: /proc/PID/cgroup is 0::$CGP" \
        '[ -n "$wl" ] && [ "$(cat /proc/$wl/cgroup)" = "0::$CGP" ]'
check_all "cgroup.procs holds the init and the workload, nothing else" \
        '[ "$(pids_sorted $(cat $C/cgroup.procs))" = "$(pids_sorted $pid $wl)" ]'
state=$(rt state c1)
check_all "state: running, with the init's pid" \
        '[ "$(jq -r .status <<<"$state")" = running ] && [ "$(jq -r .pid <<<"$state")" = "$pid" ]'
ps=$(rt ps --format json c1)
check_all "ps --format json: the init and the workload (read from cgroupsPath)" \
        '[ "$(pids_sorted $(jq -r ".[]" <<<"$ps"))" = "$(pids_sorted $pid $wl)" ]' ||
        diag "ps: $ps"
# what the shim's cgroup v2 metrics read at cgroupsPath
check_all "statistics at cgroupsPath: pids.current 2, memory.current and cpu.stat readable" \
        '[ "$(cat $C/pids.current)" = 2 ] && [ "$(cat $C/memory.current)" -gt 0 ] && grep -q "^usage_usec " $C/cpu.stat'

echo '{"memory":{"limit":33554432},"pids":{"limit":16},"cpu":{"quota":25000,"period":100000,"shares":1024}}' |
        rt update --resources - c1
check "update --resources - exits 0" [ $? = 0 ]
check "update: memory.max 32 MiB" [ "$(cat $C/memory.max)" = 33554432 ]
check "update: pids.max 16" [ "$(cat $C/pids.max)" = 16 ]
check "update: cpu.max 25 ms per 100 ms" [ "$(cat $C/cpu.max)" = "25000 100000" ]
check "update: cpu.weight 39 (shares 1024)" [ "$(cat $C/cpu.weight)" = 39 ]
echo '{"memory":{"limit":1073741824}}' | rt update --resources - c1 2>/dev/null
st=$?
check_all "update above the profile's memory (128 MiB) is refused, memory.max unchanged" \
        '[ $st != 0 ] && [ "$(cat $C/memory.max)" = 33554432 ]'
diag "update refusal: $(last_log)"

rt pause c1
check_all "pause: cgroup.freeze 1, state paused" \
        '[ "$(cat $C/cgroup.freeze)" = 1 ] && [ "$(rt state c1 | jq -r .status)" = paused ]'
rt resume c1
check_all "resume: cgroup.freeze 0, state running" \
        '[ "$(cat $C/cgroup.freeze)" = 0 ] && [ "$(rt state c1 | jq -r .status)" = running ]'

rt kill c1 KILL
wait_for 20 gone "$pid"
rt delete c1
check "delete exits 0" [ $? = 0 ]
check "delete removed the container's cgroup" [ ! -e "$C" ]
check "delete removed the state" [ ! -e /tmp/run/c1 ]
diag "after delete: $CG/moat-oci-v2 has [$(find $CG/moat-oci-v2 -mindepth 1 -maxdepth 1 -type d 2>/dev/null | tr '\n' ' ')]"

# ---- the same under Debian's containerd, started here with its own paths (no CRI plugin):
# the shim finds the unified hierarchy and reads its statistics at cgroupsPath ----
if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
        diag "containerd or ctr missing: the containerd part is not run"
        echo DONE
        exit 0
fi
K=/tmp/ctrd
mkdir -p $K
cat >$K/config.toml <<CONF
version = 2
root = "$K/root"
state = "$K/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$K/c.sock"
[ttrpc]
  address = "$K/c.sock.ttrpc"
[debug]
  address = "$K/debug.sock"
CONF
containerd --config $K/config.toml >$K/log 2>&1 &
cpid=$!
ctr_() { timeout 120 ctr --address $K/c.sock "$@"; }
wait_for 60 ctr_ version >/dev/null 2>&1
if ! ctr_ version >/dev/null 2>&1; then
        fail "containerd starts in the guest: $(tail -3 $K/log | tr '\n' ' ')"
        echo DONE
        exit 0
fi
R=$B/rootfs
ctr_ run --rm --rootfs --runc-binary "/tmp/oci/$profile" --runc-root $K/runc --cgroup /moat-ctr/t-exit \
        "$R" t-exit /bin/sh -c 'exit 7' </dev/null >/dev/null 2>&1
check "ctr run: the workload's exit status (7)" [ $? = 7 ]
ctr_ run -d --rootfs --runc-binary "/tmp/oci/$profile" --runc-root $K/runc --cgroup /moat-ctr/t-m \
        --memory-limit 67108864 --cpus 0.5 "$R" t-m /bin/sleep 600 </dev/null >/dev/null 2>$K/run.err
check "ctr run -d with --memory-limit and --cpus" [ $? = 0 ]
[ -s $K/run.err ] && diag "ctr run: $(head -c 300 $K/run.err)"
tp=$(ctr_ task ls 2>/dev/null | awk '$1 == "t-m" { print $2 }')
check_all "ctr: the task's pid is in /moat-ctr/t-m" '[ -n "$tp" ] && [ "$(cat /proc/$tp/cgroup)" = "0::/moat-ctr/t-m" ]'
check "ctr: memory.max and cpu.max at cgroupsPath" \
        [ "$(cat $CG/moat-ctr/t-m/memory.max 2>/dev/null) $(cat $CG/moat-ctr/t-m/cpu.max 2>/dev/null)" = "67108864 50000 100000" ]
metrics=$(ctr_ task metrics t-m 2>&1)
check_all "ctr task metrics: the shim reads the memory limit and pids at cgroupsPath (cgroup v2)" \
        'grep -q 67108864 <<<"$metrics" && grep -qE "pids" <<<"$metrics"' || diag "metrics: $(tr '\n' ' ' <<<"$metrics" | head -c 600)"
ctr_ task kill -s TERM t-m >/dev/null 2>&1
wait_for 30 sh -c '! ctr --address '$K'/c.sock task ls -q 2>/dev/null | grep -qx t-m || ctr --address '$K'/c.sock task ls 2>/dev/null | grep -q "t-m.*STOPPED"'
ctr_ task rm -f t-m >/dev/null 2>&1
ctr_ c rm t-m >/dev/null 2>&1
check "ctr: the container's cgroup is gone after task rm" [ ! -e $CG/moat-ctr/t-m ]
kill $cpid 2>/dev/null
wait $cpid 2>/dev/null
echo DONE
