#!/bin/bash
# SPDX-License-Identifier: MIT
# network: outbound (proxy mode) in the sandbox tier, against a fake internet this test builds
# in two network namespaces of its own and removes after: "inet" (DNS, HTTP, HTTPS on
# 198.51.100.10) and "host", where moat runs, with a veth between them as its only link and a
# listener on its own 127.0.0.1:9999 standing for the host's loopback services. moat's proxy
# resolves through the nameserver of the /etc/resolv.conf it sees: this test bind-mounts one
# naming 198.51.100.10 in a private mount namespace. No packet reaches the machine's own
# network namespace. As root and as moatuser; each check is observed from inside the workload.
set -u
source "$(dirname "$0")/../sandbox/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
        echo "1..0 # SKIP building the test bed needs root (network namespaces)"
        exit 77
fi
for tool in ip curl openssl python3 unshare; do
        if ! command -v $tool >/dev/null; then
                tap_skip "network test bed" "$tool is not installed"
                tap_end
                exit
        fi
done

source "$(dirname "$0")/bed-lib.sh"
net_cleanup() {
        bed_down
        rm -rf "$T"
}
trap net_cleanup EXIT
bed_up "" 0.0.0.0 pkg.test=198.51.100.10 evil.test=198.51.100.10 rebind.test=127.0.0.1 \
        meta.test=169.254.169.254 self.test=198.51.100.2 ||
        { tap_not_ok "build the test bed"; tap_end; exit; }

PROFILE=$T/nettest.yaml
write_profile "$PROFILE" nettest \
        'network:' '  outbound:' '    allow:' '      - pkg.test:443,80' '      - rebind.test:443,80' \
        '      - meta.test:80' '      - self.test:9999' 'filesystem:' '  bind:' '    - {source: ., target: /work, mode: rw}'

# in_bed USER COMMAND...: moat run -p nettest in the host namespace, resolver of the test bed.
in_bed() {
        local u=$1
        shift
        bed_exec bash -c "source '$(dirname "$0")/../sandbox/lib.sh' >/dev/null; rm -rf \"\$T\"; trap - EXIT; T='$T'; \
                        as_user '$u' '$MOAT' run -p '$PROFILE' -- $*"
}

# launcher_pid: the moat launcher running $PROFILE (its init and its proxy share its command
# line; the launcher is the one whose parent is not moat).
launcher_pid() {
        local f p pp
        for f in $(grep -lF -- "$PROFILE" /proc/[0-9]*/cmdline 2>/dev/null); do
                p=${f#/proc/}
                p=${p%/cmdline}
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = moat ] || continue
                pp=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
                [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = moat ] && continue
                echo "$p"
                return 0
        done
        return 1
}

