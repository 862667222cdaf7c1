#!/bin/bash
# SPDX-License-Identifier: MIT
# network: outbound (proxy mode) in the vm tier: the guest has no network device; moat-init
# forwards 127.0.0.1:3128 in the guest over the virtio-serial port org.moat.net to moat's proxy.
# The test bed is the one of tests/integration/network/proxy.sh, in two network namespaces this
# test makes and removes: "inet" (DNS, HTTP, HTTPS on 198.51.100.10) and "host", where moat
# runs, with a veth between them and a listener on its own 127.0.0.1:9999; moat's proxy
# resolves through a /etc/resolv.conf bind-mounted in a private mount namespace. No packet
# reaches the machine's own network namespace. Every check is observed from inside the guest
# command, on the warm path (default) and the cold one (MOAT_VM_START=cold), as root (QEMU and
# the proxy as moat-vm, the decisions crossing the helper's pipe) and as moatuser.
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
[ "$(id -u)" = 0 ] || skip_all "building the test bed needs root (network namespaces)"
for tool in ip curl openssl python3 unshare jq; do
        command -v $tool >/dev/null || skip_all "$tool is not installed"
done

source "$MOAT_SOURCE_DIR/tests/integration/network/bed-lib.sh"
net_cleanup() {
        bed_down
        cleanup
}
trap net_cleanup EXIT
bed_up v 127.0.0.1 pkg.test=198.51.100.10 evil.test=198.51.100.10 rebind.test=127.0.0.1 ||
        { tap_not_ok "build the test bed"; tap_end; exit; }

PROFILE=$T/vmnet.yaml
cat >"$PROFILE" <<YAML
moat: 1
name: vmnet
trust: hostile
isolation: auto
max_tier: vm
filesystem:
  root: host-readonly
  tmpfs:
    - {target: /tmp, size: 64MiB}
network:
  outbound:
    allow:
      - pkg.test:443,80
      - rebind.test:443,80
resources:
  memory: 512MiB
  timeout: 5m
YAML
chmod 0644 "$PROFILE"

# in_bed USER COMMAND: moat run -p vmnet in the "host" namespace with the test bed's resolver.
in_bed() {
        local u=$1 d
        shift
        d=$(user_dir "$u")
        bed_exec setpriv --reuid="$u" --regid="$u" --init-groups --reset-env \
                env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$d/home" \
                XDG_CACHE_HOME="$d/home/.cache" XDG_CONFIG_HOME="$d/home/.config" \
                MOAT_AUDIT_LOG="$d/audit.log" MOAT_DATA_DIR="$MOAT_DATA_DIR" \
                MOAT_GUEST_INIT="$GUEST_INIT" MOAT_GUEST_KERNEL="$GUEST_KERNEL" \
                MOAT_VM_START="${MOAT_VM_START:-}" LANG=C \
                sh -c 'cd / && exec "$@"' sh "$MOAT" run -q -p "$PROFILE" -- sh -c "$1" </dev/null
}

