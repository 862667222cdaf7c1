#!/bin/bash
# SPDX-License-Identifier: MIT
# network: {outbound: {via: transparent}} in the sandbox tier.
#
# 1. What the host facts say and what the plan makes of them, for each test user (root and
#    moatuser), judged against this host as probed here: `moat host --json` reports tun_usable
#    and slirp4netns_present as the test finds them; where this user cannot open /dev/net/tun
#    (moatuser on a host whose node is 0600) or slirp4netns is missing, the run is refused with
#    125 before anything starts, naming /dev/net/tun (or slirp4netns) and the remedy, in moat
#    explain too, with the file:line:column of `via`, and starts no slirp4netns and no workload.
#
# 2. For root where root has both, and for moatuser where the kernel has Landlock, with a 0666
#    node of the real tun device bound over /dev/net/tun in a private mount namespace (a stock
#    Debian host's mode; this host's node is not changed), against a fake internet this test builds in two
#    network namespaces of its own and removes after: "inet" (DNS, HTTP, HTTPS on 198.51.100.10,
#    HTTP on 198.51.100.11, a UDP listener that logs what it gets) and "host", where moat runs,
#    with a veth between them as its only link and a listener on its own 127.0.0.1:9999 standing
#    for the host's loopback services. moat, its slirp4netns and its DNS stub run in "host": no
#    packet reaches the machine's own network namespace. The DNS stub resolves through the
#    /etc/resolv.conf moat sees: this test bind-mounts one naming the test bed, in a private
#    mount namespace. From inside the workload, with no proxy variable set:
#      - an allowed name over HTTPS and HTTP: 200; a CIDR rule's address: 200;
#      - a name no rule allows, and an allowed name the server answers with 127.0.0.1: do not
#        resolve (the stub); a raw address no rule lists and no allowed name resolved to, an
#        allowed name on an unlisted port: no connection (the rules); UDP to the test bed:
#        refused and never arrives;
#      - the host's loopback listener through slirp4netns's gateway 10.0.2.2, although a CIDR
#        rule lists 10.0.2.2 on that port: no connection (--disable-host-loopback);
#      - the workload can neither list nor change the rules, and after trying the raw address
#        is still unreachable;
#    the audit record (mode, allowlist, digest, the stub's decisions, what the rules rejected
#    per address and port) and moat audit show
#    --network; slirp4netns killed mid-run, and the stub killed mid-run: the network stays
#    closed, and the record says so; any step that cannot be set up stops the run with 125
#    before the workload starts, naming it (slirp4netns without a tun device, nft refusing the
#    rules, a read-back that differs, no resolver for the stub), and without nft the plan
#    refuses the mode (host facts: nft_present); kill -9 of moat leaves no
#    slirp4netns, no stub and no init.
#
# Each check was seen to fail with its control removed: the ruleset not loaded (raw address,
# unlisted port, UDP, a name resolved past the stub, the rules' audit lines, egress rules);
# the read-back comparison (egress rules read-back); the stub's allowlist (evil.test); its
# refused ranges (rebind.test); the CIDR elements (the CIDR rule); --disable-host-loopback
# (10.0.2.2:9999); the capability drop (nft list/flush/add); the tun check of the plan
# (moatuser's refusal); --exit-fd and PR_SET_PDEATHSIG (kill -9); the denied sets' update
# rules (the per-pair audit lines); for moatuser, CAP_NET_ADMIN passed to nft through ambient
# (every check of moatuser's run), and the Landlock domain moat puts on slirp4netns in place of
# its --enable-sandbox (a stand-in read /etc/passwd: the run stopped with its status 21).
set -u
source "$(dirname "$0")/../sandbox/lib.sh"

PROFILE=$T/transparent.yaml
write_profile "$PROFILE" transparent \
        'network:' '  outbound:' '    via: transparent' '    allow:' '      - pkg.test:443'
