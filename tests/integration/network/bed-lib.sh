#!/bin/bash
# SPDX-License-Identifier: MIT
# The network test bed of the outbound tests (sourced; needs $T and tap.sh's check/tap_not_ok):
# a fake internet in two network namespaces the test makes and removes: "inet" (DNS, HTTP and
# HTTPS on 198.51.100.10, netbed.py) and "host", where moat runs, with a veth between them as
# its only link and a listener on its own loopback port 9999 standing for the host's loopback
# services. moat's proxy resolves through the nameserver of the /etc/resolv.conf it sees:
# bed_exec bind-mounts $T/resolv.conf (naming 198.51.100.10) in a private mount namespace. No
# packet reaches the machine's own network namespace.
#
#   bed_up TAG LO_BIND NAME=ADDR...  namespaces moat-TAGinet-PID and moat-TAGhost-PID (NS_INET,
#                                    NS_HOST), a certificate for pkg.test and evil.test
#                                    ($T/cert.pem, $T/key.pem), netbed.py answering the names
#                                    given, python's http.server on LO_BIND:9999 in "host"
#                                    (0.0.0.0 or 127.0.0.1), $T/resolv.conf; one TAP check
#                                    ("the test bed is up"). 1 if the namespaces cannot be made.
#   bed_down                         stops the servers, removes both namespaces.
#   bed_exec COMMAND...              COMMAND in "host" with the test bed's resolver.
#   bed_enter COMMAND...             the same, joined with nsenter: the machine's /sys and its
#                                    cgroup mounts stay (ip netns exec mounts a sysfs of its
#                                    own over /sys, which hides them from a booting systemd).
BED_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS_INET=
NS_HOST=
BED_PID=
LO_PID=

bed_up() {
        local tag=$1 lo=$2
        shift 2
        NS_INET=moat-${tag}inet-$$
        NS_HOST=moat-${tag}host-$$
        ip netns add "$NS_INET" && ip netns add "$NS_HOST" &&
                ip link add mi0 netns "$NS_INET" type veth peer name mh0 netns "$NS_HOST" &&
                ip -n "$NS_INET" addr add 198.51.100.10/24 dev mi0 &&
                ip -n "$NS_HOST" addr add 198.51.100.2/24 dev mh0 &&
                ip -n "$NS_INET" link set mi0 up && ip -n "$NS_INET" link set lo up &&
                ip -n "$NS_HOST" link set mh0 up && ip -n "$NS_HOST" link set lo up || return 1
        openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=pkg.test \
                -addext subjectAltName=DNS:pkg.test,DNS:evil.test -keyout "$T/key.pem" \
                -out "$T/cert.pem" 2>/dev/null
        ip netns exec "$NS_INET" python3 "$BED_LIB_DIR/netbed.py" 198.51.100.10 "$T/cert.pem" \
                "$T/key.pem" "$@" >"$T/bed.out" 2>&1 &
        BED_PID=$!
        ip netns exec "$NS_HOST" python3 -m http.server --bind "$lo" 9999 >/dev/null 2>&1 &
        LO_PID=$!
        for _ in $(seq 200); do grep -q ready "$T/bed.out" 2>/dev/null && break; sleep 0.1; done
        check "the test bed is up" grep -q ready "$T/bed.out"
        echo "nameserver 198.51.100.10" >"$T/resolv.conf"
        chmod 0644 "$T/resolv.conf"
}

bed_down() {
        [ -n "$BED_PID" ] && kill "$BED_PID" 2>/dev/null
        [ -n "$LO_PID" ] && kill "$LO_PID" 2>/dev/null
        [ -n "$NS_INET" ] && ip netns del "$NS_INET" 2>/dev/null
        [ -n "$NS_HOST" ] && ip netns del "$NS_HOST" 2>/dev/null
        BED_PID= LO_PID=
}

bed_exec() {
        ip netns exec "$NS_HOST" unshare -m --propagation private sh -c \
                'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh "$T/resolv.conf" "$@"
}

bed_enter() {
        nsenter --net="/run/netns/$NS_HOST" unshare -m --propagation private sh -c \
                'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' sh "$T/resolv.conf" "$@"
}

# alive PID: the process runs (not gone, not a zombie waiting for the machine's pid 1 to reap
# it). wait_gone PID...: up to 3 s for each to stop running; sets left to those still running.
alive() { grep -qE '^State:\s+[^Z]' "/proc/$1/status" 2>/dev/null; }
wait_gone() {
        local k
        for _ in $(seq 30); do
                left=
                for k in "$@"; do alive "$k" && left="$left $k"; done
                [ -z "$left" ] && return 0
                sleep 0.1
        done
        return 1
}
