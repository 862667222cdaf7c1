#!/bin/bash
# SPDX-License-Identifier: MIT
# network: outbound (proxy mode) in the system tier: the container keeps only loopback (its own
# network namespace, no veth); moat makes the listener 127.0.0.1:3128 in it from the host and
# its proxy serves it from outside. Against the test bed of tests/integration/network/bed-lib.sh
# (two network namespaces this test makes and removes: "inet" with DNS, HTTP and HTTPS on
# 198.51.100.10, and "host", where moat runs, with a listener on its own port 9999; moat's
# proxy resolves through a resolv.conf bind-mounted in a private mount namespace). No packet
# reaches the machine's own network namespace. The image is Debian bookworm minbase with curl
# and iproute2, built from the archive (MOAT_SYSTEM_IMAGE_BUILD=1, or cached). Every check is
# observed from inside the container: command mode as root and as moatuser, boot mode (the
# image's systemd) as root, boot mode with a shell init as moatuser (systemd boots as root
# only). moat runs in "host" joined with nsenter (bed_enter), so that the machine's cgroup
# mounts under /sys stay visible for systemd.
source "$(dirname "$0")/lib.sh"
source "$MOAT_SOURCE_DIR/tests/integration/network/bed-lib.sh"

if [ ! -x "${MOAT_BUILD_DIR:-}/moat-system-run" ]; then
        echo "1..0 # SKIP moat-system-run is not built (needs -Dlxc=enabled)"
        exit 77
fi
[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP building the test bed needs root (network namespaces)"; exit 77; }
for tool in ip curl openssl python3 unshare; do
        command -v $tool >/dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 77; }
done
if [ "${MOAT_SYSTEM_IMAGE_BUILD:-0}" != 1 ] && [ ! -s "$CACHE/debian-net.tar" ]; then
        echo "1..0 # SKIP the Debian image with curl is built from the archive; set MOAT_SYSTEM_IMAGE_BUILD=1"
        exit 77
fi
tarball=$(debian_tarball debian-net systemd-sysv,curl,iproute2,ca-certificates) ||
        { echo "1..0 # SKIP cannot build the Debian image with curl (archive unreachable?)"; exit 77; }

net_cleanup() {
        bed_down
        cleanup
}
trap net_cleanup EXIT
bed_up s 0.0.0.0 pkg.test=198.51.100.10 evil.test=198.51.100.10 rebind.test=127.0.0.1 \
        meta.test=169.254.169.254 self.test=198.51.100.2 ||
        { tap_not_ok "build the test bed"; tap_end; exit; }

ALLOW=('network:' '  outbound:' '    allow:' '      - pkg.test:443,80' '      - rebind.test:443,80'
        '      - meta.test:80' '      - self.test:9999')

# in_bed USER PROFILE COMMAND: moat run -q -p PROFILE -- sh -c COMMAND as USER in the "host"
# namespace with the test bed's resolver; the environment of lib.sh's as_user.
in_bed() {
        local u=$1 prof=$2 d
        d=$(user_dir "$u")
        bed_enter setpriv --reuid="$u" --regid="$u" --init-groups --reset-env \
                env -i HOME="$d/home" XDG_CONFIG_HOME="$d/home/.config" \
                XDG_STATE_HOME="$d/home/.local/state" XDG_DATA_HOME="$d/home/.local/share" \
                XDG_CACHE_HOME="$d/home/.cache" XDG_RUNTIME_DIR="$d/home/run" \
                MOAT_IMAGE_DIR="$d/store" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
                LANG=C.UTF-8 MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_AUDIT_LOG="$d/audit.jsonl" \
                sh -c 'cd "$1" && shift && exec "$@"' sh "$d/work" \
                "$MOAT" run -q -p "$prof" -- sh -c "$3" </dev/null
}

descendants() { local c; for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done; }
# launcher PROFILE: the pid of the moat running PROFILE (the executor runs in moat: its comm is
# moat; its forks of the same command line are the guard, moat-guard, and the proxy, whose
# parent is moat).
launcher() {
        local p pp
        for p in $(pgrep -f "moat run -q -p $1"); do
                [ "$(cat "/proc/$p/comm" 2>/dev/null)" = moat ] || continue
                pp=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null)
                [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = moat ] && continue
                echo "$p"
                return 0
        done
        return 1
}
# confined_child MOAT: the child of moat with no_new_privs, a seccomp filter and no effective or
# permitted capability: the proxy (the guard and the runner have none of these). Root's proxy
# has an empty bounding set too; a user's keeps the user's (no CAP_SETPCAP to drop it).
confined_child() {
        local k
        [ -n "$1" ] || return 1
        for k in $(pgrep -P "$1"); do
                grep -q '^NoNewPrivs:\s*1' "/proc/$k/status" 2>/dev/null &&
                        grep -q '^Seccomp:\s*2' "/proc/$k/status" &&
                        grep -qE '^CapEff:\s*0+$' "/proc/$k/status" &&
                        grep -qE '^CapPrm:\s*0+$' "/proc/$k/status" && echo "$k" && return 0
        done
        return 1
}