slirp=
for p in /usr/bin/slirp4netns /usr/local/bin/slirp4netns; do [ -x "$p" ] && slirp=$p && break; done
nft=
for p in /usr/sbin/nft /sbin/nft /usr/bin/nft; do [ -f "$p" ] && [ -x "$p" ] && nft=$p && break; done

BED_USERS=()
for u in "${USERS[@]}"; do
        user_dir "$u" >/dev/null
        if as_user "$u" test -r /dev/net/tun -a -w /dev/net/tun; then tun=true; else tun=false; fi
        facts=$(as_user "$u" "$MOAT" host --json 2>/dev/null)
        check_all "$u: moat host --json: tun_usable is $tun, as this user finds /dev/net/tun" \
                '[ "$(jq -r .tun_usable <<<"$facts")" = $tun ]'
        check_all "$u: moat host --json: slirp4netns_present and its path as installed" \
                '[ "$(jq -r "[.slirp4netns_present, .slirp4netns_path] | @tsv" <<<"$facts")" = "$(printf "%s\t%s" "$([ -n "$slirp" ] && echo true || echo false)" "$slirp")" ]'
        check_all "$u: moat host --json: nft_present and its path as installed" \
                '[ "$(jq -r "[.nft_present, .nft_path] | @tsv" <<<"$facts")" = "$(printf "%s\t%s" "$([ -n "$nft" ] && echo true || echo false)" "$nft")" ]'
        ll=$(jq -r .landlock_abi <<<"$facts")
        if [ $tun = true ] && [ -n "$slirp" ] && [ -n "$nft" ] && { [ "$u" = root ] || [ "$ll" -ge 1 ]; }; then
                BED_USERS+=("$u")
                continue
        fi
        rm -f "$T/$u/work/ran"
        out=$(moat_run "$u" "$PROFILE" sh -c 'touch /work/ran' 2>&1)
        rc=$?
        check_all "$u: via: transparent is refused with 125, naming the key's file:line:column" \
                '[ $rc -eq 125 ] && [[ "$out" == *"network.outbound.via: transparent ($PROFILE:6:10)"* ]]' ||
                diag "rc=$rc $out"
        if [ $tun = false ]; then
                check_all "$u: /dev/net/tun is not usable by this user: the refusal names it and the remedy" \
                        '[[ "$out" == *"/dev/net/tun cannot be opened read-write by this user"* && "$out" == *"MODE=\"0666\""* && "$out" == *"use via: proxy"* ]]'
        fi
        if [ -z "$slirp" ]; then
                check_all "$u: slirp4netns is not installed: the refusal says so and how to install it" \
                        '[[ "$out" == *"slirp4netns is not installed"* && "$out" == *"apt-get install slirp4netns"* ]]'
        fi
        if [ "$u" != root ] && [ "$ll" -lt 1 ]; then
                check_all "$u: not root, no Landlock: the refusal says slirp4netns needs it" \
                        '[[ "$out" == *"confines slirp4netns with Landlock"* ]]'
        fi
        if [ -z "$nft" ]; then
                check_all "$u: nft is not installed: the refusal says so and how to install it" \
                        '[[ "$out" == *"nft is not installed"* && "$out" == *"apt-get install nftables"* ]]'
        fi
        check_all "$u: the refused run started no workload" '[ ! -e "$T/$u/work/ran" ]'
        check_all "$u: the refusal has its audit record" \
                '[[ "$(last_audit "$u" | jq -r ".error // .plan.refusal // empty")" == *"via: transparent"* ]]' ||
                diag "$(last_audit "$u" | jq -c "{error, exit_status}")"
        ex=$(as_user "$u" "$MOAT" explain -p "$PROFILE" 2>&1)
        check_all "$u: moat explain shows the same refusal" \
                '[[ "$ex" == *"network.outbound.via: transparent ($PROFILE:6:10)"* && "$ex" == *"/dev/net/tun"* ]]' ||
                diag "$ex"
