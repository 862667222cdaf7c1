#!/bin/bash
# SPDX-License-Identifier: MIT
# hostPID and hostIPC through the runtime's verbs, under a profile of the test's own
# (ci-untrusted with host_namespaces: [pid, ipc]):
#   - a container whose spec leaves out the pid and ipc namespaces is, seen from inside, in the
#     host's pid and ipc namespaces and in no other of the host's; it sees the host's processes
#     (/proc is the host's) and a System V shared memory segment the test made on the host,
#     cannot read another process's environment, fd targets or executable, and cannot signal a
#     root process of the host (Landlock's signal scope; on a host without it create is
#     refused, which is checked instead);
#   - an app container joining that pause's pid and ipc namespaces by path (a hostPID pod) is
#     let in as the same host namespaces, and refused under ci-untrusted;
#   - under ci-untrusted the pause itself is refused, naming host_namespaces.
# Root; TAP.
set -uo pipefail
: "${MOAT:?}" "${MOAT_SOURCE_DIR:?}" "${MOAT_PROBE:?}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tap.sh"
if [ "$(id -u)" != 0 ] || ! command -v busybox >/dev/null; then
        [ "${MOAT_MUST_WORK:-0}" = 1 ] && { echo "not ok 1 - needs root and busybox-static"; echo "1..1"; exit 1; }
        echo "1..0 # SKIP needs root and busybox-static"
        exit 0
fi
T=$(mktemp -d /tmp/moat-hostpid-XXXXXX)
mkdir "$T/oci" "$T/profiles"
cat >"$T/profiles/pod-host-pid.yaml" <<'EOF'
moat: 1
name: pod-host-pid
extends: ci-untrusted
host_namespaces: [pid, ipc]
EOF
export MOAT_DATA_DIR=$MOAT_SOURCE_DIR MOAT_AUDIT_LOG=$T/audit.jsonl MOAT_PROFILE_PATH=$T/profiles
for p in pod-host-pid ci-untrusted; do ln -s "$(realpath "$MOAT")" "$T/oci/$p"; done
CG=/moat-hostpid-test-$$
rt() { # PROFILE ARGS...
        local h=$T/oci/$1
        shift
        timeout 60 "$h" --root "$T/run" --log "$T/log.json" --log-format json "$@"
}
# A root process of the host's that the containers must not be able to signal or read.
sleep 600 &
victim=$!
# A System V shared memory segment of the host's ipc namespace.
shm=$(ipcmk -M 4096 2>/dev/null | grep -o '[0-9]*$')
# A path moat masks with /dev/null that this host's /proc has (plan-sandbox.c's list).
masked=""
for f in /proc/sysrq-trigger /proc/kallsyms /proc/keys /proc/timer_list /proc/kmsg /proc/kcore; do
        [ -f "$f" ] && { masked=$f; break; }
