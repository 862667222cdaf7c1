#!/bin/bash
# SPDX-License-Identifier: MIT
# moat as an OCI runtime under a real containerd (#16): the test starts Debian's containerd with
# its own config, root, state and socket under a mktemp -d (no CRI plugin), runs a busybox-static
# rootfs with `ctr run --runc-binary H`, where H is a link named after the profile
# (ci-untrusted) to moat, and tears everything down. Root only (containerd's runtime runs as
# root); skipped when containerd, ctr or busybox-static is missing, a failure with
# MOAT_MUST_WORK=1. TAP output.
set -uo pipefail
: "${MOAT:?}" "${MOAT_SOURCE_DIR:?}" "${MOAT_PROBE:?}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tap.sh"

MOAT=$(realpath -- "$MOAT")
missing=""
[ "$(id -u)" = 0 ] || missing="root"
for b in containerd ctr; do command -v $b >/dev/null || missing="$missing $b"; done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q "statically linked" || missing="$missing busybox-static"
if [ -n "$missing" ]; then
        if [ "${MOAT_MUST_WORK:-0}" = 1 ]; then
                echo "not ok 1 - containerd tests need:$missing (MOAT_MUST_WORK=1)"
                echo "1..1"
                exit 1
        fi
        echo "1..0 # SKIP needs:$missing"
        exit 0
fi

