#!/bin/bash
# SPDX-License-Identifier: MIT
# The transparent mode's nftables ruleset (launcher/net/nft-rules.c, printed by nft-rules-print
# from allowlist rules) as the kernel enforces it. A user and network namespace of the test's
# own stands for the sandbox: its root (uid 0 in the user namespace, every capability over the
# network namespace, nothing over the host's) loads the ruleset with `nft -f` and adds one pin
# as the DNS stub would, then a workload runs there with no capabilities left (setpriv: empty
# bounding set, no_new_privs) and, from inside:
#   - reaches a CIDR rule's address on its port, and a pinned address on the pinned rule's port;
#   - cannot reach the same address on another port, an address no rule lists, or a pinned
#     address on a port its rule does not give (rejected at once, not timed out);
#   - cannot send UDP anywhere but its own loopback (where the DNS stub listens); a query to
#     port 53 of any address, UDP or TCP, is answered by a stand-in for the stub on the
#     sandbox's own 127.0.0.1:53 (started by the sandbox's root) and never reaches the server;
#   - reaches its own loopback;
#   - cannot change the rules (nft add rule, add element, flush ruleset all refused), and the
#     unlisted address is still unreachable after it tried.
# The servers live in a network namespace the test makes, joined to the sandbox's by a veth made
# directly in the two namespaces: nothing is routed or sent in the machine's own namespace.
set -u
source "$(dirname "$0")/../tap.sh"

PRINT=${MOAT_BUILD_DIR:-}/tests/integration/network/nft-rules-print
STUB=${MOAT_BUILD_DIR:-}/tests/integration/network/dns-stub-run
if [ "$(id -u)" -ne 0 ]; then
        echo "1..0 # SKIP needs root (the test bed's network namespaces)"
        exit 77
fi
for tool in ip nft unshare setpriv python3 timeout; do
        if ! command -v $tool >/dev/null; then
                tap_skip "nft ruleset test bed" "$tool is not installed"
                tap_end
                exit
        fi
done
[ -x "$PRINT" ] && [ -x "$STUB" ] || { echo "1..0 # SKIP nft-rules-print or dns-stub-run not built"; exit 77; }

T=$(mktemp -d /tmp/moat-nft-test.XXXXXX)
NS_SRV=moat-nftt-srv-$$
NS_HOST=moat-nftt-host-$$
SBX_PID=
SRV_PID=
cleanup() {
        [ -n "$SBX_PID" ] && kill "$SBX_PID" 2>/dev/null
        [ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null
        [ -s "$T/stub.pid" ] && kill "$(cat "$T/stub.pid")" 2>/dev/null
        [ -s "$T/stubrun.pid" ] && kill "$(cat "$T/stubrun.pid")" 2>/dev/null
        ip netns del "$NS_SRV" 2>/dev/null
        ip netns del "$NS_HOST" 2>/dev/null
        rm -rf "$T"
}
trap cleanup EXIT

"$PRINT" 10.77.0.1/32:80 pinned.test:80 '*.cdn.test:443' >"$T/rules.nft"
check_all "nft-rules-print wrote a ruleset" '[ -s "$T/rules.nft" ]'
"$PRINT" --pin 10.77.0.3 0 pinned.test:80 >"$T/pin.nft"
check_all "nft-rules-print wrote a pin" '[ -s "$T/pin.nft" ]'

# The servers: TCP 80 and 5201 on every address, UDP 53 and 9999 counted in a file.
ip netns add "$NS_SRV" || { tap_not_ok "make the server namespace"; tap_end; exit; }
ip -n "$NS_SRV" link set lo up
cat >"$T/srv.py" <<'PY'
import selectors, socket, sys
RECORDS = {"pkg.test": "198.51.100.5", "evil.test": "198.51.100.6", "rebind.test": "127.0.0.1"}
sel = selectors.DefaultSelector()
for port in (80, 5201, 7005):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64); sel.register(s, selectors.EVENT_READ, "tcp")
for port in (53, 9999):
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", port))
    sel.register(u, selectors.EVENT_READ, "udp")