done
check_all "no slirp4netns was started for the refused runs" '! pgrep -x slirp4netns -u moatuser >/dev/null'

BAD=$T/bad-via.yaml
write_profile "$BAD" badvia 'network:' '  outbound:' '    via: tunnel' '    allow: [pkg.test:443]'
out=$(moat_run "${USERS[0]}" "$BAD" true 2>&1)
rc=$?
check_all "an unknown via is an error naming file:line:column (125)" \
        '[ $rc -eq 125 ] && [[ "$out" == *"$BAD:6:10"* && "$out" == *"network.outbound.via"* ]]' ||
        diag "rc=$rc $out"

# --- 2. the test bed ------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
        tap_skip "transparent mode against the test bed" "building it needs root (network namespaces)"
        tap_end
        exit
fi
if [[ " ${BED_USERS[*]} " != *" root "* ]]; then
        tap_skip "transparent mode against the test bed" "root cannot open /dev/net/tun, or slirp4netns or nft is missing"
        tap_end
        exit
fi
for tool in ip curl openssl python3 unshare nft; do
        if ! command -v $tool >/dev/null; then
                tap_skip "transparent mode against the test bed" "$tool is not installed"
                tap_end
                exit
        fi
done

# The test bed of bed-lib.sh, and in "inet" two more addresses with plain HTTP servers
# (198.51.100.11 listed as a CIDR rule, .12 not) and a UDP listener on 198.51.100.10:9998.
source "$(dirname "$0")/bed-lib.sh"
PIDS=()
bed_cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
        bed_down
        rm -rf "$T"
}
trap bed_cleanup EXIT

bed_up t 127.0.0.1 pkg.test=198.51.100.10 evil.test=198.51.100.10 rebind.test=127.0.0.1 \
        late.test=198.51.100.10 &&
        ip -n "$NS_INET" addr add 198.51.100.11/24 dev mi0 &&
        ip -n "$NS_INET" addr add 198.51.100.12/24 dev mi0 ||
        { tap_not_ok "build the test bed"; tap_end; exit; }
ip netns exec "$NS_INET" python3 -m http.server --bind 198.51.100.11 80 >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$NS_INET" python3 -m http.server --bind 198.51.100.12 80 >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$NS_INET" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("198.51.100.10", 9998))
while True:
    d, a = s.recvfrom(2048)
    open(sys.argv[1], "a").write("%s %r\n" % (a[0], d))' "$T/udp.log" &
PIDS+=($!)
for _ in $(seq 100); do
        [ "$(ip netns exec "$NS_INET" ss -Hlnt 'sport = :80' 2>/dev/null | wc -l)" -ge 2 ] && break
        sleep 0.1
done

NET=$T/transparent-bed.yaml
write_profile "$NET" tbed \
        'network:' '  outbound:' '    via: transparent' '    allow:' '      - pkg.test:443,80' \
        '      - rebind.test:443,80' '      - late.test:443' '      - 198.51.100.11/32:80' \
        '      - 10.0.2.2/32:9999' \
        'filesystem:' '  bind:' '    - {source: ., target: /work, mode: rw}'