CURL="curl -sS -k -o /dev/null -w %{http_code} --max-time 20"
for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        out=$(in_bed "$u" "ls /sys/class/net; echo \$https_proxy; $CURL https://pkg.test/" 2>&1)
        check_all "$u: the guest has no interface but lo, the proxy variables, an allowed name over HTTPS: 200" \
                '[ "$out" = "$(printf "lo\nhttp://127.0.0.1:3128\n200")" ]'
        [ "$out" = "$(printf "lo\nhttp://127.0.0.1:3128\n200")" ] || diag "$out"
        check_all "$u: the run was in the vm tier, warm" \
                '[[ "$(tail -n 1 "$d/audit.log" | jq -r .tier_detail)" == *"warm start"* ]]'
        out=$(in_bed "$u" "$CURL https://evil.test/; echo; $CURL http://pkg.test:8080/; echo; $CURL https://rebind.test/; echo; $CURL -x http://127.0.0.1:3128 --noproxy '' http://127.0.0.1:9999/" 2>&1)
        check_all "$u: a name not listed, an unlisted port, a name resolving to 127.0.0.1, the host's loopback: 403 each" \
                '[ "$(grep -o 403 <<<"$out" | wc -l)" -ge 4 ] && [[ "$out" != *200* ]]'
        [ "$(grep -o 403 <<<"$out" | wc -l)" -ge 4 ] || diag "$out"
        rec=$(tail -n 1 "$d/audit.log")
        check_all "$u: audit: the proxy ran; 0 allowed, 4 denied with their hosts and reasons" \
                '[ "$(jq -r "[.network.allowed, .network.denied, ([.network.destinations[].host] | sort | join(\",\"))] | @tsv" <<<"$rec")" = "$(printf "0\t4\t127.0.0.1,evil.test,pkg.test,rebind.test")" ]'
        out=$(in_bed "$u" "$CURL --noproxy '*' https://198.51.100.10/; echo rc=\$?; $CURL --noproxy '*' http://127.0.0.1:9999/; echo rc=\$?" 2>&1)
        check_all "$u: the test bed's address and the host's loopback directly, without the proxy: unreachable" \
                '[[ "$out" == *rc=7*rc=7* && "$out" != *200* ]]'
        # the guest's forwarder, seen from the command: nobody, no_new_privs, no capability
        out=$(in_bed "$u" 'for f in /proc/[0-9]*/comm; do [ "$(cat $f 2>/dev/null)" = moat-egress ] && grep -E "^(Uid|NoNewPrivs|CapEff|CapPrm):" ${f%comm}status; done' 2>&1)
        check_all "$u: the guest's forwarder runs as nobody with no_new_privs and no capability" \
                '[ "$(tr -s "\t\n" "  " <<<"$out")" = "Uid: 65534 65534 65534 65534 CapPrm: 0000000000000000 CapEff: 0000000000000000 NoNewPrivs: 1 " ]'
        [ "$(tr -s "\t\n" "  " <<<"$out")" = "Uid: 65534 65534 65534 65534 CapPrm: 0000000000000000 CapEff: 0000000000000000 NoNewPrivs: 1 " ] || diag "$out"
        shown=$(setpriv --reuid="$u" --regid="$u" --init-groups "$MOAT" audit show --network "$d/audit.log" 2>&1)
        check_all "$u: moat audit show --network prints the denial" \
                '[[ "$shown" == *"denied evil.test:443 x1 CONNECT not-in-allowlist"* ]]'
        [[ "$shown" == *"denied evil.test:443"* ]] || diag "$shown"
done

# Cold boot (libvirt): the same port.
u=${USERS[-1]}
d=$(user_dir "$u")
out=$(MOAT_VM_START=cold in_bed "$u" "ls /sys/class/net; $CURL https://pkg.test/; echo; $CURL https://evil.test/" 2>&1)
check_all "$u, cold boot: lo only, an allowed name 200, a name not listed 403" \
        '[[ "$(tr "\n" " " <<<"$out")" == "lo 200 "*403* ]]'
[[ "$(tr "\n" " " <<<"$out")" == "lo 200 "*403* ]] || diag "$out"
rec=$(tail -n 1 "$d/audit.log")
check_all "$u, cold boot: audit: 1 allowed with its address and bytes, 1 denied" \
        '[ "$(jq -r "[.network.allowed, .network.denied, (.tier_detail | contains(\"cold boot\"))] | @tsv" <<<"$rec")" = "$(printf "1\t1\ttrue")" ]'

# kill -9 of moat: the proxy goes with it (and the guest: libvirt or the warm janitor). moat
# execs moat-vm-run; the proxy is a fork of it (or, for root, of its moat-vm helper) that has
# no_new_privs, a seccomp filter and no capability.
in_bed "$u" "sleep 60" >/dev/null 2>&1 &
descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
proxy= moat=
for _ in $(seq 600); do
        for f in $(grep -lF -- "$PROFILE" /proc/[0-9]*/cmdline 2>/dev/null); do
                p=${f#/proc/}
                p=${p%/cmdline}
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = moat-vm-run ] || continue
                pp=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
                [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = moat-vm-run ] && continue
                moat=$p
                for k in $(descendants "$moat"); do
                        [ "$(cat "/proc/$k/comm" 2>/dev/null)" = moat-vm-run ] &&
                                grep -q '^NoNewPrivs:\s*1' "/proc/$k/status" &&
                                grep -q '^Seccomp:\s*2' "/proc/$k/status" &&
                                grep -qE '^CapEff:\s*0+$' "/proc/$k/status" && proxy=$k
                done
        done
        [ -n "$proxy" ] && pgrep -f "sleep 60" >/dev/null && break
        sleep 0.1
done
check_all "kill -9: the proxy runs beside the guest, confined (no_new_privs, seccomp, no capabilities)" \
        '[ -n "$proxy" ]'
[ -n "$proxy" ] && kill -9 "$moat"
for _ in $(seq 50); do alive "$proxy" || break; sleep 0.1; done
check_all "kill -9 of moat leaves no proxy" '[ -n "$proxy" ] && ! alive "$proxy"'
tap_end