open(sys.argv[1] + ".ready", "w").close()
while True:
    for key, _ in sel.select():
        if key.data == "tcp":
            c, _ = key.fileobj.accept(); c.close()
        else:
            d, a = key.fileobj.recvfrom(2048)
            port = key.fileobj.getsockname()[1]
            with open(sys.argv[1], "a") as f: f.write("%s %d\n" % (a[0], port))
            if port == 53 and len(d) > 12:
                off, labels = 12, []
                while off < len(d) and d[off]:
                    labels.append(d[off + 1:off + 1 + d[off]].decode().lower()); off += 1 + d[off]
                with open(sys.argv[1] + ".dns", "a") as f: f.write(".".join(labels) + "\n")
                ip = RECORDS.get(".".join(labels))
                qtype = d[off + 1] << 8 | d[off + 2]
                ans = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + socket.inet_aton(ip) if ip and qtype == 1 else b""
                hdr = d[:2] + (b"\x81\x80" if ip else b"\x81\x83") + b"\x00\x01" + (b"\x00\x01" if ans else b"\x00\x00") + b"\x00\x00\x00\x00"
                key.fileobj.sendto(hdr + d[12:off + 5] + ans, a)
PY
ip netns exec "$NS_SRV" python3 "$T/srv.py" "$T/udp.log" &
SRV_PID=$!

# A stand-in for moat's DNS stub on the sandbox's own 127.0.0.1:53, UDP and TCP: "stub".
cat >"$T/stub.py" <<PY
import selectors, socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 53))
t = socket.socket(); t.bind(("127.0.0.1", 53)); t.listen(8)
sel = selectors.DefaultSelector()
sel.register(u, selectors.EVENT_READ); sel.register(t, selectors.EVENT_READ)
open("$T/stub.ready", "w").close()
while True:
    for key, _ in sel.select():
        if key.fileobj is u:
            d, a = u.recvfrom(512); u.sendto(b"stub", a)
        else:
            c, _ = t.accept(); c.sendall(b"stub"); c.close()
PY

# The sandbox's side: wait for the veth, address it, load the rules and the pin as its root,
# then run the workload's checks with no capabilities. Each check prints "NAME rc".
cat >"$T/workload.sh" <<SH
PRINT=$PRINT
SH
cat >>"$T/workload.sh" <<'SH'
tcp() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; echo "$3 $?"; }
udp() { timeout 3 bash -c "echo x >/dev/udp/$1/$2" 2>/dev/null; echo "$3 $?"; }
echo "caps $(awk '/^CapEff/ {print $2}' /proc/self/status)"
tcp 10.77.0.1 80 cidr-allowed
tcp 10.77.0.1 5201 cidr-other-port
tcp 10.77.0.2 80 unlisted-address
tcp 10.77.0.3 80 pinned-allowed
tcp 10.77.0.3 5201 pinned-other-port
tcp 10.77.0.4 80 netlink-pinned-allowed
tcp 10.77.0.4 7005 netlink-pinned-range
tcp 10.77.0.4 5201 netlink-pinned-other-port
udp 10.77.0.1 9999 udp-echo
python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(b"q", ("10.77.0.1", 53)); d, a = s.recvfrom(64); assert d == b"stub" and a == ("10.77.0.1", 53)' 2>/dev/null
echo "dns-udp-redirected $?"
python3 -c 'import socket; c=socket.create_connection(("10.77.0.2", 53), 2); assert c.recv(64) == b"stub"' 2>/dev/null
echo "dns-tcp-redirected $?"
udp 127.0.0.1 53 udp-loopback
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 8053)); s.listen(1); c=socket.create_connection(("127.0.0.1", 8053), 2)' 2>/dev/null
echo "tcp-loopback $?"
"$PRINT" --pin-netlink 10.77.0.2 0 evil.test:80 2>/dev/null; echo "netlink-pin $?"
nft add rule inet moat out accept 2>/dev/null; echo "nft-add-rule $?"
nft add element inet moat cidr4 '{ 10.77.0.2 . 80 }' 2>/dev/null; echo "nft-add-element $?"
nft flush ruleset 2>/dev/null; echo "nft-flush $?"
tcp 10.77.0.2 80 unlisted-after-tries
SH
cat >"$T/sandbox.sh" <<SH
PRINT=$PRINT
for i in \$(seq 100); do ip link show sb0 >/dev/null 2>&1 && break; sleep 0.05; done
ip link set lo up && ip addr add 10.77.0.100/24 dev sb0 && ip link set sb0 up || exit 11
nft -f "$T/rules.nft" || exit 12
nft -f "$T/pin.nft" || exit 13
"$PRINT" --pin-netlink 10.77.0.4 0 pinned.test:80,7000-7010 || exit 15
python3 "$T/stub.py" &
echo \$! >"$T/stub.pid"
for i in \$(seq 100); do [ -e "$T/stub.ready" ] && break; sleep 0.05; done
nft -j list ruleset >"$T/readback.json" || exit 14
[ -e "$T/go" ] || sleep 0.2
exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs bash "$T/workload.sh" >"$T/results"
SH
for i in $(seq 100); do [ -e "$T/udp.log.ready" ] && break; sleep 0.05; done
unshare -Urn bash "$T/sandbox.sh" &
SBX_PID=$!
sleep 0.1
ip link add st0 netns "$NS_SRV" type veth peer name sb0 netns "$SBX_PID" &&
        ip -n "$NS_SRV" addr add 10.77.0.1/24 dev st0 &&
        ip -n "$NS_SRV" addr add 10.77.0.2/24 dev st0 &&
        ip -n "$NS_SRV" addr add 10.77.0.3/24 dev st0 &&
        ip -n "$NS_SRV" addr add 10.77.0.4/24 dev st0 &&
        ip -n "$NS_SRV" addr add 198.51.100.5/24 dev st0 &&
        ip -n "$NS_SRV" addr add 198.51.100.6/24 dev st0 &&
        ip -n "$NS_SRV" link set st0 up
