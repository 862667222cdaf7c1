#!/bin/bash
# SPDX-License-Identifier: MIT
# A hostNetwork pod (tests/golden/oci/specs/cri-sandbox-hostnet.json and
# cri-container-hostnet.json, as containerd 1.6.20 produced them) through the runtime's verbs:
#   - under the shipped profile pod-host-network (host_namespaces: [network, uts]) the pause and
#     the app container, seen from inside, are in the host's network and uts namespaces and in
#     none other of the host's; they see the host's interfaces and hostname; the audit record
#     says which host namespaces each shared;
#   - under ci-untrusted (no host_namespaces) create is refused, the last log.json line names
#     the profile key, nothing is left in --root;
#   - a site policy with host_namespaces: [] wins over pod-host-network (the policy is bound at
#     /etc/moat in a private mount namespace of the test's own: the host's /etc is untouched).
# The io.moat.* annotations of the capture are dropped (they name ci-untrusted, which would
# rightly refuse). Root; TAP.
set -uo pipefail
: "${MOAT:?}" "${MOAT_SOURCE_DIR:?}" "${MOAT_PROBE:?}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tap.sh"
if [ "$(id -u)" != 0 ] || ! command -v busybox >/dev/null || ! command -v unshare >/dev/null; then
        [ "${MOAT_MUST_WORK:-0}" = 1 ] && { echo "not ok 1 - needs root, busybox-static and unshare"; echo "1..1"; exit 1; }
        echo "1..0 # SKIP needs root, busybox-static and unshare"
        exit 0
