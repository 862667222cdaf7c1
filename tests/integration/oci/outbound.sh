#!/bin/bash
# SPDX-License-Identifier: MIT
# `moat oci` under a profile with network: outbound (proxy mode), against a fake internet this
# test builds in two network namespaces of its own and removes after: "inet" (DNS, HTTP, HTTPS
# on 198.51.100.10, tests/integration/network/netbed.py) and "host", where the runtime's verbs
# run, with a veth between them as its only link and a listener on its own 127.0.0.1:9999
# standing for the host's loopback services; the resolver is the test bed's, through a
# resolv.conf bind-mounted in a private mount namespace. No packet reaches the machine's own
# network namespace. The container's image root is the host's / (read-only), for curl and
# python3. Checked from inside the container:
#   - the proxy variables are set; an allowed name over HTTPS gets 200; a name not listed, a
#     raw address, an unlisted port and a name resolving to 127.0.0.1 get 403; the host's
#     loopback listener and the test bed directly (no proxy) are unreachable; Landlock allows
#     TCP connect to the proxy port only (another loopback port: permission denied); the
#     workload cannot change its network (ip link/route fail) and the answers stay the same;
#   - the proxy's keeper runs as nobody with no_new_privs, the proxy with seccomp and no
#     capabilities, outside the engine's stdio; delete's audit record lists the decisions, and
#     nothing of the proxy is left after delete;
#   - kill -9 of the container's init takes the keeper and the proxy with it; a proxy killed
#     mid-run is in the record (proxy_died);
#   - a network namespace given by path (a pod's) is refused at create, the last log.json line
#     says why, nothing is left in --root;
#   - a profile with via: transparent is refused at create (moat run's only), nothing is left;
#   - no nameserver for the proxy: create exits 125 naming the egress proxy, nothing is left.
# Root; TAP.
set -uo pipefail
: "${MOAT:?}" "${MOAT_SOURCE_DIR:?}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tap.sh"
if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP building the test bed needs root (network namespaces)"
        exit 0
fi
for tool in ip curl openssl python3 unshare jq; do
        if ! command -v $tool >/dev/null; then
                [ "${MOAT_MUST_WORK:-0}" = 1 ] && { echo "not ok 1 - $tool is not installed"; echo "1..1"; exit 1; }
                echo "1..0 # SKIP $tool is not installed"
                exit 0
        fi