touch "$T/go"
wait "$SBX_PID"
rc=$?
SBX_PID=
check_all "the sandbox's root loaded the ruleset and the pin (nft -f), before dropping its capabilities" \
        '[ $rc -eq 0 ]' || diag "sandbox.sh rc=$rc"
check_all "read back: one table, inet moat: the DNS redirect (nat), the output and input chains at policy drop" \
        '[ "$(jq -c "[.nftables[] | select(.table) | .table | [.family, .name]]" "$T/readback.json")" = "[[\"inet\",\"moat\"]]" ] && [ "$(jq -c "[.nftables[] | select(.chain) | .chain | [.name, .type, .hook, .policy]]" "$T/readback.json")" = "[[\"dns\",\"nat\",\"output\",\"accept\"],[\"out\",\"filter\",\"output\",\"drop\"],[\"in\",\"filter\",\"input\",\"drop\"]]" ]'
res() { awk -v k="$1" '$1 == k {print $2}' "$T/results"; }
check_all "the workload runs with no effective capabilities" '[ "$(res caps)" = 0000000000000000 ]'
check_all "TCP to a CIDR rule's address on its port connects" '[ "$(res cidr-allowed)" = 0 ]'
check_all "TCP to a pinned address on its rule's port connects" '[ "$(res pinned-allowed)" = 0 ]'
check_all "TCP to an address pinned over netlink (nft-pin.c), on its rule's port, connects" '[ "$(res netlink-pinned-allowed)" = 0 ]'
check_all "TCP to an address pinned over netlink, inside its rule's port range, connects" '[ "$(res netlink-pinned-range)" = 0 ]'
check_all "TCP to an address pinned over netlink, on a port its rule does not give, fails" '[ "$(res netlink-pinned-other-port)" = 1 ]'
check_all "TCP to a CIDR rule's address on another port fails" '[ "$(res cidr-other-port)" = 1 ]'
check_all "TCP to an address no rule lists fails" '[ "$(res unlisted-address)" = 1 ]'
check_all "TCP to a pinned address on a port its rule does not give fails" '[ "$(res pinned-other-port)" = 1 ]'
check_all "UDP to an allowed address fails" '[ "$(res udp-echo)" = 1 ]'
check_all "a UDP query to port 53 of an outside address is answered by the sandbox's own stub" '[ "$(res dns-udp-redirected)" = 0 ]'
check_all "a TCP connection to port 53 of an outside address reaches the sandbox's own stub" '[ "$(res dns-tcp-redirected)" = 0 ]'
check_all "no datagram reached the server" '[ ! -s "$T/udp.log" ]' || diag "$(cat "$T/udp.log")"
check_all "UDP to the sandbox's own loopback (the DNS stub's address) is sent" '[ "$(res udp-loopback)" = 0 ]'
check_all "TCP to the sandbox's own loopback connects" '[ "$(res tcp-loopback)" = 0 ]'
check_all "the workload cannot add a rule (nft add rule refused)" '[ -n "$(res nft-add-rule)" ] && [ "$(res nft-add-rule)" != 0 ]'
check_all "the workload cannot add an element to a set" '[ -n "$(res nft-add-element)" ] && [ "$(res nft-add-element)" != 0 ]'
check_all "the workload cannot flush the ruleset" '[ -n "$(res nft-flush)" ] && [ "$(res nft-flush)" != 0 ]'
check_all "the workload cannot pin an address over netlink as the DNS stub does" '[ -n "$(res netlink-pin)" ] && [ "$(res netlink-pin)" != 0 ]'
check_all "after those tries the unlisted address is still unreachable" '[ "$(res unlisted-after-tries)" = 1 ]'
diag "$(cat "$T/results" 2>/dev/null)"