# in_bed [SETUP] -- COMMAND...: moat run -p $NET as $BED_USER (root unless set) in the host
# namespace, with the test bed's resolver; SETUP (shell, run first in the same private mount
# namespace) may bind more. For a user other than root the private mount namespace also gets a
# 0666 node of the real tun device over /dev/net/tun (a stock Debian host's mode; this host's
# own node stays as it is), and moat runs as that user.
in_bed() {
        local setup= u=${BED_USER:-root} d
        if [ "$1" != -- ]; then setup=$1; shift; fi
        shift
        if [ "$u" = root ]; then
                as_user root ip netns exec "$NS_HOST" unshare -m --propagation private sh -c \
                        'mount --bind "$1" /etc/resolv.conf && eval "$2" && shift 2 && exec "$@"' sh \
                        "$T/resolv.conf" "${setup:-true}" "$MOAT" run -p "$NET" -- "$@"
                return
        fi
        d=$(user_dir "$u")
        mkdir -p "$T/tundev"
        ip netns exec "$NS_HOST" unshare -m --propagation private sh -c \
                'mount --bind "$1" /etc/resolv.conf && mount -t tmpfs -o mode=0755 tmpfs "$2" &&
                 mknod -m 0666 "$2/tun" c 10 200 && mount --bind "$2/tun" /dev/net/tun &&
                 eval "$3" && cd "$4" && shift 4 && exec "$@"' sh \
                "$T/resolv.conf" "$T/tundev" "${setup:-true}" "$d/work" \
                setpriv --reuid="$u" --regid="$u" --init-groups --reset-env env -i HOME="$d/home" \
                XDG_CONFIG_HOME="$d/home/.config" XDG_STATE_HOME="$d/home/.local/state" \
                XDG_CACHE_HOME="$d/home/.cache" XDG_RUNTIME_DIR="$d/home/run" \
                PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 \
                MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_AUDIT_LOG="$d/audit.jsonl" \
                "$MOAT" run -p "$NET" -- "$@"
}