T=$(mktemp -d /tmp/moat-oci-XXXXXX)
cpid=""
cleanup() {
        if [ -n "$cpid" ]; then
                for c in $(ctr_ task ls -q 2>/dev/null); do ctr_ task kill -s KILL "$c" >/dev/null 2>&1; done
                sleep 0.3
                for c in $(ctr_ c ls -q 2>/dev/null); do ctr_ task rm -f "$c" >/dev/null 2>&1; ctr_ c rm "$c" >/dev/null 2>&1; done
                kill "$cpid" 2>/dev/null
                wait "$cpid" 2>/dev/null
        fi
        # the shims' mounts under our state dir, then our cgroups
        grep -o " $T[^ ]*" /proc/self/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
        for d in /sys/fs/cgroup/*/moat-oci-test-$$ /sys/fs/cgroup/moat-oci-test-$$; do
                [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
        rm -rf "$T"
}
trap cleanup EXIT

# The rootfs: busybox-static, the probe, the directories the spec's mounts need.
R=$T/rootfs
mkdir -p "$R"/{bin,proc,dev,sys,tmp,run,etc,work}
cp "$busybox" "$R/bin/busybox"
for x in sh cat echo sleep true false grep ls id kill; do ln -s busybox "$R/bin/$x"; done
cp "$MOAT_PROBE" "$R/bin/moat-probe"
mkdir -p "$T/oci"
ln -s "$MOAT" "$T/oci/ci-untrusted"
H=$T/oci/ci-untrusted

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
# a profile for ctr run --net-host (section 6b), found through MOAT_PROFILE_PATH by the runtime
mkdir -p "$T/profiles"
printf '%s\n' "moat: 1" "name: ctr-host-network" "extends: pod-host-network" "filesystem:" "  bind:" \
        "    - {source: /etc/hosts, target: /etc/hosts, mode: ro}" \
        "    - {source: /etc/resolv.conf, target: /etc/resolv.conf, mode: ro}" >"$T/profiles/ctr-host-network.yaml"
ln -s "$MOAT" "$T/oci/ctr-host-network"
export MOAT_DATA_DIR=$MOAT_SOURCE_DIR MOAT_AUDIT_LOG=$T/audit.jsonl MOAT_PROFILE_PATH=$T/profiles
containerd --config "$T/config.toml" >"$T/containerd.log" 2>&1 &
cpid=$!
for _ in $(seq 100); do [ -S "$T/c.sock" ] && break; sleep 0.1; done
# every call bounded: a hang is a failure, not the whole suite's timeout
ctr_() { timeout 60 ctr --address "$T/c.sock" "$@"; }
if ! ctr_ version >/dev/null 2>&1; then
        echo "Bail out! containerd did not start: $(tail -5 "$T/containerd.log")"
        exit 1
fi
CG=/moat-oci-test-$$
run() { # run ID [ctr run options...] -- CMD...: foreground, --rm
        local id=$1
        shift
        local opts=()
        while [ "$1" != "--" ]; do opts+=("$1"); shift; done
        shift
        timeout 60 ctr --address "$T/c.sock" run --rm --rootfs --runc-binary "$H" --runc-root "$T/runc" --cgroup "$CG/$id" \
                "${opts[@]}" "$R" "$id" "$@"
}
host_ns() { readlink "/proc/self/ns/$1"; }
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1"; }

# 1. exit status
run t-exit -- /bin/sh -c 'exit 7' >/dev/null 2>&1
check_all "ctr run: the workload's exit status (7)" '[ $? = 7 ]'

# 2. confinement from inside, with the probe
out=$(run t-probe -- /bin/moat-probe 2>"$T/probe.err")
if [ -z "$out" ]; then tap_not_ok "probe ran" "$(cat "$T/probe.err")"; else
        check_all "inside: NoNewPrivs 1" '[ "$(jget "[\"no_new_privs\"]" <<<"$out")" = 1 ]'
        check_all "inside: Seccomp filter mode (2)" '[ "$(jget "[\"seccomp\"]" <<<"$out")" = 2 ]'
        check_all "inside: two seccomp filters (moat's and none from ctr: at least 1)" '[ "$(jget "[\"seccomp_filters\"]" <<<"$out")" -ge 1 ]'
        check_all "inside: CapEff empty (ci-untrusted lists none)" '[ "$(jget "[\"caps\"][\"CapEff\"]" <<<"$out")" = 0000000000000000 ]'
        check_all "inside: CapBnd empty" '[ "$(jget "[\"caps\"][\"CapBnd\"]" <<<"$out")" = 0000000000000000 ]'
        check_all "inside: Landlock restricts" '[ "$(jget "[\"landlock\"][\"restricted\"]" <<<"$out")" = True ]'
        for ns in user mnt pid net ipc uts cgroup; do
                check_all "inside: $ns namespace is not the host's" '[ "$(jget "[\"ns\"][\"'$ns'\"]" <<<"$out")" != "$(host_ns '$ns')" ]'
        done
        check_all "inside: only the image's environment" '! grep -q MOAT_DATA_DIR <<<"$out"'
fi

# 2b. a terminal for the container itself (create --console-socket)
if command -v script >/dev/null; then
        tty_out=$(timeout 60 script -qec "ctr --address $T/c.sock run --rm -t --rootfs --runc-binary $H --runc-root $T/runc --cgroup $CG/t-tty $R t-tty /bin/sh -c 'tty; exit 5'" /dev/null 2>&1 </dev/null)
        st=$?
        check_all "ctr run -t: a terminal inside, exit status 5 (got $st: $tty_out)" '[ $st = 5 ] && grep -q "/dev/pts/" <<<"$tty_out"'
else
        tap_skip "ctr run -t" "no script(1)" present
fi

# 3. no fd above 2 reaches the workload (containerd leaks some to runtimes)
# (the fds of a child of the shell: what the workload was given, without the glob's own; read
# once the child has exec'd sleep, since the shell points a background job's stdin at /dev/null
# between fork and exec)
fds=$(run t-fds -- /bin/sh -c 'sleep 5 & p=$!; until [ "$(cat /proc/$p/comm)" = sleep ]; do :; done
        cd /proc/$p/fd && echo *; kill $p' 2>&1)
check_all "inside: the workload's open fds are 0 1 2 only (got: $fds)" '[ "$fds" = "0 1 2" ]'

# 4. SIGTERM -> 143, task ps, metrics at cgroupsPath
run t-term --memory-limit 67108864 -- /bin/sleep 300 >/dev/null 2>&1 &
rp=$!
for _ in $(seq 100); do ctr_ task ls 2>/dev/null | grep -q "t-term.*RUNNING" && break; sleep 0.1; done
pids=$(ctr_ task ps t-term 2>&1)
check_all "task ps lists the container's processes" '[ "$(grep -cE "^[0-9]+" <<<"$pids")" -ge 2 ]'
metrics=$(ctr_ task metrics t-term 2>&1)
check_all "task metrics read at cgroupsPath: memory limit 64 MiB (the spec's, below the profile's)" 'grep -qE "memory.limit_in_bytes +67108864|memory.max +67108864|67108864" <<<"$metrics"'
[ -d /sys/fs/cgroup/pids$CG/t-term ] || [ -d /sys/fs/cgroup$CG/t-term ]
check_all "the cgroup is at linux.cgroupsPath" '[ $? = 0 ]'
init=$(ctr_ task ls | awk '$1=="t-term"{print $2}')
check_all "the pid-file process is moat's init inside the container's pid namespace" '[ -n "$init" ] && [ "$(readlink /proc/$init/ns/pid)" != "$(host_ns pid)" ] && [ "$(readlink /proc/$init/ns/mnt)" != "$(host_ns mnt)" ]'
# task exec, detached by the shim, foreground here
out=$(ctr_ task exec --exec-id e1 t-term /bin/sh -c 'echo exec-out; exit 3' 2>&1)
st=$?
check_all "task exec: output and exit status 3 (got $st: $out)" '[ $st = 3 ] && [ "$out" = exec-out ]'
ex=$(ctr_ task exec --exec-id e2 t-term /bin/moat-probe 2>&1)
check_all "task exec: the process joins the container's namespaces" '[ "$(jget "[\"ns\"][\"pid\"]" <<<"$ex")" = "$(readlink /proc/$init/ns/pid)" ] && [ "$(jget "[\"ns\"][\"mnt\"]" <<<"$ex")" = "$(readlink /proc/$init/ns/mnt)" ]'
check_all "task exec: confined like the container (NoNewPrivs, seccomp, no caps, Landlock)" '[ "$(jget "[\"no_new_privs\"]" <<<"$ex")" = 1 ] && [ "$(jget "[\"seccomp\"]" <<<"$ex")" = 2 ] && [ "$(jget "[\"caps\"][\"CapEff\"]" <<<"$ex")" = 0000000000000000 ] && [ "$(jget "[\"landlock\"][\"restricted\"]" <<<"$ex")" = True ]'
if command -v script >/dev/null; then
        tty_out=$(timeout 60 script -qec "ctr --address $T/c.sock task exec -t --exec-id e3 t-term /bin/sh -c 'tty; exit 4'" /dev/null 2>&1 </dev/null)
        st=$?
        check_all "task exec -t: a terminal inside, exit status 4 (got $st: $tty_out)" '[ $st = 4 ] && grep -q "/dev/pts/" <<<"$tty_out"'
else
        tap_skip "task exec -t" "no script(1)" present
fi
# update at cgroupsPath, never above the profile's limit; pause and resume
# (ctr 1.6 has no task update: the runtime is called as the shim calls it, LinuxResources on stdin)
"$H" --root "$T/runc/default" --log "$T/u.json" --log-format json update --resources - t-term \
        <<<'{"memory": {"limit": 33554432}, "cpu": {"quota": 20000, "period": 100000}}'
metrics=$(ctr_ task metrics t-term 2>&1)
check_all "task update: the new memory limit (32 MiB) is what the metrics read" 'grep -q 33554432 <<<"$metrics"'
"$H" --root "$T/runc/default" --log "$T/u.json" --log-format json update --resources - t-term \
        <<<'{"memory": {"limit": 2147483648}}' 2>/dev/null
check_all "update above the profile's 1 GiB: refused, log.json naming resources.memory" '[ $? = 125 ] && tail -1 "$T/u.json" | grep -q "resources.memory"'
metrics=$(ctr_ task metrics t-term 2>&1)
check_all "the refused update left the 32 MiB limit" 'grep -q 33554432 <<<"$metrics"'
ctr_ task pause t-term >/dev/null 2>&1
check_all "task pause: PAUSED, the tree frozen" 'ctr_ task ls | grep -q "t-term.*PAUSED" && { [ "$(cat /sys/fs/cgroup/freezer$CG/t-term/freezer.state 2>/dev/null)" = FROZEN ] || [ "$(cat /sys/fs/cgroup$CG/t-term/cgroup.freeze 2>/dev/null)" = 1 ]; }'
ctr_ task resume t-term >/dev/null 2>&1
check_all "task resume: RUNNING again" 'ctr_ task ls | grep -q "t-term.*RUNNING"'
ctr_ task kill t-term
wait $rp
check_all "SIGTERM -> exit status 143" '[ $? = 143 ]'

# 5. the emulated pod: a pause container, then an app joining its namespaces by path
ctr_ run -d --rootfs --runc-binary "$H" --runc-root "$T/runc" --cgroup "$CG/pause" "$R" pause /bin/sleep 300 >/dev/null 2>&1
pp=$(ctr_ task ls | awk '$1=="pause"{print $2}')
if [ -z "$pp" ]; then tap_not_ok "pod: the pause container runs" "$(tail -3 "$T/containerd.log")"; else
        app=$(run app --with-ns "pid:/proc/$pp/ns/pid" --with-ns "ipc:/proc/$pp/ns/ipc" \
                --with-ns "uts:/proc/$pp/ns/uts" --with-ns "network:/proc/$pp/ns/net" -- /bin/moat-probe 2>"$T/app.err")
        if [ -z "$app" ]; then tap_not_ok "pod: the app container runs" "$(cat "$T/app.err")"; else
                for ns in pid net ipc uts user; do
                        check_all "pod: the app's $ns namespace is the pause's" '[ "$(jget "[\"ns\"][\"'$ns'\"]" <<<"$app")" = "$(readlink /proc/$pp/ns/'$ns')" ]'
                done
                for ns in user mnt pid net ipc uts cgroup; do
                        check_all "pod: the app's $ns namespace is not the host's" '[ "$(jget "[\"ns\"][\"'$ns'\"]" <<<"$app")" != "$(host_ns '$ns')" ]'
                done
                check_all "pod: the app is confined (NoNewPrivs, seccomp, no capabilities)" '[ "$(jget "[\"no_new_privs\"]" <<<"$app")" = 1 ] && [ "$(jget "[\"seccomp\"]" <<<"$app")" = 2 ] && [ "$(jget "[\"caps\"][\"CapEff\"]" <<<"$app")" = 0000000000000000 ]'
        fi
        ctr_ task kill -s KILL pause >/dev/null 2>&1
        sleep 0.3
        ctr_ task rm -f pause >/dev/null 2>&1
        ctr_ c rm pause >/dev/null 2>&1
fi

# 6. refusals: ctr shows the last line of the runtime's log file
refusal() { # DESCRIPTION WORDS [ctr run options...]
        local d=$1 words=$2
        shift 2
        local err
        err=$(run t-refuse "$@" -- /bin/true 2>&1)
        local st=$?
        ctr_ c rm t-refuse >/dev/null 2>&1
        if [ $st != 0 ] && grep -q -- "$words" <<<"$err"; then tap_ok "$d"; else tap_not_ok "$d" "$err"; fi
}
refusal "refused: an extra capability, naming the profile key" "(capabilities)" --cap-add CAP_SYS_ADMIN
refusal "refused: a host path bind, naming filesystem.bind" "(filesystem.bind)" --mount type=bind,src=/etc,dst=/host-etc,options=rbind:ro
refusal "refused: the host's network (hostNetwork), naming host_namespaces" "does not list network in host_namespaces (host_namespaces)" --net-host
refusal "refused: an annotation downgrade, naming the key" "annotations may only escalate" --annotation io.moat.profile=minimal
refusal "refused: an annotation asking for the vm tier" "no VM runtime for pods" --annotation io.moat.tier=vm

# 6b. hostNetwork where the profile allows it: ctr run --net-host leaves the network namespace
# out of the spec and binds the host's /etc/hosts and /etc/resolv.conf, which this profile lists
# (their mount points in the image: moat's root is read-only, nothing is created in it)
touch "$R/etc/hosts" "$R/etc/resolv.conf"
out=$(timeout 60 ctr --address "$T/c.sock" run --rm --net-host --rootfs --runc-binary "$T/oci/ctr-host-network" \
        --runc-root "$T/runc" --cgroup "$CG/t-hostnet" "$R" t-hostnet /bin/moat-probe 2>"$T/hostnet.err")
if [ -z "$out" ]; then tap_not_ok "ctr run --net-host under a profile with host_namespaces: [network, uts]" "$(cat "$T/hostnet.err")"; else
        check_all "ctr run --net-host: inside, the host's network namespace" '[ "$(jget "[\"ns\"][\"net\"]" <<<"$out")" = "$(host_ns net)" ]'
        for ns in user mnt pid ipc uts cgroup; do
                check_all "ctr run --net-host: inside, $ns namespace is not the host's" '[ "$(jget "[\"ns\"][\"'$ns'\"]" <<<"$out")" != "$(host_ns '$ns')" ]'
        done
fi

# 7. one audit record per container, completed at delete, with how it ended
rec() { python3 -c "
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(r['exit'].get('status'), r.get('verdict'), ' '.join(r['command']['argv']))
" "$T/audit.jsonl" 2>&1; }
records=$(rec)
diag "$records"
check_all "audit: the exit-7 container's record says status 7" 'grep -q "^7 exited /bin/sh -c exit 7" <<<"$records"'
check_all "audit: the SIGTERM container's record says status 143, signaled" 'grep -q "^143 signaled /bin/sleep 300" <<<"$records"'
check_all "audit: a refused container has its record (verdict refused)" '[ "$(grep -c " refused " <<<"$records")" -ge 5 ]'
"$MOAT" audit verify "$T/audit.jsonl" >/dev/null 2>&1
check_all "audit: the chain verifies" '[ $? = 0 ]'

# 8. the runtime's own contract
"$H" --root "$T/runc" delete --force no-such-container
check_all "delete --force of an unknown id exits 0" '[ $? = 0 ]'
"$H" --root "$T/runc" --log "$T/l.json" --log-format json state no-such-container >/dev/null 2>&1
check_all "state of an unknown id: 'does not exist' in log.json" 'tail -1 "$T/l.json" | grep -q "does not exist"'
check_all "nothing left under the runtime's root" '[ -z "$(ls -A "$T/runc/default" 2>/dev/null)" ]'
diag "$(grep -iE "level=(warning|error)" "$T/containerd.log" | grep -v "copy shim log" | tail -5)"
tap_end