# The DNS stub's path, unprivileged: a sandbox made by moatuser (its user namespace is
# moatuser's); its root loads the ruleset, opens a NETLINK_NETFILTER socket and hands it out;
# outside, in the machine's user namespace, the socket pins an address when the sender is
# moatuser (who owns the sandbox's user namespace) and not when it is nobody.
if id moatuser >/dev/null 2>&1 && id nobody >/dev/null 2>&1 && [ -x /usr/bin/python3 ]; then
        U=$T/u
        mkdir "$U" && chown moatuser "$U" && chmod 0755 "$T"
        cat >"$U/inner.sh" <<SH
nft -f "$T/rules.nft" || exit 12
/usr/bin/python3 -c 'import socket; n = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12); n.bind((0, 0)); u = socket.socket(socket.AF_UNIX); u.connect("$U/nl.sock"); socket.send_fds(u, [b"x"], [n.fileno()]); u.recv(1)' || exit 13
nft list set inet moat pin4 >"$U/set.txt" || exit 14
SH
        cat >"$T/outer.py" <<'PY'
import os, socket, subprocess, sys
u, printer = sys.argv[1], sys.argv[2]
l = socket.socket(socket.AF_UNIX); l.bind(u + "/nl.sock"); os.chmod(u + "/nl.sock", 0o777); l.listen(1)
open(u + "/listening", "w").close()
c, _ = l.accept()
_, fds, _, _ = socket.recv_fds(c, 16, 1)
os.dup2(fds[0], 3)
for who, addr in (("nobody", "10.77.0.8"), ("moatuser", "10.77.0.9")):
    rc = subprocess.call(["setpriv", "--reuid=" + who, "--regid=" + who, "--clear-groups", printer,
                          "--pin-netlink-fd", "3", addr, "0", "pinned.test:80"], pass_fds=(3,),
                         stderr=subprocess.DEVNULL)
    open(u + "/rc-" + who, "w").write(str(rc))
c.send(b"k")
PY
        python3 "$T/outer.py" "$U" "$PRINT" &
        OUT_PID=$!
        for i in $(seq 100); do [ -e "$U/listening" ] && break; sleep 0.05; done
        setpriv --reuid=moatuser --regid=moatuser --clear-groups unshare -Urn bash "$U/inner.sh"
        rc=$?
        wait "$OUT_PID"
        check_all "moatuser's sandbox root loaded the ruleset and handed out its netfilter socket" \
                '[ $rc -eq 0 ]' || diag "inner.sh rc=$rc"
        check_all "outside, nobody cannot pin through that socket" '[ "$(cat "$U/rc-nobody" 2>/dev/null)" = 1 ]'
        check_all "outside, moatuser (the owner of the sandbox's user namespace) pins through it" \
                '[ "$(cat "$U/rc-moatuser" 2>/dev/null)" = 0 ]'
        check_all "the set holds moatuser's pin and not nobody's" \
                'grep -q "10.77.0.9 . 80" "$U/set.txt" && ! grep -q "10.77.0.8" "$U/set.txt"' ||
                diag "$(cat "$U/set.txt" 2>/dev/null)"
else
        tap_skip "the DNS stub's pin from outside, unprivileged" "moatuser, nobody or /usr/bin/python3 missing" present
fi
# moat's DNS stub (launcher/net/dns-stub.c) as transparent mode runs it: the sandbox's root
# loads the ruleset for "pkg.test:80 rebind.test:80", binds UDP and TCP on its 127.0.0.1:53 and
# opens its netfilter socket, and hands the three out; the stub runs outside, in a network
# namespace of its own (routed to the servers' only) whose /etc/resolv.conf names the test
# DNS server. The workload (no capabilities) resolves through whatever its resolv.conf says
# (the redirect brings it to the stub):
#   - pkg.test resolves to its address and TCP to it on port 80 connects (pinned by the stub);
#   - the same address on another port fails;
#   - evil.test does not resolve (never forwarded: the server saw no query for it);
#   - rebind.test, which the server answers with 127.0.0.1, does not resolve (refused);
#   - an address no answer gave fails;
# and the stub's records say which names it allowed and denied, and why.
ip netns add "$NS_HOST" && ip -n "$NS_HOST" link set lo up &&
        ip link add hs0 netns "$NS_SRV" type veth peer name hh0 netns "$NS_HOST" &&
        ip -n "$NS_SRV" addr add 10.78.0.1/24 dev hs0 && ip -n "$NS_SRV" link set hs0 up &&
        ip -n "$NS_HOST" addr add 10.78.0.2/24 dev hh0 && ip -n "$NS_HOST" link set hh0 up &&
        ip -n "$NS_HOST" route add default via 10.78.0.1 ||
        tap_not_ok "make the stub's namespace"