# launcher_pid: the moat launcher running $NET (its stub shares its command line; the launcher
# is the one whose parent is not moat).
launcher_pid() {
        local f p pp
        for f in $(grep -lF -- "$NET" /proc/[0-9]*/cmdline 2>/dev/null); do
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
# helpers_of MOAT: "slirp=PID stub=PID init=PID" (the stub has no children, init has the
# workload).
helpers_of() {
        local k slirp= stub= init=
        for k in $(pgrep -P "$1"); do
                if [ "$(cat "/proc/$k/comm" 2>/dev/null)" = slirp4netns ]; then
                        slirp=$k
                elif [ -z "$(pgrep -P "$k")" ]; then
                        stub=$k
                else
                        init=$k
                fi
        done
        echo "slirp=$slirp stub=$stub init=$init"
}
# wait_helpers: until the launcher of $NET runs with its three children; prints
# "moat=PID slirp=PID stub=PID init=PID".
wait_helpers() {
        local m h
        for _ in $(seq 100); do
                if m=$(launcher_pid); then
                        h=$(helpers_of "$m")
                        if [[ "$h" =~ ^slirp=[0-9]+\ stub=[0-9]+\ init=[0-9]+$ ]]; then
                                echo "moat=$m $h"
                                return 0
                        fi
                fi
                sleep 0.1
        done
        return 1
}

CURL="curl -sS -k -o /dev/null -w %{http_code} --max-time 5"
# Each "name rc" or "name output" on a line of its own.
cat >"$T/checks.sh" <<SH
CURL="$CURL"
SH
cat >>"$T/checks.sh" <<'SH'
echo "proxyvars $(env | grep -ci proxy)"
echo "capamb $(awk '/^CapAmb:/ {print $2}' /proc/self/status)"
echo "capeff $(awk '/^CapEff:/ {print $2}' /proc/self/status)"
echo "https $($CURL https://pkg.test/ 2>/dev/null)"
echo "http $(curl -sS --max-time 5 http://pkg.test/ 2>/dev/null | tr ' ' _)"
echo "cidr $($CURL http://198.51.100.11/ 2>/dev/null)"
$CURL https://evil.test/ >/dev/null 2>&1; echo "evil $?"
$CURL https://rebind.test/ >/dev/null 2>&1; echo "rebind $?"
$CURL http://198.51.100.12/ >/dev/null 2>&1; echo "rawip $?"
$CURL http://pkg.test:8080/ >/dev/null 2>&1; echo "port $?"
$CURL http://10.0.2.2:9999/ >/dev/null 2>&1; echo "hostlo $?"
python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b"moat-udp", ("198.51.100.10", 9998))' >/dev/null 2>&1; echo "udp $?"
nft list ruleset >/dev/null 2>&1; echo "nftlist $?"
nft flush ruleset >/dev/null 2>&1; echo "nftflush $?"
nft add element inet moat cidr4 '{ 198.51.100.10 . 443 }' >/dev/null 2>&1; echo "nftadd $?"
nft add table inet mine >/dev/null 2>&1; echo "nfttable $?"
$CURL http://198.51.100.12/ >/dev/null 2>&1; echo "rawip-after $?"
SH
chmod 0755 "$T/checks.sh"
bed_checks() { # USER: the checks from inside the workload, the audit record
        local u=$1 d rc rec shown
        d=$(user_dir "$u")
        BED_USER=$u
        cp "$T/checks.sh" "$d/work/checks.sh"
        chmod 0755 "$d/work/checks.sh"
        in_bed -- sh /work/checks.sh >"$T/checks.out" 2>"$T/checks.err"
        rc=$?
        res() { awk -v k="$1" '$1 == k {print $2}' "$T/checks.out"; }
        check_all "$u: the run with via: transparent ran (exit 0)" '[ $rc -eq 0 ]' ||
                diag "rc=$rc $(cat "$T/checks.err")"
        check_all "$u: no proxy variable is set in the workload" '[ "$(res proxyvars)" = 0 ]'
        check_all "$u: the workload has no capability, ambient or effective (nft had CAP_NET_ADMIN through ambient)" \
                '[ "$(res capamb)" = 0000000000000000 ] && [ "$(res capeff)" = 0000000000000000 ]'
        check_all "$u: an allowed name over HTTPS, directly: 200" '[ "$(res https)" = 200 ]'
        check_all "$u: an allowed name over HTTP, directly" '[ "$(res http)" = hello_from_pkg.test ]'
        check_all "$u: a CIDR rule's address on its port: 200" '[ "$(res cidr)" = 200 ]'
        check_all "$u: a name not in the allowlist does not resolve (curl 6)" '[ "$(res evil)" = 6 ]'
        check_all "$u: an allowed name the server answers with 127.0.0.1 does not resolve (curl 6)" \
                '[ "$(res rebind)" = 6 ]'
        check_all "$u: a raw address not listed: no connection (curl 7)" '[ "$(res rawip)" = 7 ]'
        check_all "$u: an allowed name on an unlisted port: no connection (curl 7)" '[ "$(res port)" = 7 ]'
        check_all "$u: the host's loopback through slirp4netns's gateway, although a CIDR rule lists it: no connection" \
                '[ "$(res hostlo)" = 7 ]'
        check_all "$u: UDP to the test bed fails in the sandbox" '[ "$(res udp)" = 1 ]'
        check_all "$u: ... and nothing arrived at the test bed" '[ ! -s "$T/udp.log" ]' ||
                diag "$(cat "$T/udp.log")"
        check_all "$u: the workload cannot list the rules" '[ -n "$(res nftlist)" ] && [ "$(res nftlist)" != 0 ]'
        check_all "$u: the workload cannot flush the rules, add an element or a table" \
                '[ "$(res nftflush)" = 1 ] && [ "$(res nftadd)" = 1 ] && [ "$(res nfttable)" = 1 ]'
        check_all "$u: after those tries the raw address is still unreachable" '[ "$(res rawip-after)" = 7 ]'
        diag "$(tr '\n' ' ' <"$T/checks.out")"

        rec=$(tail -n 1 "$d/audit.jsonl")
        check_all "$u: audit: mode transparent, the normalised allowlist and its digest" \
                '[ "$(jq -r "[.network.mode, (.network.allow | join(\" \")), (.network.digest | length)] | @tsv" <<<"$rec")" = "$(printf "transparent\tpkg.test:443,80 rebind.test:443,80 late.test:443 198.51.100.11/32:80 10.0.2.2/32:9999\t64")" ]' ||
                diag "$(jq -c .network <<<"$rec")"
        check_all "$u: audit: the stub's decisions: pkg.test allowed with its address, evil.test not in the allowlist, rebind.test a forbidden address" \
                '[ "$(jq -r "[.network.destinations[] | select(.host == \"pkg.test\" and .decision == \"allowed\") | .address][0]" <<<"$rec")" = 198.51.100.10 ] && [ "$(jq -r "[.network.destinations[] | select(.host == \"evil.test\") | .reason][0]" <<<"$rec")" = not-in-allowlist ] && [ "$(jq -r "[.network.destinations[] | select(.host == \"rebind.test\" and .decision == \"denied\") | .reason][0]" <<<"$rec")" = forbidden-address:loopback ]'
        check_all "$u: audit: what the rules rejected, per address and port: the raw address, the unlisted port, the UDP datagram" \
                '[ "$(jq -r "[.network.destinations[] | select(.method == \"TCP/UDP\" and .decision == \"denied\") | \"\\(.host):\\(.port)\"] | sort | join(\" \")" <<<"$rec")" = "198.51.100.10:8080 198.51.100.10:9998 198.51.100.12:80" ]' ||
                diag "$(jq -c .network.destinations <<<"$rec")"
        shown=$(as_user "$u" "$MOAT" audit show --network "$d/audit.jsonl" 2>&1 | tail -n 8)
        check_all "$u: moat audit show --network prints the mode and the stub's denial" \
                '[[ "$shown" == *"network transparent:"* && "$shown" == *"denied evil.test:0 x"*"DNS not-in-allowlist"* && "$shown" == *"denied 198.51.100.12:80 x"*"TCP/UDP not-in-allowlist"* ]]' ||
                diag "$shown"
        BED_USER=
}
BED_RUN=(root)
# A caller other than root where the kernel has Landlock (slirp4netns is confined with it).
if [[ " ${USERS[*]} " == *" moatuser "* ]] && [ "$(as_user root "$MOAT" host --json | jq -r .landlock_abi)" -ge 1 ]; then
        BED_RUN+=(moatuser)