CURL="curl -sS -k -o /dev/null -w %{http_code} --max-time 10"
for u in "${USERS[@]}"; do
        user_dir "$u" >/dev/null
        out=$(in_bed "$u" "$CURL https://pkg.test/" 2>&1)
        check_all "$u: an allowed name over HTTPS through the proxy: 200" '[ "$out" = 200 ]'
        [ "$out" = 200 ] || diag "$out"
        out=$(in_bed "$u" "curl -sS --max-time 10 http://pkg.test/" 2>&1)
        check_all "$u: an allowed name over plain HTTP (absolute-form request)" \
                '[[ "$out" == "hello from pkg.test"* ]]'
        out=$(in_bed "$u" "$CURL https://evil.test/" 2>&1)
        check_all "$u: a name not in the allowlist: 403" '[[ "$out" == *403* ]]'
        shown=$(as_user "$u" "$MOAT" audit show --network "$T/$u/audit.jsonl" 2>&1 | tail -n 1)
        check_all "$u: moat audit show --network prints the denial" \
                '[[ "$shown" == *"denied evil.test:443 x1 CONNECT not-in-allowlist"* ]]'
        rec=$(tail -n 1 "$T/$u/audit.jsonl")
        check_all "$u: audit: the denial with host, port and reason; the allowlist and its digest" \
                '[ "$(jq -r "[.network.denied, .network.destinations[0].host, .network.destinations[0].port, .network.destinations[0].reason, .network.allow[0], (.network.digest|length)] | @tsv" <<<"$rec")" = "$(printf "1\tevil.test\t443\tnot-in-allowlist\tpkg.test:443,80\t64")" ]'
        out=$(in_bed "$u" "$CURL https://198.51.100.10/" 2>&1)
        check_all "$u: a raw address not listed: 403" '[[ "$out" == *403* ]]'
        out=$(in_bed "$u" "$CURL http://pkg.test:8080/" 2>&1)
        check_all "$u: an allowed name on an unlisted port: 403" '[[ "$out" == *403* ]]'
        out=$(in_bed "$u" "$CURL --connect-to evil.test:443:pkg.test:443 https://evil.test/; echo rc=\$?" 2>&1)
        check_all "$u: CONNECT to an allowed name with another TLS server name fails" \
                '[[ "$out" != 200* && "$out" == *rc=[1-9]* ]]'
        out=$(in_bed "$u" "$CURL https://rebind.test/" 2>&1)
        check_all "$u: an allowed name that resolves to 127.0.0.1: 403" '[[ "$out" == *403* ]]'
        out=$(in_bed "$u" "$CURL http://meta.test/" 2>&1)
        check_all "$u: an allowed name that resolves to the metadata address: 403" '[[ "$out" == *403* ]]'
        out=$(in_bed "$u" "$CURL -x http://127.0.0.1:3128 --noproxy '' http://127.0.0.1:9999/" 2>&1)
        check_all "$u: the host's loopback listener through the proxy: 403" '[[ "$out" == *403* ]]'
        out=$(in_bed "$u" "$CURL http://self.test:9999/" 2>&1)
        check_all "$u: an allowed name that resolves to the host's own address: 403" \
                '[[ "$out" == *403* ]]'
        out=$(in_bed "$u" "$CURL --noproxy '*' http://127.0.0.1:9999/; echo rc=\$?" 2>&1)
        check_all "$u: the host's loopback listener directly: unreachable" '[[ "$out" == *rc=7* ]]'
        out=$(in_bed "$u" "$CURL --noproxy '*' -k https://198.51.100.10/; echo rc=\$?" 2>&1)
        check_all "$u: the test bed's address directly, without the proxy: unreachable" \
                '[[ "$out" == *rc=7* ]]'
        out=$(in_bed "$u" "bash -c 'echo x >/dev/udp/198.51.100.10/53 && echo sent'" 2>&1)
        check_all "$u: UDP (DNS) out of the sandbox: fails" '[[ "$out" != *sent* ]]'
        out=$(in_bed "$u" "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 8081)); print(\"bound\")'" 2>&1)
        abi=$("$MOAT" host --json 2>/dev/null | jq -r '.landlock_abi // 0')
        if [ "${abi:-0}" -ge 4 ]; then
                check_all "$u: Landlock (ABI $abi): the workload cannot bind a TCP port" \
                        '[[ "$out" != *bound* && "$out" == *PermissionError* ]]'
        else
                tap_skip "$u: Landlock TCP rules" "the kernel's Landlock ABI is ${abi:-0} (< 4)"
        fi
        out=$(in_bed "$u" "sh -c 'ip link set lo down; ip route add default dev lo; kill -9 -1; $CURL https://evil.test/'" 2>&1)
        check_all "$u: the workload cannot change the rules: still 403 after trying" \
                '[[ "$out" == *403* ]]'
        out=$(in_bed "$u" "git -c http.sslVerify=false ls-remote https://evil.test/repo.git 2>&1; echo rc=\$?" 2>&1)
        check_all "$u: git through the proxy: a name not listed is refused (403)" \
                '[[ "$out" == *403* && "$out" == *rc=128* ]]'
        out=$(in_bed "$u" "git -c http.sslVerify=false ls-remote https://pkg.test/repo.git 2>&1; echo rc=\$?" 2>&1)
        check_all "$u: git through the proxy: an allowed name reaches the server" \
                '[[ "$out" != *403* && "$out" != *"Could not resolve"* ]]'
        rec=$(tail -n 1 "$T/$u/audit.jsonl")
        check_all "$u: audit: an allowed connection with its address and bytes" \
                '[ "$(jq -r "[.network.allowed, .network.destinations[0].address, (.network.destinations[0].bytes_down > 0)] | @tsv" <<<"$rec")" = "$(printf "1\t198.51.100.10\ttrue")" ]'