echo "nameserver 10.78.0.1" >"$T/resolv.conf"
"$PRINT" pkg.test:80 rebind.test:80 >"$T/rules3.nft"
: >"$T/udp.log"
ip netns exec "$NS_HOST" unshare -m sh -c 'mount --bind "$1" /etc/resolv.conf && exec "$2" "$3" pkg.test:80 rebind.test:80' \
        sh "$T/resolv.conf" "$STUB" "$T/stub.sock" >"$T/stub.out" 2>"$T/stub.err" &
echo $! >"$T/stubrun.pid"
for i in $(seq 100); do grep -q listening "$T/stub.out" 2>/dev/null && break; sleep 0.05; done
cat >"$T/workload3.sh" <<'SH'
r() { python3 -c 'import socket, sys; print(socket.gethostbyname(sys.argv[1]))' "$1" 2>/dev/null || echo none; }
tcp() { timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; echo "$3 $?"; }
echo "pkg $(r pkg.test)"
tcp 198.51.100.5 80 pkg-80
tcp 198.51.100.5 5201 pkg-5201
echo "evil $(r evil.test)"
echo "rebind $(r rebind.test)"
tcp 198.51.100.6 80 unresolved-address
SH
cat >"$T/sandbox3.sh" <<SH
for i in \$(seq 100); do ip link show sb3 >/dev/null 2>&1 && break; sleep 0.05; done
ip link set lo up && ip addr add 10.79.0.103/24 dev sb3 && ip link set sb3 up && ip route add default via 10.79.0.1 || exit 11
nft -f "$T/rules3.nft" || exit 12
python3 -c '
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 53))
t = socket.socket(); t.bind(("127.0.0.1", 53)); t.listen(16)
n = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 12); n.bind((0, 0))
c = socket.socket(socket.AF_UNIX); c.connect("$T/stub.sock")
socket.send_fds(c, [b"x"], [u.fileno(), t.fileno(), n.fileno()])
assert c.recv(1) == b"k"
' || exit 13
exec setpriv --bounding-set=-all --inh-caps=-all --no-new-privs bash "$T/workload3.sh" >"$T/results3"
SH
unshare -Urn bash "$T/sandbox3.sh" &
SBX_PID=$!
sleep 0.1
ip link add st3 netns "$NS_SRV" type veth peer name sb3 netns "$SBX_PID" &&
        ip -n "$NS_SRV" addr add 10.79.0.1/24 dev st3 && ip -n "$NS_SRV" link set st3 up
wait "$SBX_PID"
rc=$?
SBX_PID=
sleep 0.2
kill "$(cat "$T/stubrun.pid")" 2>/dev/null
res3() { awk -v k="$1" '$1 == k {print $2}' "$T/results3"; }
check_all "the sandbox's root handed its DNS sockets and netfilter socket to the stub" '[ $rc -eq 0 ]' ||
        diag "sandbox3.sh rc=$rc $(cat "$T/stub.err")"
check_all "an allowed name resolves through the stub to its address" '[ "$(res3 pkg)" = 198.51.100.5 ]'
check_all "TCP to the allowed name's address on its port connects (the stub pinned it)" '[ "$(res3 pkg-80)" = 0 ]'
check_all "TCP to the allowed name's address on another port fails" '[ "$(res3 pkg-5201)" = 1 ]'
check_all "a name no rule allows does not resolve" '[ "$(res3 evil)" = none ]'
check_all "... and was never forwarded to the server (which saw pkg.test and rebind.test)" \
        'grep -qx pkg.test "$T/udp.log.dns" && grep -qx rebind.test "$T/udp.log.dns" && ! grep -q evil "$T/udp.log.dns"'
check_all "an allowed name answered with 127.0.0.1 does not resolve (DNS rebinding)" '[ "$(res3 rebind)" = none ]'
check_all "TCP to an address no answer gave fails" '[ "$(res3 unresolved-address)" = 1 ]'
check_all "the stub's records: pkg.test allowed, evil.test not in the allowlist, rebind.test a forbidden address" \
        'grep -q "^ALLOW pkg.test allowed 198.51.100.5" "$T/stub.out" && grep -q "^DENY evil.test not-in-allowlist" "$T/stub.out" && grep -q "^DENY rebind.test forbidden-address:loopback 127.0.0.1" "$T/stub.out"'
diag "$(cat "$T/results3" "$T/stub.out" 2>/dev/null)"
tap_end