fi
for u in "${BED_RUN[@]}"; do bed_checks "$u"; done

# slirp4netns killed mid-run: no route out; the allowed name is no longer reachable.
rm -f "$T/root/work/go"
in_bed -- sh -c "while [ ! -e /work/go ]; do sleep 0.1; done; $CURL https://pkg.test/; echo \" rc=\$?\"" \
        >"$T/slirp-died.out" 2>&1 &
runner=$!
h=$(wait_helpers)
check_all "slirp4netns runs for the run, with no_new_privs and a seccomp filter" \
        'p=$(sed -n "s/.*slirp=\([0-9]*\).*/\1/p" <<<"$h") && [ -n "$p" ] && grep -q "^NoNewPrivs:\s*1" /proc/$p/status && grep -q "^Seccomp:\s*2" /proc/$p/status' ||
        diag "$h"
check_all "the DNS stub runs with no_new_privs, a seccomp filter and no capabilities" \
        'p=$(sed -n "s/.*stub=\([0-9]*\).*/\1/p" <<<"$h") && [ -n "$p" ] && grep -q "^NoNewPrivs:\s*1" /proc/$p/status && grep -q "^Seccomp:\s*2" /proc/$p/status && grep -qE "^CapEff:\s*0+$" /proc/$p/status'
p=$(sed -n "s/.*slirp=\([0-9]*\).*/\1/p" <<<"$h")
[ -n "$p" ] && kill -9 "$p"
sleep 0.2
touch "$T/root/work/go"
wait "$runner"
check_all "with slirp4netns dead, the allowed name is no longer reachable" \
        '! grep -q "^200" "$T/slirp-died.out" && grep -q "rc=[1-9]" "$T/slirp-died.out"' ||
        diag "$(cat "$T/slirp-died.out")"