fi
T=$(mktemp -d /tmp/moat-hostnet-XXXXXX)
export MOAT_DATA_DIR=$MOAT_SOURCE_DIR MOAT_AUDIT_LOG=$T/audit.jsonl
mkdir "$T/oci"
for p in pod-host-network ci-untrusted; do ln -s "$(realpath "$MOAT")" "$T/oci/$p"; done
CG=/moat-hostnet-test-$$
rt() { # PROFILE ARGS...
        local h=$T/oci/$1
        shift
        timeout 60 "$h" --root "$T/run" --log "$T/log.json" --log-format json "$@"
}
cleanup() {
        for id in app pause; do rt pod-host-network delete --force $id >/dev/null 2>&1; done
        for d in /sys/fs/cgroup/*$CG /sys/fs/cgroup$CG; do
                [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
        done
        [ -n "${MOAT_TEST_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

bundle() { # NAME SPEC PAUSE_PID
        local b=$T/$1
        mkdir -p "$b/rootfs"/{bin,proc,dev,sys,tmp,run,etc}
        cp "$(command -v busybox)" "$b/rootfs/bin/busybox"
        for x in sh sleep cat; do ln -s busybox "$b/rootfs/bin/$x"; done
        cp "$MOAT_PROBE" "$b/rootfs/bin/moat-probe"
        python3 - "$MOAT_SOURCE_DIR/tests/golden/oci/specs/$2" "$b/config.json" "$3" "$CG/$1" <<'PY'
import json, sys
spec, out, pause, cg = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
d = json.load(open(spec))
d["mounts"] = [m for m in d["mounts"] if m.get("type") != "bind"]
for n in d["linux"]["namespaces"]:
    if n.get("path", "").startswith("/proc/"):
        n["path"] = "/proc/%s/ns/%s" % (pause, n["path"].rsplit("/", 1)[1])
d["annotations"] = {k: v for k, v in d.get("annotations", {}).items() if not k.startswith("io.moat.")}
d["process"]["args"] = ["/bin/sh", "-c", "/bin/moat-probe > /tmp/probe.json; cat /tmp/probe.json; sleep 300"]
d["linux"]["cgroupsPath"] = cg
json.dump(d, open(out, "w"))
PY
}
last_log() { tail -1 "$T/log.json" 2>/dev/null; }
log_has() { local l; l=$(last_log); grep -q -- "$1" <<<"$l"; }
host_ifaces() { awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' /proc/self/net/dev | sort | tr '\n' ' '; }
probe_ifaces() { python3 -c "import json,sys; print(' '.join(sorted(i['name'] for i in json.load(open(sys.argv[1]))['net'])) + ' ')" "$1"; }
jns() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['ns'][sys.argv[2]])" "$1" "$2"; }
jhost() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['hostname'])" "$1"; }
wait_probe() { for _ in $(seq 100); do grep -q '"tries"' "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

# ---- refused under ci-untrusted: no host_namespaces in the profile ----
bundle pause cri-sandbox-hostnet.json 0
rt ci-untrusted create --bundle "$T/pause" --pid-file "$T/pause.pid" pause >/dev/null 2>&1 </dev/null
st=$?
check_all "ci-untrusted: create of the hostNetwork pause exits 125" '[ $st = 125 ]'
check_all "ci-untrusted: the last log.json line is the refusal naming host_namespaces" \
        'log_has "\"level\":\"error\"" && log_has "refused: the spec shares the host.s network namespace (hostNetwork); profile ci-untrusted does not list network in host_namespaces (host_namespaces)"' ||
        diag "$(last_log)"
check_all "ci-untrusted: nothing is left in --root, no pid file" '[ ! -e "$T/run/pause" ] && [ ! -e "$T/pause.pid" ]'
check_all "ci-untrusted: the refusal has its audit record" 'grep -q "host_namespaces" "$T/audit.jsonl"'

# ---- refused under pod-host-network when the site policy forbids host namespaces ----
mkdir "$T/etc-moat"
cp -a /etc/moat/. "$T/etc-moat/" 2>/dev/null
printf 'moat: 1\nhost_namespaces: []\n' >"$T/etc-moat/policy.yaml"
: >"$T/log.json"
unshare -m --propagation private sh -c 'mount --bind "$1" /etc/moat && shift && exec "$@"' sh "$T/etc-moat" \
        timeout 60 "$T/oci/pod-host-network" --root "$T/run" --log "$T/log.json" --log-format json \
        create --bundle "$T/pause" --pid-file "$T/pause.pid" pause >/dev/null 2>&1 </dev/null
st=$?
check_all "site policy host_namespaces: [] wins over pod-host-network: exit 125" '[ $st = 125 ]'
check_all "site policy: the refusal names the policy's host_namespaces" \
        'log_has "profile pod-host-network allows it (host_namespaces at .*pod-host-network.yaml:[0-9]*:[0-9]*) but the site policy does not (host_namespaces at /etc/moat/policy.yaml:2:18) (host_namespaces)"' ||
        diag "$(last_log)"
check_all "site policy: nothing is left in --root" '[ ! -e "$T/run/pause" ]'

# ---- runs under pod-host-network ----
rt pod-host-network create --bundle "$T/pause" --pid-file "$T/pause.pid" pause >"$T/pause.out" 2>&1 </dev/null
check_all "pod-host-network: the hostNetwork pause is created" '[ $? = 0 ] && [ -s "$T/pause.pid" ]' || diag "$(last_log)"
pp=$(cat "$T/pause.pid" 2>/dev/null)
check_all "pause: the pid-file process is in the host's network and uts namespaces" \
        'for ns in net uts; do [ "$(readlink /proc/$pp/ns/$ns)" = "$(readlink /proc/self/ns/$ns)" ] || exit 1; done'
check_all "pause: the pid-file process is in no other namespace of the host's" \
        'for ns in user mnt pid ipc cgroup; do [ "$(readlink /proc/$pp/ns/$ns)" != "$(readlink /proc/self/ns/$ns)" ] || exit 1; done'
rt pod-host-network start pause
check_all "pause: started" '[ $? = 0 ]'
wait_probe "$T/pause.out"
P=$T/pause.out
check_all "pause workload, from inside: /proc/self/ns/net is the host's" '[ "$(jns $P net)" = "$(readlink /proc/self/ns/net)" ]' || diag "$(head -c 600 $P)"
check_all "pause workload, from inside: /proc/self/ns/uts is the host's" '[ "$(jns $P uts)" = "$(readlink /proc/self/ns/uts)" ]'
for ns in user mnt pid ipc cgroup; do
        check_all "pause workload, from inside: $ns namespace is not the host's" '[ "$(jns $P '$ns')" != "$(readlink /proc/self/ns/'$ns')" ]'
done
check_all "pause workload: sees the host's interfaces" '[ "$(probe_ifaces $P)" = "$(host_ifaces)" ]' || diag "inside: $(probe_ifaces $P) host: $(host_ifaces)"
check_all "pause workload: the host's hostname" '[ "$(jhost $P)" = "$(hostname)" ]'

# an exec into it joins the container's namespaces: the host's network namespace too
printf '%s\n' '{"args": ["/bin/cat", "/proc/self/net/dev"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}}' >"$T/proc.json"
ex=$(rt pod-host-network exec --process "$T/proc.json" pause 2>&1 </dev/null)
st=$?
ex_ifaces=$(awk -F: 'NR > 2 { gsub(/ /, "", $1); print $1 }' <<<"$ex" | sort | tr '\n' ' ')
check_all "exec into the pause: exit 0, sees the host's interfaces" '[ $st = 0 ] && [ "$ex_ifaces" = "$(host_ifaces)" ]' || diag "$ex $(last_log)"

bundle app cri-container-hostnet.json "$pp"
: >"$T/log.json"
rt pod-host-network create --bundle "$T/app" --pid-file "$T/app.pid" app >"$T/app.out" 2>&1 </dev/null
check_all "app: created, joining the pause (whose network and uts are the host's) by path" '[ $? = 0 ]' || diag "$(last_log)"
ap=$(cat "$T/app.pid" 2>/dev/null)
rt pod-host-network start app
wait_probe "$T/app.out"
A=$T/app.out
check_all "app workload, from inside: the host's network and uts namespaces" '[ "$(jns $A net)" = "$(readlink /proc/self/ns/net)" ] && [ "$(jns $A uts)" = "$(readlink /proc/self/ns/uts)" ]' || diag "$(head -c 600 $A)"
check_all "app workload: the pause's pid and ipc namespaces, not the host's" '[ "$(jns $A pid)" = "$(readlink /proc/$pp/ns/pid)" ] && [ "$(jns $A ipc)" = "$(readlink /proc/$pp/ns/ipc)" ] && [ "$(jns $A pid)" != "$(readlink /proc/self/ns/pid)" ]'
for ns in user mnt cgroup; do
        check_all "app workload: $ns namespace is not the host's" '[ "$(jns $A '$ns')" != "$(readlink /proc/self/ns/'$ns')" ]'
done
check_all "app: state.json lists the host namespaces it shared" 'grep -q "\"host_namespaces\":\[\"network\",\"uts\"\]" "$T/run/app/state.json"'
# The pause's network namespace is the host's: an app container joining it by path under a
# profile without host_namespaces is refused at create, not let in by the path.
bundle app2 cri-container-hostnet.json "$pp"
: >"$T/log.json"
rt ci-untrusted create --bundle "$T/app2" --pid-file "$T/app2.pid" app2 >/dev/null 2>&1 </dev/null
st=$?
check_all "ci-untrusted: an app joining the hostNetwork pause by path is refused (125)" '[ $st = 125 ] && [ ! -e "$T/run/app2" ] && [ ! -e "$T/app2.pid" ]'
check_all "ci-untrusted: its log line says the joined namespace is the host's and names host_namespaces" \
        'log_has "refused: the spec joins /proc/$pp/ns/[a-z]*, which is the host.s [a-z]* namespace; the profile does not list it in host_namespaces (host_namespaces)"' ||
        diag "$(last_log)"
rt pod-host-network kill app KILL
rt pod-host-network delete --force app
rt pod-host-network kill pause KILL
rt pod-host-network delete --force pause
check_all "deleted" '[ ! -e "$T/run/app" ] && [ ! -e "$T/run/pause" ]'
audit_ns() { # ID: the netns and utsns controls of the container's last record
        python3 - "$T/audit.jsonl" "$1" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
recs = [r for r in recs if sys.argv[2] in json.dumps(r.get("outcome", r)) or ("oci container " + sys.argv[2]) in json.dumps(r)]
r = recs[-1]
for c in r["controls"]:
    if c["name"] in ("netns", "utsns", "ipcns", "pidns"):
        print(c["name"], c["planned"], c.get("detail", ""), "|", c.get("reason", ""))
PY
}
ap_audit=$(audit_ns pause 2>&1)
aa_audit=$(audit_ns app 2>&1)
check_all "audit: the pause's record has netns and utsns as the host's, naming host_namespaces" \
        'grep -q "^netns degraded the host.s network namespace (hostNetwork) | .*host_namespaces at " <<<"$ap_audit" && grep -q "^utsns degraded the host.s uts namespace" <<<"$ap_audit"' ||
        diag "$ap_audit"
check_all "audit: the app's record too (joined by path, found to be the host's)" \
        'grep -q "^netns degraded the host.s network namespace" <<<"$aa_audit" && grep -q "^utsns degraded" <<<"$aa_audit" && grep -q "^ipcns required" <<<"$aa_audit"' ||
        diag "$aa_audit"

# ---- moat run under the same profile: host_namespaces is for containers whose spec leaves a
# namespace out; a moat run makes its own, and explain says so ----
run_ns=$(cd "$T" && timeout 60 "$MOAT" run -p pod-host-network -- /bin/sh -c 'readlink /proc/self/ns/net; readlink /proc/self/ns/uts' 2>&1 </dev/null)
check_all "moat run -p pod-host-network: its own network and uts namespaces" \
        '[ "$(sed -n 1p <<<"$run_ns")" != "$(readlink /proc/self/ns/net)" ] && [ "$(sed -n 2p <<<"$run_ns")" != "$(readlink /proc/self/ns/uts)" ] && [ -n "$(sed -n 2p <<<"$run_ns")" ]' || diag "$run_ns"
why=$("$MOAT" explain -p pod-host-network 2>&1)
check_all "moat explain -p pod-host-network: the why list names host_namespaces and says moat run makes its own" \
        'grep -q "host-namespaces .*host_namespaces (.*pod-host-network.yaml:[0-9]*:[0-9]*): a moat oci container whose spec leaves out network, uts shares the host.s; moat run makes every namespace its own" <<<"$why"' || diag "$why"
tap_end