CURL="curl -sS -k -o /dev/null -w %{http_code} --max-time 10"
# The checks of tests/integration/network/proxy.sh, one run each, from inside the container.
# MODE: "command" or "boot"; PROF: the profile.
checks() {
        local u=$1 mode=$2 prof=$3 d out rec shown
        d=$(user_dir "$u")
        out=$(in_bed "$u" "$prof" "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; echo \$https_proxy; $CURL https://pkg.test/" 2>&1)
        check_all "$u, $mode: only lo, the proxy variables, an allowed name over HTTPS through the proxy: 200" \
                '[ "$out" = "$(printf "lo\nhttp://127.0.0.1:3128\n200")" ]'
        [ "$out" = "$(printf "lo\nhttp://127.0.0.1:3128\n200")" ] || diag "$out"
        rec=$(tail -n 1 "$d/audit.jsonl")
        check_all "$u, $mode: audit: the system tier, one allowed connection with its address and bytes" \
                '[ "$(jq -r "[.tier, .network.allowed, .network.destinations[0].address, (.network.destinations[0].bytes_down > 0)] | @tsv" <<<"$rec")" = "$(printf "system\t1\t198.51.100.10\ttrue")" ]'
        out=$(in_bed "$u" "$prof" "curl -sS --max-time 10 http://pkg.test/; curl -sS -k --max-time 10 https://pkg.test/" 2>&1)
        check_all "$u, $mode: curl fetches over plain HTTP and HTTPS" \
                '[ "$out" = "$(printf "hello from pkg.test\nhello from pkg.test")" ]'
        [ "$out" = "$(printf "hello from pkg.test\nhello from pkg.test")" ] || diag "$out"
        out=$(in_bed "$u" "$prof" "$CURL https://evil.test/" 2>&1)
        check_all "$u, $mode: a name not in the allowlist: 403" '[[ "$out" == *403* ]]'
        shown=$(setpriv --reuid="$u" --regid="$u" --init-groups "$MOAT" audit show --network "$d/audit.jsonl" 2>&1 | tail -n 1)
        check_all "$u, $mode: moat audit show --network prints the denial" \
                '[[ "$shown" == *"denied evil.test:443 x1 CONNECT not-in-allowlist"* ]]'
        [[ "$shown" == *"denied evil.test:443"* ]] || diag "$shown"
        rec=$(tail -n 1 "$d/audit.jsonl")
        check_all "$u, $mode: audit: the denial with host, port and reason; the allowlist and its digest" \
                '[ "$(jq -r "[.network.denied, .network.destinations[0].host, .network.destinations[0].port, .network.destinations[0].reason, .network.allow[0], (.network.digest|length)] | @tsv" <<<"$rec")" = "$(printf "1\tevil.test\t443\tnot-in-allowlist\tpkg.test:443,80\t64")" ]'
        out=$(in_bed "$u" "$prof" "for x in https://198.51.100.10/ http://pkg.test:8080/ https://rebind.test/ http://meta.test/ http://self.test:9999/; do $CURL \$x 2>&1 | grep -q 403 && echo denied || echo passed; done; $CURL -x http://127.0.0.1:3128 --noproxy '' http://127.0.0.1:9999/ 2>&1 | grep -q 403 && echo denied || echo passed" 2>&1)
        check_all "$u, $mode: a raw address, an unlisted port, names resolving to 127.0.0.1, the metadata address and the host's own address, the host's loopback through the proxy: 403 each" \
                '[ "$(tr "\n" " " <<<"$out")" = "denied denied denied denied denied denied " ]'
        [ "$(tr '\n' ' ' <<<"$out")" = "denied denied denied denied denied denied " ] || diag "$out"
        out=$(in_bed "$u" "$prof" "$CURL --connect-to evil.test:443:pkg.test:443 https://evil.test/; echo rc=\$?" 2>&1)
        check_all "$u, $mode: CONNECT to an allowed name with another TLS server name fails" \
                '[[ "$out" != 200* && "$out" == *rc=[1-9]* ]]'
        out=$(in_bed "$u" "$prof" "$CURL --noproxy '*' http://127.0.0.1:9999/; echo rc=\$?; $CURL --noproxy '*' https://198.51.100.10/; echo rc=\$?" 2>&1)
        check_all "$u, $mode: the host's loopback listener and the test bed directly, without the proxy: unreachable" \
                '[[ "$out" == *rc=7*rc=7* && "$out" != *200* ]]'
        [[ "$out" == *rc=7*rc=7* ]] || diag "$out"
        out=$(in_bed "$u" "$prof" "bash -c 'echo x >/dev/udp/198.51.100.10/53 && echo sent'; bash -c 'echo x >/dev/udp/198.51.100.2/9999 && echo sent'" 2>&1)
        check_all "$u, $mode: UDP out of the container: fails" '[[ "$out" != *sent* ]]'
        [[ "$out" != *sent* ]] || diag "$out"
        if [ "${LL_ABI:-0}" -ge 4 ]; then
                out=$(in_bed "$u" "$prof" "bash -c 'echo >/dev/tcp/127.0.0.1/3128 && echo proxy-port; echo >/dev/tcp/127.0.0.1/8081'" 2>&1)
                check_all "$u, $mode: Landlock (ABI $LL_ABI): TCP connect to the proxy port only (another loopback port: permission denied)" \
                        '[[ "$out" == *proxy-port*"connect: Permission denied"* ]]'
                [[ "$out" == *"Permission denied"* ]] || diag "$out"
        else
                tap_skip "$u, $mode: Landlock TCP rules" "the kernel's Landlock ABI is ${LL_ABI:-0} (< 4)"
        fi
        out=$(in_bed "$u" "$prof" "ip link set lo down 2>&1; ip route add default dev lo 2>&1; ip link add d0 type dummy 2>&1; $CURL https://evil.test/ 2>&1 | grep -q 403 && echo denied; $CURL https://pkg.test/" 2>&1)
        check_all "$u, $mode: the workload cannot change its network (ip fails) and the answers stay the same" \
                '[[ "$out" == *"Operation not permitted"* && "$(tail -n 2 <<<"$out" | tr "\n" " ")" = "denied 200 " ]]'
        [[ "$(tail -n 2 <<<"$out" | tr '\n' ' ')" = "denied 200 " ]] || diag "$out"
}

LL_ABI=$("$MOAT" host --json 2>/dev/null | jq -r '.landlock_abi // 0')
for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        as_user "$u" "$MOAT" image import -q debnet "$tarball" >/dev/null ||
                { tap_not_ok "$u: import the Debian image"; continue; }
        write_profile "$d/cmd.yaml" sysnet debnet "${ALLOW[@]}"
        checks "$u" command "$d/cmd.yaml"
        if [ "$u" = root ]; then
                # systemd runs the command as a user of the image (root is refused)
                write_profile "$d/boot.yaml" sysnetboot debnet "${ALLOW[@]}" "uid: 33" "gid: 33"
                sed -i 's|^os: .*|os: {full_os: true, init: /sbin/init}|' "$d/boot.yaml"
                checks "$u" "boot (systemd)" "$d/boot.yaml"
                check_all "$u, boot (systemd): the run booted the image's systemd" \
                        'tail -n 1 "$d/audit.jsonl" | jq -e ".tier_detail | test(\"boot mode, init /sbin/init \\\\(systemd\")" >/dev/null'
        else
                # systemd boots as root only: a shell init that waits, added to a copy
                mkdir -p "$T/init/usr/local/sbin"
                printf '#!/bin/sh\nexec sleep infinity\n' >"$T/init/usr/local/sbin/wait-init"
                chmod 0755 "$T/init/usr/local/sbin/wait-init"
                cp "$tarball" "$T/debwait.tar" && tar --numeric-owner --owner=0 --group=0 \
                        -C "$T/init" -rf "$T/debwait.tar" ./usr/local/sbin/wait-init &&
                        chmod 0644 "$T/debwait.tar"
                as_user "$u" "$MOAT" image import -q debwait "$T/debwait.tar" >/dev/null
                rm -f "$T/debwait.tar"
                write_profile "$d/boot.yaml" sysnetboot debwait "${ALLOW[@]}"
                sed -i 's|^os: .*|os: {full_os: true, init: /usr/local/sbin/wait-init}|' "$d/boot.yaml"
                checks "$u" "boot (sleep init)" "$d/boot.yaml"
        fi
done

# The proxy killed mid-run: the container keeps its loopback and nothing else. The command waits
# for /work/go (the user's work directory), which the test makes once the proxy is dead.
u=root
d=$(user_dir "$u")
write_profile "$d/died.yaml" sysnetdied - "${ALLOW[@]}" \
        "filesystem: {root: {image: debnet}, bind: [{source: $d/work, target: /work, mode: rw}]}"
rm -f "$d/work/go"
in_bed "$u" "$d/died.yaml" "while [ ! -e /work/go ]; do sleep 0.1; done; $CURL https://pkg.test/; echo rc=\$?" >"$T/died.out" 2>&1 &
runner=$!
proxy= moat=
for _ in $(seq 200); do
        moat=$(launcher "$d/died.yaml") && proxy=$(confined_child "$moat") && break
        sleep 0.1
done
check_all "the proxy runs as a child of moat with no_new_privs, a seccomp filter and no capabilities" \
        '[ -n "$proxy" ] && grep -qE "^CapBnd:\s*0+$" "/proc/$proxy/status"'
check_all "the proxy is in the host's network namespace, not the container's" \
        '[ -n "$proxy" ] && [ "$(readlink "/proc/$proxy/ns/net")" = "$(ip netns exec "$NS_HOST" readlink /proc/self/ns/net)" ]'
[ -n "$proxy" ] && kill -9 "$proxy"
touch "$d/work/go"
wait "$runner"
check "with the proxy dead, the allowed name is no longer reachable" \
        bash -c '! grep -q "^200" "$1" && grep -q "rc=[1-9]" "$1"' _ "$T/died.out"
grep -q "rc=[1-9]" "$T/died.out" || diag "$(cat "$T/died.out")"
check_all "audit: the proxy's death is recorded" \
        '[ "$(tail -n 1 "$d/audit.jsonl" | jq -r .network.proxy_died)" = true ]'

# No nameserver: the proxy cannot start, so the command never runs (125, the step named).
echo "# no nameserver" >"$T/resolv.conf"
out=$(in_bed root "$d/cmd.yaml" "echo RAN" 2>&1)
rc=$?
check_all "no resolver: exit 125 naming the egress proxy, the command never ran" \
        '[ $rc -eq 125 ] && [[ "$out" == *"egress proxy"* && "$out" != *RAN* ]]'
[[ "$out" == *"egress proxy"* ]] || diag "rc=$rc $out"
check_all "no resolver: the audit record names the step and marks egress.proxy failed" \
        'tail -n 1 "$d/audit.jsonl" | jq -e ".error.step == \"egress proxy\" and ([.controls[] | select(.name == \"egress.proxy\") | .outcome] == [\"failed\"])" >/dev/null'
echo "nameserver 198.51.100.10" >"$T/resolv.conf"

# kill -9 of moat: no proxy, no container, no run directory, no cgroup of the run is left
# (command and boot mode). The run directory is the one of moat's fifo /.../<id>/go.
for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        for prof in cmd boot; do
                in_bed "$u" "$d/$prof.yaml" "sleep 60" >/dev/null 2>&1 &
                proxy= moat= kids= rundir=
                for _ in $(seq 600); do
                        moat=$(launcher "$d/$prof.yaml") && proxy=$(confined_child "$moat") &&
                                pgrep -f "^sleep 60" >/dev/null && break
                        sleep 0.1
                done
                kids=$(descendants "$moat" | tr '\n' ' ')
                rundir=$(for f in /proc/"$moat"/fd/*; do readlink "$f"; done 2>/dev/null | grep '/go$' | head -n 1)
                rundir=${rundir%/go}
                check_all "$u, $prof: kill -9: moat runs with its proxy, the container and its run directory" \
                        '[ -n "$proxy" ] && [ "$(wc -w <<<"$kids")" -ge 3 ] && [ -d "$rundir" ]'
                [ -n "$moat" ] && kill -9 "$moat"
                for _ in $(seq 100); do
                        left=
                        for k in $kids; do alive "$k" && left="$left $k"; done
                        [ -e "$rundir" ] && left="$left $rundir"
                        left="$left $(find /sys/fs/cgroup -maxdepth 4 -type d -name "moat-${rundir##*/}" 2>/dev/null | tr '\n' ' ')"
                        left=${left// /}
                        [ -z "$left" ] && break
                        sleep 0.1
                done
                check_all "$u, $prof: kill -9 of moat leaves no proxy, no container process, no run directory, no cgroup" \
                        '[ -n "$rundir" ] && [ -z "$left" ]'
                [ -z "$left" ] || diag "left: $left"
        done
done
tap_end