check_all "audit: slirp4netns's death is recorded" \
        '[ "$(tail -n 1 "$T/root/audit.jsonl" | jq -r .network.helper_died)" = true ]'

# The stub killed mid-run: no name resolves any more, nothing new is pinned.
rm -f "$T/root/work/go"
in_bed -- sh -c "while [ ! -e /work/go ]; do sleep 0.1; done; $CURL https://late.test/; echo \" rc=\$?\"" \
        >"$T/stub-died.out" 2>&1 &
runner=$!
h=$(wait_helpers)
p=$(sed -n "s/.*stub=\([0-9]*\).*/\1/p" <<<"$h")
[ -n "$p" ] && kill -9 "$p"
sleep 0.2
touch "$T/root/work/go"
wait "$runner"
check_all "with the DNS stub dead, an allowed name no longer resolves (curl 6)" \
        'grep -q "rc=6" "$T/stub-died.out"' || diag "$h $(cat "$T/stub-died.out")"
check_all "audit: the stub's death is recorded" \
        '[ "$(tail -n 1 "$T/root/audit.jsonl" | jq -r .network.proxy_died)" = true ]'

# Fail closed: each step that cannot be set up stops the run with 125, naming it, before the
# workload starts.
fail_case() { # DESCRIPTION STEP SETUP
        rm -f "$T/root/work/ran"
        step=$2
        out=$(in_bed "$3" -- sh -c 'touch /work/ran' 2>&1)
        rc=$?
        check_all "fail closed: $1: 125 naming step $2, the workload never started" \
                '[ $rc -eq 125 ] && [[ "$out" == *"(step $step)"* ]] && [ ! -e "$T/root/work/ran" ]'
        diag "rc=$rc $out"
}
cp /usr/sbin/nft "$T/nft.real"
printf '#!/bin/sh\ncase "$1" in list) "%s" "$@"; printf "table ip extra {\\n}\\n" ;; *) exec "%s" "$@" ;; esac\n' \
        "$T/nft.real" "$T/nft.real" >"$T/nft-extra"
printf '#!/bin/sh\n[ "$1" = -f ] && exit 1\nexec "%s" "$@"\n' "$T/nft.real" >"$T/nft-refuse"
chmod 0755 "$T/nft-extra" "$T/nft-refuse"
SLIRPS_BEFORE=$(pgrep -x slirp4netns | sort | tr "\n" " ")
fail_case "slirp4netns cannot make its tap device (no tun)" "egress slirp4netns" \
        'mount --bind /dev/null /dev/net/tun'
fail_case "nft refuses the ruleset" "egress rules" "mount --bind '$T/nft-refuse' /usr/sbin/nft"
fail_case "the read-back shows a table the plan does not have" "egress rules read-back" \
        "mount --bind '$T/nft-extra' /usr/sbin/nft"
# Without nft the plan refuses the mode (the host facts say so) before anything starts.
rm -f "$T/root/work/ran"
out=$(in_bed "mount --bind /dev/null /usr/sbin/nft" -- sh -c 'touch /work/ran' 2>&1)
rc=$?
check_all "no nft on the host: the plan is refused (125) naming nft and its package, the workload never started" \
        '[ $rc -eq 125 ] && [[ "$out" == *"nft is not installed"* && "$out" == *"apt-get install nftables"* ]] && [ ! -e "$T/root/work/ran" ]' ||
        diag "rc=$rc $out"
echo "# no nameserver" >"$T/resolv.conf"
fail_case "the DNS stub has no resolver" "egress dns stub" true
echo "nameserver 198.51.100.10" >"$T/resolv.conf"
check_all "fail closed: no slirp4netns left after the failed runs" \
        '[ "$(pgrep -x slirp4netns | sort | tr "\n" " ")" = "$SLIRPS_BEFORE" ]'