done

# The shipped network-client profile runs, with its proxy variables, and refuses a name
# its example allowlist does not list.
out=$(bed_exec bash -c "source '$(dirname "$0")/../sandbox/lib.sh' >/dev/null; rm -rf \"\$T\"; trap - EXIT; \
                T='$T'; as_user root '$MOAT' run -p network-client -- sh -c \
                'echo \$https_proxy; $CURL https://pkg.test/'" 2>&1)
check_all "the shipped network-client profile runs: proxy set, an unlisted name 403" \
        '[[ "$out" == *"http://127.0.0.1:3128"* && "$out" == *403* ]]'
[[ "$out" == *403* ]] || diag "$out"

# The proxy killed mid-run: the sandbox keeps its loopback and nothing else.
# The workload waits for /work/go, which the test makes once the proxy is dead.
rm -f "$T/root/work/go"
in_bed root "sh -c 'while [ ! -e /work/go ]; do sleep 0.1; done; $CURL https://pkg.test/; echo rc=\$?'" \
        >"$T/died.out" 2>&1 &
runner=$!
for _ in $(seq 100); do
        moat=$(launcher_pid) && [ "$(pgrep -P "$moat" | wc -l)" -ge 2 ] && break
        sleep 0.1
done
# The proxy is moat's child whose own children are none and which is not the sandbox's init
# (init is the parent of the workload's sleep).
proxy=
for k in $(pgrep -P "$moat"); do
        [ -z "$(pgrep -P "$k")" ] && grep -q '^NoNewPrivs:\s*1' "/proc/$k/status" &&
                grep -q '^Seccomp:\s*2' "/proc/$k/status" && proxy=$k
done
check_all "the proxy runs with no_new_privs and a seccomp filter" '[ -n "$proxy" ]'
check_all "the proxy has no capabilities" \
        '[ -n "$proxy" ] && grep -qE "^CapEff:\s*0+$" "/proc/$proxy/status" && grep -qE "^CapBnd:\s*0+$" "/proc/$proxy/status"'
[ -n "$proxy" ] && kill -9 "$proxy"
touch "$T/root/work/go"
wait "$runner"
check_all "with the proxy dead, the allowed name is no longer reachable" \
        '! grep -q "^200" "$T/died.out" && grep -q "rc=[1-9]" "$T/died.out"'
check_all "audit: the proxy's death is recorded" \
        '[ "$(tail -n 1 "$T/root/audit.jsonl" | jq -r .network.proxy_died)" = true ]'

# No nameserver: the proxy cannot resolve, so the run does not start (125, the step named).
echo "# no nameserver" >"$T/resolv.conf"
out=$(in_bed root "true" 2>&1)
rc=$?
check_all "no resolver: exit 125 naming the egress proxy step" \
        '[ $rc -eq 125 ] && [[ "$out" == *"egress proxy"* ]]'
[[ "$out" == *"egress proxy"* ]] || diag "rc=$rc $out"
echo "nameserver 198.51.100.10" >"$T/resolv.conf"

# kill -9 of moat: the proxy and its connections go with it.
u=root
in_bed root "sleep 30" >/dev/null 2>&1 &
for _ in $(seq 50); do
        moat=$(launcher_pid) && [ "$(pgrep -P "$moat" | wc -l)" -ge 2 ] && break
        sleep 0.1
done
kids=$(pgrep -P "$moat" | tr '\n' ' ')
check_all "kill -9: moat runs with its children (init, proxy)" '[ $(wc -w <<<"$kids") -ge 2 ]'
kill -9 "$moat"
wait_gone $kids
check_all "kill -9 of moat leaves no proxy and no init" '[ -z "$left" ]'
[ -z "$left" ] || diag "left: $left"
tap_end
