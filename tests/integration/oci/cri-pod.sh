#!/bin/bash
# SPDX-License-Identifier: MIT
# A Kubernetes pod emulated with the CRI specs containerd 1.6.20 produced (tests/golden/oci/specs,
# captured from a real kubelet-less CRI run), driven through the runtime's own verbs as the shim
# drives them: the pause container (cri-sandbox-podnet.json), then the app container
# (cri-container-podnet.json) joining the pause's pid, ipc, uts and network namespaces by
# /proc/PID/ns path, with the RuntimeDefault seccomp filter and its 128 MiB / half-a-CPU limits.
# Adapted only where the capture names another machine's state: the engine's per-pod files (not
# bound), the pause's pid, the io.moat.* annotations (hostile and vm are refused:
# tests/golden/oci), and the command (the probe). The CNI network namespace stays in the spec:
# ci-untrusted has network: none, so moat does not join it and the pod gets a network namespace
# of its own. Root; TAP.
set -uo pipefail
: "${MOAT:?}" "${MOAT_SOURCE_DIR:?}" "${MOAT_PROBE:?}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tap.sh"
if [ "$(id -u)" != 0 ] || ! command -v busybox >/dev/null; then
        [ "${MOAT_MUST_WORK:-0}" = 1 ] && { echo "not ok 1 - needs root and busybox-static"; echo "1..1"; exit 1; }
        echo "1..0 # SKIP needs root and busybox-static"
        exit 0
fi
T=$(mktemp -d /tmp/moat-cri-XXXXXX)
export MOAT_DATA_DIR=$MOAT_SOURCE_DIR MOAT_AUDIT_LOG=$T/audit.jsonl
mkdir "$T/oci"
ln -s "$(realpath "$MOAT")" "$T/oci/ci-untrusted"
H=$T/oci/ci-untrusted
CG=/moat-cri-test-$$
rt() { timeout 60 "$H" --root "$T/run" --log "$T/log.json" --log-format json "$@"; }
cleanup() {
        rt delete --force app >/dev/null 2>&1
        rt delete --force pause >/dev/null 2>&1
        for d in /sys/fs/cgroup/*$CG /sys/fs/cgroup$CG; do
                [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
        rm -rf "$T"
}
trap cleanup EXIT

bundle() { # NAME SPEC PAUSE_PID
        local b=$T/$1
        mkdir -p "$b/rootfs"/{bin,proc,dev,sys,tmp,run,etc}
        cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
        for x in sh sleep; do ln -s busybox "$b/rootfs/bin/$x"; done
        cp "$MOAT_PROBE" "$b/rootfs/bin/moat-probe"
        ln -s moat-probe "$b/rootfs/pause"
        python3 - "$MOAT_SOURCE_DIR/tests/golden/oci/specs/$2" "$b/config.json" "$3" "$CG/$1" <<'PY'
import json, sys
spec, out, pause, cg = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
d = json.load(open(spec))
d["mounts"] = [m for m in d["mounts"] if m.get("type") != "bind"]
for n in d["linux"]["namespaces"]:
    if n.get("path", "").startswith("/proc/"):
        n["path"] = "/proc/%s/ns/%s" % (pause, n["path"].rsplit("/", 1)[1])
d["annotations"] = {k: v for k, v in d.get("annotations", {}).items() if not k.startswith("io.moat.")}
d["process"]["args"] = ["/bin/sh", "-c", "/bin/moat-probe > /tmp/probe.json; cat /tmp/probe.json; sleep 300"] \
        if "sandbox-id" in json.dumps(d["annotations"]) and d["annotations"].get("io.kubernetes.cri.container-type") == "container" \
        else ["/bin/sleep", "300"]
d["linux"]["cgroupsPath"] = cg
json.dump(d, open(out, "w"))
PY
}

bundle pause cri-sandbox-podnet.json 0
rt create --bundle "$T/pause" --pid-file "$T/pause.pid" pause >"$T/pause.out" 2>&1 </dev/null
check_all "pause: created from the CRI sandbox spec" '[ $? = 0 ] && [ -s "$T/pause.pid" ]' || diag "$(tail -1 "$T/log.json")"
pp=$(cat "$T/pause.pid" 2>/dev/null)
rt start pause
check_all "pause: started" '[ $? = 0 ]'
check_all "pause: the CNI network namespace named in the spec was not joined (network: none)" '[ "$(readlink /proc/$pp/ns/net)" != "$(readlink /proc/self/ns/net)" ]'
check_all "pause: its init is in no namespace of the host's" 'for ns in user mnt pid net ipc uts cgroup; do [ "$(readlink /proc/$pp/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ] || exit 1; done'

bundle app cri-container-podnet.json "$pp"
rt create --bundle "$T/app" --pid-file "$T/app.pid" app >"$T/app.out" 2>&1 </dev/null
check_all "app: created from the CRI container spec, joining the pause by path" '[ $? = 0 ]' || diag "$(tail -1 "$T/log.json")"
ap=$(cat "$T/app.pid" 2>/dev/null)
for ns in user pid net ipc uts; do
        check_all "app: the pid-file process shares the pause's $ns namespace" '[ -n "$ap" ] && [ "$(readlink /proc/$ap/ns/'$ns')" = "$(readlink /proc/$pp/ns/'$ns')" ]'
done
check_all "app: its own mount namespace" '[ "$(readlink /proc/$ap/ns/mnt)" != "$(readlink /proc/$pp/ns/mnt)" ]'
rt start app
for _ in $(seq 50); do grep -q '"tries"' "$T/app.out" 2>/dev/null && break; sleep 0.1; done
probe=$(cat "$T/app.out")
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d' + sys.argv[1]))" "$1" <<<"$probe"; }
for ns in user mnt pid net ipc uts cgroup; do
        check_all "app workload: $ns namespace is not the host's" '[ "$(jget "[\"ns\"][\"'$ns'\"]")" != "$(readlink /proc/self/ns/'$ns')" ]'
done
check_all "app workload: in the pause's pid namespace" '[ "$(jget "[\"ns\"][\"pid\"]")" = "$(readlink /proc/$pp/ns/pid)" ]'
# the pause has no seccomp in its spec: moat's filter alone; the app has RuntimeDefault on top
nf() { awk '/^Seccomp_filters:/{print $2}' "/proc/$1/status"; }
check_all "app: one seccomp filter more than the pause (the spec's RuntimeDefault on moat's)" '[ -n "$(nf $pp)" ] && [ "$(nf $ap)" = $(($(nf $pp) + 1)) ]'
check_all "app workload: the same filters as its init" '[ "$(jget "[\"seccomp_filters\"]")" = "$(nf $ap)" ]'
check_all "app workload: NoNewPrivs although the spec does not ask for it" '[ "$(jget "[\"no_new_privs\"]")" = 1 ]'
check_all "app workload: none of the 14 default capabilities" '[ "$(jget "[\"caps\"][\"CapEff\"]")" = 0000000000000000 ]'
check_all "app: memory limit 128 MiB at its cgroupsPath" 'grep -qx 134217728 /sys/fs/cgroup/memory$CG/app/memory.limit_in_bytes 2>/dev/null || grep -qx 134217728 /sys/fs/cgroup$CG/app/memory.max 2>/dev/null'
rt kill app KILL
rt delete --force app
check_all "app: deleted" '[ $? = 0 ] && [ ! -e "$T/run/app" ]'
rt delete --force pause
check_all "pause: deleted, its cgroup removed" '[ $? = 0 ] && [ ! -e /sys/fs/cgroup/pids$CG/pause ] && [ ! -e /sys/fs/cgroup$CG/pause ]'
tap_end