# kill -9 of moat: slirp4netns (its exit-fd), the stub and init (PR_SET_PDEATHSIG) go with it.
for u in "${BED_RUN[@]}"; do
        BED_USER=$u
        in_bed -- sleep 30 >/dev/null 2>&1 &
        runner=$!
        h=$(wait_helpers)
        moat=$(sed -n "s/.*moat=\([0-9]*\).*/\1/p" <<<"$h")
        kids=$(sed 's/moat=[0-9]* //; s/[a-z]*=//g' <<<"$h")
        check_all "$u: kill -9: moat runs with slirp4netns, the stub and init" '[ $(wc -w <<<"$kids") -eq 3 ]' ||
                diag "$h"
        check_all "$u: slirp4netns runs as the caller, with no_new_privs, a seccomp filter and no capability beyond CAP_NET_BIND_SERVICE" \
                'p=$(sed -n "s/.*slirp=\([0-9]*\).*/\1/p" <<<"$h") && [ -n "$p" ] && [ "$(stat -c %U /proc/$p)" = $u ] && grep -q "^NoNewPrivs:\s*1" /proc/$p/status && grep -q "^Seccomp:\s*2" /proc/$p/status && grep -qE "^CapEff:\s*0+(400)?$" /proc/$p/status' ||
                diag "$h"
        [ -n "$moat" ] && kill -9 "$moat"
        wait_gone $kids
        check_all "$u: kill -9 of moat leaves no slirp4netns, no stub and no init" '[ -z "$left" ]' ||
                diag "left: $left $(ps -o pid,comm,args -p "${left// /,}" 2>/dev/null)"
        wait "$runner" 2>/dev/null
        BED_USER=
done

# A caller other than root: slirp4netns runs without --enable-sandbox (which needs uid 0 in the
# sandbox's user namespace), confined by moat with Landlock before exec. A stand-in, bound over
# the slirp4netns the plan names and started exactly as moat starts it, checks that from inside:
# it can read its own file under /usr but not /etc/passwd nor the caller's files, cannot create
# a file in /tmp, and (Landlock ABI 6) cannot signal moat, outside its domain; it reports ready
# only if all of that holds, else exits with the failed check's number and the run stops (125).
if [[ " ${BED_RUN[*]} " == *" moatuser "* ]]; then
        u=moatuser
        d=$(user_dir "$u")
        abi=$(as_user root "$MOAT" host --json | jq -r .landlock_abi)
        echo secret >"$d/work/secret"
        chown "$u:" "$d/work/secret"
        cat >"$T/fake-slirp" <<SH
#!/bin/sh
# stdio is moat's /dev/null already (fds 0-2): nothing here opens it again, which the
# confinement would refuse and so make every check below pass for the wrong reason.
head -c1 /usr/bin/slirp4netns >&2 || exit 20
head -c1 /etc/passwd >&2 && exit 21
head -c1 "$d/work/secret" >&2 && exit 22
touch "$d/work/fake-slirp-wrote" && exit 23
[ $abi -ge 6 ] && kill -0 \$PPID && exit 24
printf 1 >&3
exec cat <&4 >&2
SH
        chmod 0755 "$T/fake-slirp"
        rm -f "$d/work/fake-slirp-wrote"
        out=$(BED_USER=$u in_bed "mount --bind '$T/fake-slirp' /usr/bin/slirp4netns" -- true 2>&1)
        rc=$?
        check_all "$u: slirp4netns is confined by Landlock: reads /usr, none of /etc or the caller's files, cannot write where the caller can$([ "$abi" -ge 6 ] && echo ", cannot signal moat")" \
                '[ $rc -eq 0 ] && [ ! -e "$d/work/fake-slirp-wrote" ]'
        diag "rc=$rc $out"
        ex=$(as_user "$u" "$MOAT" explain -p "$NET" 2>&1)
        check_all "$u: moat explain names the Landlock confinement of slirp4netns in place of --enable-sandbox" \
                '[[ "$ex" == *"confined by moat with Landlock ABI"* ]]' || diag "$ex"
fi
tap_end