done
cleanup() {
        for id in app pause; do rt pod-host-pid delete --force $id >/dev/null 2>&1; done
        kill "$victim" 2>/dev/null
        [ -n "$shm" ] && ipcrm -m "$shm" 2>/dev/null
        wait "$victim" 2>/dev/null
        for d in /sys/fs/cgroup/*$CG /sys/fs/cgroup$CG; do
                [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
        [ -n "${MOAT_TEST_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

bundle() { # NAME PAUSE_PID (0: none, the spec leaves the pid namespace out)
        local b=$T/$1
        mkdir -p "$b/rootfs"/{bin,proc,dev,sys,tmp,run,etc}
        cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
        for x in sh sleep cat kill ls echo readlink awk; do ln -s busybox "$b/rootfs/bin/$x"; done
        cp "$MOAT_PROBE" "$b/rootfs/bin/moat-probe"
        python3 - "$MOAT_SOURCE_DIR/tests/golden/oci/specs/ctr-run-rootfs.json" "$b/config.json" "$2" "$CG/$1" "$victim" "$masked" "$shm" <<'PY'
import json, sys
spec, out, pause, cg, victim, masked, shm = sys.argv[1:8]
d = json.load(open(spec))
ns = [n for n in d["linux"]["namespaces"] if n["type"] not in ("pid", "ipc")]
if pause != "0":
    ns += [{"type": t, "path": "/proc/%s/ns/%s" % (pause, t)} for t in ("pid", "ipc")]
d["linux"]["namespaces"] = ns
d["linux"]["cgroupsPath"] = cg
d["process"]["env"] = d["process"].get("env", []) + ["V=" + victim, "M=" + masked, "SHM=" + shm]
d["process"]["args"] = ["/bin/sh", "-c",
    "/bin/moat-probe > /tmp/probe.json; cat /tmp/probe.json; echo;"
    " echo COMM1=$(cat /proc/1/comm);"
    " [ -d /proc/$V ] && echo SEEN=yes || echo SEEN=no;"
    " cat /proc/$V/environ >/dev/null 2>&1 && echo ENVIRON=read || echo ENVIRON=denied;"
    " readlink /proc/$V/fd/0 >/dev/null 2>&1 && echo FD=read || echo FD=denied;"
    " readlink /proc/$V/exe >/dev/null 2>&1 && echo EXE=read || echo EXE=denied;"
    " kill -0 $V 2>/dev/null && echo KILL=ok || echo KILL=denied;"
    " [ -c $M ] && echo MASK=masked || echo MASK=open;"
    " awk -v id=$SHM '$2 == id { f = 1 } END { exit !f }' /proc/sysvipc/shm && echo SHM=seen || echo SHM=unseen;"
    " echo END; sleep 300"]
json.dump(d, open(out, "w"))
PY
}
last_log() { tail -1 "$T/log.json" 2>/dev/null; }
log_has() { local l; l=$(last_log); grep -q -- "$1" <<<"$l"; }
probe_json() { sed '/^COMM1=/,$d' "$1"; }
jns() { probe_json "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['ns'][sys.argv[1]])" "$2"; }
val() { sed -n "s/^$2=//p" "$1"; }
wait_end() { for _ in $(seq 100); do grep -q '^END$' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
abi=$("$MOAT" host --json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin).get('landlock_abi') or 0)")

bundle pause 0
rt ci-untrusted create --bundle "$T/pause" --pid-file "$T/pause.pid" pause >/dev/null 2>&1 </dev/null
st=$?
check_all "ci-untrusted: a spec without a pid namespace is refused (125), nothing left" '[ $st = 125 ] && [ ! -e "$T/run/pause" ]'
check_all "ci-untrusted: the log line names host_namespaces" \
        'log_has "refused: the spec shares the host.s pid namespace (hostPID); profile ci-untrusted does not list pid in host_namespaces (host_namespaces)"' ||
        diag "$(last_log)"

# a container whose audit record the log would refuse (here a symbolic link) is not created
# (a host below Landlock ABI 6 refuses pod-host-pid's plan first, checked below)
if [ "$abi" -ge 6 ]; then
        echo untouched >"$T/audit-target"
        ln -s "$T/audit-target" "$T/audit-link"
        MOAT_AUDIT_LOG=$T/audit-link rt pod-host-pid create --bundle "$T/pause" --pid-file "$T/pause.pid" pause >/dev/null 2>&1 </dev/null
        st=$?
        check_all "an audit log that is a symbolic link: create refused (125), nothing made, the link's target unchanged" \
                '[ $st = 125 ] && [ ! -e "$T/run/pause" ] && [ ! -e "$T/pause.pid" ] && [ "$(cat "$T/audit-target")" = untouched ] &&
                 log_has "the audit log .*audit-link would refuse the container.s record"' || diag "$(last_log)"
else
        tap_skip "an audit log that is a symbolic link refuses create" "Landlock ABI $abi < 6: pod-host-pid is refused by its plan first"
fi

: >"$T/log.json"
rt pod-host-pid create --bundle "$T/pause" --pid-file "$T/pause.pid" pause >"$T/pause.out" 2>&1 </dev/null
st=$?
if [ "$abi" -lt 6 ]; then
        check_all "Landlock ABI $abi (< 6, no signal scope): hostPID is refused, naming the scope" \
                '[ $st = 125 ] && log_has "Landlock.s signal scope"' || diag "$(last_log)"
        tap_end
        exit $?
fi
check_all "pod-host-pid: created" '[ $st = 0 ] && [ -s "$T/pause.pid" ]' || diag "$(last_log)"
pp=$(cat "$T/pause.pid" 2>/dev/null)
check_all "the pid-file process is in the host's pid and ipc namespaces and no other of the host's" \
        '[ "$(readlink /proc/$pp/ns/pid)" = "$(readlink /proc/self/ns/pid)" ] && [ "$(readlink /proc/$pp/ns/ipc)" = "$(readlink /proc/self/ns/ipc)" ] && for ns in user mnt net uts cgroup; do [ "$(readlink /proc/$pp/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ] || exit 1; done'
rt pod-host-pid start pause
wait_end "$T/pause.out"
P=$T/pause.out
check_all "workload, from inside: /proc/self/ns/pid and ipc are the host's" '[ "$(jns $P pid)" = "$(readlink /proc/self/ns/pid)" ] && [ "$(jns $P ipc)" = "$(readlink /proc/self/ns/ipc)" ]' || diag "$(head -c 400 $P)"
check_all "workload: sees the host's shared memory segment $shm" '[ -n "$shm" ] && [ "$(val $P SHM)" = seen ]'
for ns in user mnt net uts cgroup; do
        check_all "workload, from inside: $ns namespace is not the host's" '[ "$(jns $P '$ns')" != "$(readlink /proc/self/ns/'$ns')" ]'
done
check_all "workload: /proc is the host's (pid 1 is the host's $(cat /proc/1/comm), the host's sleep is listed)" \
        '[ "$(val $P COMM1)" = "$(cat /proc/1/comm)" ] && [ "$(val $P SEEN)" = yes ]'
check_all "workload: another process's environment, fd targets and executable are denied" '[ "$(val $P ENVIRON)" = denied ] && [ "$(val $P FD)" = denied ] && [ "$(val $P EXE)" = denied ]'
check_all "workload: cannot signal a root process of the host (Landlock signal scope)" '[ "$(val $P KILL)" = denied ] && kill -0 $victim'
check_all "workload: the host's /proc keeps moat's masks ($masked is /dev/null)" '[ -n "$masked" ] && [ "$(val $P MASK)" = masked ] && [ ! -c $masked ]'

bundle app "$pp"
: >"$T/log.json"
rt ci-untrusted create --bundle "$T/app" --pid-file "$T/app.pid" app >/dev/null 2>&1 </dev/null
st=$?
check_all "ci-untrusted: an app joining the hostPID pause by path is refused, naming host_namespaces" \
        '[ $st = 125 ] && [ ! -e "$T/run/app" ] && log_has "refused: the spec joins /proc/$pp/ns/pid, which is the host.s pid namespace; the profile does not list it in host_namespaces (host_namespaces)"' ||
        diag "$(last_log)"
: >"$T/log.json"
rt pod-host-pid create --bundle "$T/app" --pid-file "$T/app.pid" app >"$T/app.out" 2>&1 </dev/null
check_all "pod-host-pid: the app joining the pause by path is created" '[ $? = 0 ]' || diag "$(last_log)"
ap=$(cat "$T/app.pid" 2>/dev/null)
rt pod-host-pid start app
wait_end "$T/app.out"
A=$T/app.out
check_all "app workload: the host's pid and ipc namespaces, the pause's user namespace" \
        '[ "$(jns $A pid)" = "$(readlink /proc/self/ns/pid)" ] && [ "$(jns $A ipc)" = "$(readlink /proc/self/ns/ipc)" ] && [ "$(jns $A user)" = "$(readlink /proc/$pp/ns/user)" ] && [ "$(val $A SHM)" = seen ]' || diag "$(head -c 400 $A)"
check_all "app workload: sees the host's processes, cannot signal them" '[ "$(val $A SEEN)" = yes ] && [ "$(val $A KILL)" = denied ]'
for id in app pause; do
        rt pod-host-pid kill $id KILL
        rt pod-host-pid delete --force $id
done
check_all "deleted; the host's process is still there" '[ ! -e "$T/run/app" ] && [ ! -e "$T/run/pause" ] && kill -0 $victim'
recs=$(python3 - "$T/audit.jsonl" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    for c in r.get("controls", []):
        if c["name"] in ("pidns", "ipcns"):
            print(c["name"], c["planned"], c.get("detail", ""), "|", c.get("reason", ""))
PY
)
check_all "audit: both records have pidns and ipcns as the host's, naming host_namespaces" \
        '[ "$(grep -c "^pidns degraded the host.s pid namespace (hostPID) | .*host_namespaces at " <<<"$recs")" = 2 ] && [ "$(grep -c "^ipcns degraded the host.s ipc namespace (hostIPC) | .*host_namespaces" <<<"$recs")" = 2 ]' || diag "$recs"
tap_end