done
T=$(mktemp -d /tmp/moat-oci-outbound-XXXXXX)
chmod 0755 "$T"
source "$here/../network/bed-lib.sh"
mkdir "$T/oci" "$T/profiles"
ln -s "$(realpath "$MOAT")" "$T/oci/nettest"
rt() { # ARGS...: the runtime as the engine calls it, in the host namespace of the test bed
        bed_exec env MOAT_DATA_DIR="$MOAT_SOURCE_DIR" MOAT_PROFILE_PATH="$T/profiles" \
                MOAT_AUDIT_LOG="$T/audit.jsonl" HOME="$T" \
                timeout 60 "$T/oci/nettest" --root "$T/run" --log "$T/log.json" --log-format json "$@"
}
cleanup() {
        for id in c1 c2 c3 pod tr nores; do rt delete --force $id >/dev/null 2>&1; done
        bed_down
        [ -n "${MOAT_TEST_KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

bed_up o 0.0.0.0 pkg.test=198.51.100.10 evil.test=198.51.100.10 rebind.test=127.0.0.1 ||
        { tap_not_ok "build the test bed"; tap_end; exit; }
cat >"$T/profiles/nettest.yaml" <<'EOF'
moat: 1
extends: ci-untrusted
name: nettest
network:
  outbound:
    allow:
      - pkg.test:443,80
      - rebind.test:443
EOF

# bundle NAME SCRIPT [NETNS_PATH]: the host's / as the image root, SCRIPT run by sh.
bundle() {
        mkdir -p "$T/$1"
        python3 - "$MOAT_SOURCE_DIR/tests/golden/oci/specs/ctr-run-rootfs.json" "$T/$1/config.json" \
                "$2" "${3:-}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["root"] = {"path": "/", "readonly": True}
d["process"]["args"] = ["/bin/sh", "-c", sys.argv[3]]
d["process"]["terminal"] = False
d["linux"].pop("cgroupsPath", None)
if sys.argv[4]:
    for n in d["linux"]["namespaces"]:
        if n["type"] == "network":
            n["path"] = sys.argv[4]
json.dump(d, open(sys.argv[2], "w"))
PY
}
last_log() { tail -1 "$T/log.json" 2>/dev/null; }
state_get() { jq -r ".$2 // empty" "$T/run/$1/state.json" 2>/dev/null; }

CURL="curl -s -k -o /dev/null -w %{http_code}/%{http_connect} --max-time 10"
# The workload: one line per check, then it sleeps so the processes can be looked at while it
# runs; the test ends it with kill TERM.
cat >"$T/work.sh" <<EOF
echo "proxy=\$https_proxy"
echo "allowed=\$($CURL https://pkg.test/)"
echo "plain=\$(curl -sS --max-time 10 http://pkg.test/)"
echo "evil=\$($CURL https://evil.test/)"
echo "rawip=\$($CURL https://198.51.100.10/)"
echo "port=\$($CURL http://pkg.test:8080/)"
echo "rebind=\$($CURL https://rebind.test/)"
x=\$($CURL --noproxy '*' http://127.0.0.1:9999/); echo "hostlo=\$x rc\$?"
x=\$($CURL --noproxy '*' https://198.51.100.10/); echo "direct=\$x rc\$?"
python3 -c '
import socket
s = socket.socket()
try:
    s.connect(("127.0.0.1", 9))
except OSError as e:
    print("ll=%s" % type(e).__name__)'
x=\$(ip link set lo down 2>&1; ip route add default dev lo 2>&1); echo "ipchange=\$x" | tr '\\n' ' '; echo
echo "after=\$($CURL https://evil.test/) \$($CURL https://pkg.test/)"
echo done
exec sleep 60
EOF
bundle c1 "$(cat "$T/work.sh")"
rt create --bundle "$T/c1" --pid-file "$T/c1.pid" c1 >"$T/c1.out" 2>&1 </dev/null
st=$?
check_all "create with an outbound profile exits 0" '[ $st = 0 ]' || diag "$(last_log)"
rt start c1 >/dev/null 2>&1
for _ in $(seq 300); do grep -q '^done' "$T/c1.out" && break; sleep 0.1; done
got() { sed -n "s/^$1=//p" "$T/c1.out"; }
check_all "inside: the proxy variables point at 127.0.0.1:3128" '[ "$(got proxy)" = http://127.0.0.1:3128 ]'
check_all "inside: an allowed name over HTTPS through the proxy: 200" '[[ "$(got allowed)" == 200/* ]]' ||
        diag "$(cat "$T/c1.out")"
check_all "inside: an allowed name over plain HTTP" '[[ "$(got plain)" == "hello from pkg.test"* ]]'
check_all "inside: a name not in the allowlist: 403" '[[ "$(got evil)" == *403* ]]'
check_all "inside: a raw address not listed: 403" '[[ "$(got rawip)" == *403* ]]'
check_all "inside: an allowed name on an unlisted port: 403" '[[ "$(got port)" == *403* ]]'
check_all "inside: an allowed name resolving to 127.0.0.1: 403" '[[ "$(got rebind)" == *403* ]]'
check_all "inside: the host's loopback listener directly: unreachable" '[[ "$(got hostlo)" == *rc7 ]]'
check_all "inside: the test bed directly, without the proxy: unreachable" '[[ "$(got direct)" == *rc7 ]]'
check_all "inside: the workload cannot change its network (ip link/route: not permitted)" \
        '[[ "$(got ipchange)" == *"Operation not permitted"* ]]' ||
        diag "$(got ipchange)"
check_all "inside: after trying, a name not listed is still 403 and the allowed one still 200" \
        '[[ "$(got after)" == "000/403 200/200" ]]' || diag "after=$(got after)"
abi=$("$MOAT" host --json 2>/dev/null | jq -r '.landlock_abi // 0')
if [ "${abi:-0}" -ge 4 ]; then
        check_all "inside: Landlock (ABI $abi): TCP connect to a port other than the proxy's is denied" \
                '[ "$(got ll)" = PermissionError ]' || diag "ll=$(got ll)"
else
        tap_skip "inside: Landlock TCP rules" "the kernel's Landlock ABI is ${abi:-0} (< 4)"
fi

keeper=$(state_get c1 proxy_keeper_pid)
proxy=$(pgrep -P "${keeper:-0}" | head -1)
check_all "the proxy's keeper runs as nobody with no_new_privs, no capabilities" \
        '[ -n "$keeper" ] && alive "$keeper" && grep -qE "^Uid:\s+65534\s+65534\s+65534" /proc/$keeper/status && grep -qE "^NoNewPrivs:\s*1" /proc/$keeper/status && grep -qE "^CapEff:\s*0+$" /proc/$keeper/status && grep -qE "^CapBnd:\s*0+$" /proc/$keeper/status'
check_all "the keeper is not dumpable (its /proc entries belong to root, not to nobody)" \
        '[ -n "$keeper" ] && [ "$(stat -c %u "/proc/$keeper/mem")" = 0 ]'
check_all "the proxy runs with a seccomp filter and no capabilities" \
        '[ -n "$proxy" ] && grep -qE "^Seccomp:\s*2" /proc/$proxy/status && grep -qE "^CapEff:\s*0+$" /proc/$proxy/status'
stdio_null() { for f in 0 1 2; do [ "$(readlink "/proc/$1/fd/$f")" = /dev/null ] || return 1; done; }
check_all "the keeper holds none of the engine's stdio" '[ -n "$keeper" ] && stdio_null "$keeper"'
check_all "the keeper and the proxy are in the runtime's network namespace, not the container's" \
        '[ -n "$proxy" ] && [ "$(readlink /proc/$proxy/ns/net)" = "$(ip netns exec "$NS_HOST" readlink /proc/self/ns/net)" ]'
rt kill c1 TERM >/dev/null 2>&1
for _ in $(seq 100); do alive "$(cat "$T/c1.pid")" || break; sleep 0.1; done
rt delete c1 >/dev/null 2>&1
check_all "delete exits 0" '[ $? = 0 ]'
rec=$(tail -n 1 "$T/audit.jsonl" 2>/dev/null)
check_all "audit at delete: proxy mode, the allowlist, its digest, the proxy started" \
        '[ "$(jq -r "[.network.mode, .network.allow[0], (.network.digest|length), .network.proxy_started] | @tsv" <<<"$rec")" = "$(printf "proxy\tpkg.test:443,80\t64\ttrue")" ]' ||
        diag "$(jq -c .network <<<"$rec")"
check_all "audit at delete: the denials, with host, port and reason" \
        '[ "$(jq -r ".network.destinations[] | select(.decision == \"denied\" and .host == \"evil.test\") | [.port, .reason] | @tsv" <<<"$rec")" = "$(printf "443\tnot-in-allowlist")" ] && [ "$(jq -r .network.denied <<<"$rec")" -ge 4 ]'
check_all "audit at delete: the allowed connection with its address and bytes" \
        '[ "$(jq -r ".network.destinations[] | select(.decision == \"allowed\" and .port == 443) | [.host, .address, (.bytes_down > 0)] | @tsv" <<<"$rec")" = "$(printf "pkg.test\t198.51.100.10\ttrue")" ]'
shown=$("$MOAT" audit show --network "$T/audit.jsonl" 2>&1)
check_all "moat audit show --network prints the container's denial" \
        '[[ "$shown" == *"denied evil.test:443 x2 CONNECT not-in-allowlist"* ]]' || diag "$shown"
check_all "after delete: no keeper, no proxy, no state left" \
        '! alive "$keeper" && ! alive "${proxy:-0}" && [ ! -e "$T/run/c1" ]'

# kill -9 of the container's init: the keeper and the proxy go with it.
bundle c2 "sleep 60"
rt create --bundle "$T/c2" --pid-file "$T/c2.pid" c2 >/dev/null 2>&1 </dev/null
rt start c2 >/dev/null 2>&1
keeper=$(state_get c2 proxy_keeper_pid)
proxy=$(pgrep -P "${keeper:-0}" | head -1)
check_all "kill -9: the keeper and the proxy run" '[ -n "$keeper" ] && alive "$keeper" && [ -n "$proxy" ] && alive "$proxy"'
kill -9 "$(cat "$T/c2.pid")"
for _ in $(seq 30); do alive "$keeper" || alive "$proxy" || break; sleep 0.1; done
check_all "kill -9 of the container's init leaves no keeper and no proxy" \
        '! alive "$keeper" && ! alive "$proxy"'
rt delete c2 >/dev/null 2>&1
check_all "its record says the proxy ran" \
        '[ "$(tail -n 1 "$T/audit.jsonl" | jq -r .network.proxy_started)" = true ]'

# The proxy killed while the container runs: the record says so (the workload then reaches
# nothing: the network namespace has only its loopback, checked in network-proxy).
bundle c3 "sleep 60"
rt create --bundle "$T/c3" --pid-file "$T/c3.pid" c3 >/dev/null 2>&1 </dev/null
rt start c3 >/dev/null 2>&1
keeper=$(state_get c3 proxy_keeper_pid)
proxy=$(pgrep -P "${keeper:-0}" | head -1)
[ -n "$proxy" ] && kill -9 "$proxy"
sleep 0.3
rt kill c3 KILL >/dev/null 2>&1
for _ in $(seq 30); do alive "$keeper" || break; sleep 0.1; done
rt delete c3 >/dev/null 2>&1
check_all "the proxy killed mid-run: the record says the proxy died" \
        '[ -n "$proxy" ] && [ "$(tail -n 1 "$T/audit.jsonl" | jq -r "[.network.proxy_started, .network.proxy_died] | @tsv")" = "$(printf "true\ttrue")" ]'

# A pod's network namespace given by path: refused at create.
ip netns add "$NS_HOST-pod"
bundle pod "true" "/var/run/netns/$NS_HOST-pod"
rt create --bundle "$T/pod" pod >/dev/null 2>&1 </dev/null
st=$?
ip netns del "$NS_HOST-pod"
check_all "a network namespace given by path: create exits 125" '[ $st = 125 ]'
check_all "the last log.json line is the refusal naming the namespace and the proxy" \
        'last_log | grep -q "\"level\":\"error\"" && last_log | grep -q "refused: .*joins the network namespace /var/run/netns/$NS_HOST-pod, and profile nettest has network: outbound"' ||
        diag "$(last_log)"
check_all "the refused pod container leaves nothing in --root" '[ ! -e "$T/run/pod" ]'

# via: transparent is moat run's only: refused at create, before anything exists.
sed 's/^name: nettest$/name: nettr/; s/^  outbound:$/  outbound:\n    via: transparent/' \
        "$T/profiles/nettest.yaml" >"$T/profiles/nettr.yaml"
ln -s "$(realpath "$MOAT")" "$T/oci/nettr"
bundle tr "true"
bed_exec env MOAT_DATA_DIR="$MOAT_SOURCE_DIR" MOAT_PROFILE_PATH="$T/profiles" \
        MOAT_AUDIT_LOG="$T/audit.jsonl" HOME="$T" timeout 60 "$T/oci/nettr" --root "$T/run" \
        --log "$T/log.json" --log-format json create --bundle "$T/tr" tr >/dev/null 2>&1 </dev/null
st=$?
check_all "via: transparent under the OCI runtime: create exits 125 naming it and via: proxy" \
        '[ $st = 125 ] && last_log | grep -q "refused: profile nettr has network: outbound with via: transparent.*use via: proxy"' ||
        diag "$st $(last_log)"
check_all "the refused transparent container leaves nothing in --root" '[ ! -e "$T/run/tr" ]'

# The proxy cannot resolve: the container is not created (fail closed, the step named).
echo "# no nameserver" >"$T/resolv.conf"
bundle nores "true"
rt create --bundle "$T/nores" nores >/dev/null 2>&1 </dev/null
st=$?
check_all "no nameserver: create exits 125 naming the egress proxy" \
        '[ $st = 125 ] && grep -q "egress proxy did not start: no nameserver" "$T/log.json" && last_log | grep -q "step egress proxy"' ||
        diag "$(tail -2 "$T/log.json")"
check_all "no nameserver: nothing is left in --root, no keeper runs" \
        '[ ! -e "$T/run/nores" ] && ! pgrep -u 65534 -f "$T/oci/nettest" >/dev/null'
tap_end
