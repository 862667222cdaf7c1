#!/bin/bash
# Every sandbox control, observed from inside with moat-probe, as root and as moatuser. Each
# assertion fails if its control is removed from the executor.
source "$(dirname "$0")/lib.sh"

cat >"$T/probe.yaml" <<'YAML'
moat: 1
name: probe
isolation: sandbox
hostname: moat-test
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
  tmpfs:
    - {target: /tmp, size: 16MiB}
network: none
env:
  clear: true
  allow: [LANG]
  set:
    PROBE_SET: "yes"
YAML
chmod 0644 "$T/probe.yaml"

# Host-side listeners the sandbox must not reach (network none): TCP on loopback and an
# abstract unix socket. Ours, stopped by pid at the end.
PORT=$((20000 + RANDOM % 20000))
ABSTRACT="moat-test-$$-$RANDOM"
python3 - "$PORT" "$ABSTRACT" <<'PY' &
import socket, sys, time
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("127.0.0.1", int(sys.argv[1]))); t.listen(16)
u = socket.socket(socket.AF_UNIX); u.bind("\0" + sys.argv[2]); u.listen(16)
time.sleep(300)
PY
LISTENER=$!
trap 'kill $LISTENER 2>/dev/null; cleanup' EXIT
for _ in $(seq 50); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
        sleep 0.1
done
echo "host-secret" >"$T/secret"
chmod 0644 "$T/secret"
HOST_SID=$(ps -o sid= $$ | tr -d ' ')

host_ns() { readlink "/proc/self/ns/$1"; }

for u in "${USERS[@]}"; do
        uid=$(id -u "$u")
        exec 7</dev/null # an inherited fd the sandbox must not see
        out=$(EXTRA_ENV="LEAKED_SECRET=1" moat_run "$u" "$T/probe.yaml" /work/moat-probe \
                --try-read "$T/secret" --try-write /usr/moat-test --try-write /etc/moat-test \
                --try-write /work/ok --try-write /tmp/ok --try-write /moat-test \
                --try-write /proc/sys/kernel/hostname \
                --try-connect-tcp "127.0.0.1:$PORT" --try-abstract "$ABSTRACT" \
                --try-syscall userns --try-syscall tiocsti --try-syscall keyctl \
                --try-syscall unshare --try-syscall mount --try-syscall bpf --try-syscall ptrace \
                --try-read /proc/1/mem \
                2>"$T/stderr")
        rc=$?
        exec 7<&-
        if [ $rc -ne 0 ] || ! jq -e . >/dev/null 2>&1 <<<"$out"; then
                tap_not_ok "[$u] probe runs in the sandbox (exit $rc)"
                diag "$(cat "$T/stderr")"
                continue
        fi
        tap_ok "[$u] probe runs in the sandbox"
        q() { jq -r "$@" <<<"$out"; }
        tried() { jq -c --arg op "$1" --arg arg "$2" '.tries[] | select(.op == $op and .arg == $arg)' <<<"$out"; }
        denied_with() { [ "$(tried "$1" "$2" | jq -r '.ok')" = false ] && [ "$(tried "$1" "$2" | jq -r '.errno')" = "$3" ]; }

        # user namespace, single-id map of the caller
        check "[$u] uid_map is one line: 1 id, the caller's uid $uid outside" \
                test "$(q '.uid_map' | awk 'NF { n++; if ($2 == '"$uid"' && $3 == 1) ok = 1 } END { print n, ok }')" = "1 1"
        check "[$u] gid_map is one line of 1 id" test "$(q '.gid_map' | awk 'NF { n++; if ($3 == 1) ok = 1 } END { print n, ok }')" = "1 1"
        check "[$u] setgroups is denied" test "$(q '.setgroups' | tr -d '\n')" = deny
        for ns in user mnt pid net ipc uts cgroup time; do
                check "[$u] own $ns namespace" test "$(q ".ns.$ns")" != "$(host_ns $ns)"
        done
        check "[$u] workload is pid 2 under moat's init (pid 1)" test "$(q '.pid') $(q '.ppid')" = "2 1"

        # pivot_root: nothing of the host outside the binds
        probe_rec=$(last_audit "$u") # the probe run's record, before any other run below
        check "[$u] host file outside the binds is unreachable" denied_with read "$T/secret" 2
        # Root inside the user namespace owns the host's root-owned files that are bound in, so
        # the secrets under /etc must be masked (the null device), not merely unreadable.
        check "[$u] /etc/shadow and /etc/gshadow are masked by the null device" \
                test "$(moat_run "$u" "$T/probe.yaml" /bin/sh -c \
                        'stat -c %F:%t:%T /etc/shadow /etc/gshadow; wc -c </etc/shadow' 2>/dev/null |
                        tr '\n' ' ')" = "character special file:1:3 character special file:1:3 0 "
        # rlimits of the plan
        check "[$u] RLIMIT_CORE is 0" test "$(q '.rlimits.core | map(tostring) | join(" ")')" = "0 0"
        check "[$u] RLIMIT_NOFILE is the plan's 1024" \
                test "$(q '.rlimits.nofile | map(tostring) | join(" ")')" = "1024 1024"
        check "[$u] the root is a tmpfs, read-only" \
                test "$(q '.mounts[] | select(.target == "/") | .fstype + " " + (.options | split(",")[0])')" = "tmpfs ro"
        check "[$u] nothing mounted from the host's root directory" \
                test -z "$(q '.mounts[] | select(.root == "/" and .fstype != "tmpfs" and .fstype != "proc" and .fstype != "devpts" and .fstype != "sysfs") | .target')"
        check "[$u] /usr read-only" denied_with write /usr/moat-test 30
        check "[$u] /etc read-only" denied_with write /etc/moat-test 30
        check "[$u] the root itself is read-only" denied_with write /moat-test 30
        check "[$u] /proc/sys mounted read-only" \
                test "$(q '.mounts[] | select(.target == "/proc/sys") | .options | split(",")[0]')" = ro
        if [ "$u" = root ]; then # as moatuser the host-root-owned file already gives EACCES
                check "[$u] /proc/sys not writable (EROFS)" denied_with write /proc/sys/kernel/hostname 30
        fi
        check "[$u] work directory writable" test "$(tried write /work/ok | jq -r .ok)" = true
        check "[$u] /tmp writable" test "$(tried write /tmp/ok | jq -r .ok)" = true
        check "[$u] binds are nosuid,nodev" \
                test -z "$(q '.mounts[] | select(.target == "/usr" or .target == "/etc" or .target == "/work") | select((.options | test("nosuid")) and (.options | test("nodev")) | not) | .target')"

        # /proc masks: every masked path that exists on the host has a mount over it
        for m in /proc/kcore /proc/keys /proc/kallsyms /proc/sysrq-trigger /proc/timer_list /proc/sys/kernel/random/boot_id; do
                [ -e "$m" ] || continue
                check "[$u] $m is masked" test -n "$(q --arg m "$m" '.mounts[] | select(.target == $m) | .target')"
        done

        # identity and confinement
        check "[$u] hostname from the profile" test "$(q .hostname)" = moat-test
        check "[$u] environment cleared, allowed and set names only" \
                test "$(q '.environ | sort | join(",")')" = "LANG,PATH,PROBE_SET"
        check "[$u] no_new_privs is set" test "$(q .no_new_privs)" = 1
        for c in CapInh CapPrm CapEff CapBnd CapAmb; do
                check "[$u] $c is empty" test "$(q ".caps.$c")" = 0000000000000000
        done
        check "[$u] seccomp filter mode" test "$(q .seccomp)" = 2
        check "[$u] at least one seccomp filter" test "$(q .seccomp_filters)" -ge 1
        check "[$u] nested user namespace denied" denied_with syscall userns 1
        check "[$u] TIOCSTI denied (an allowed one gives ENOTTY on a pipe)" denied_with syscall tiocsti 1
        for s in keyctl unshare mount bpf ptrace; do
                check "[$u] $s denied" test "$(tried syscall $s | jq -r .ok)" = false
        done
        check "[$u] init (pid 1) is not dumpable: /proc/1/mem cannot be opened" denied_with read /proc/1/mem 13
        check "[$u] setsid: the workload leads its own session" test "$(q .sid)" = "$(q .pid)"
        check "[$u] no inherited fd beyond stdio (fd 7 was open in the caller)" test "$(q '.fds | join(",")')" = "0,1,2"

        # network none
        check "[$u] only lo, and it is down" test "$(q '[.net[] | .name + ":" + (.up | tostring)] | join(",")')" = "lo:0"
        check "[$u] host loopback TCP listener unreachable" test "$(tried connect-tcp "127.0.0.1:$PORT" | jq -r .ok)" = false
        check "[$u] host abstract unix socket unreachable" test "$(tried abstract "$ABSTRACT" | jq -r .ok)" = false

        # the denials the supervisor answered are in the audit record (seccomp, not caps)
        rec=$probe_rec
        notify=$(as_user "$u" "$MOAT" explain --json -p "$T/probe.yaml" | jq -r '.sandbox.seccomp.notify_denials')
        if [ "$notify" = true ]; then
                for s in keyctl unshare mount bpf ptrace; do
                        check "[$u] audit lists the denied $s" \
                                test -n "$(jq -r --arg s "$s" '.denials[]? | select(.syscall == $s) | .syscall' <<<"$rec")"
                done
        else
                tap_skip "[$u] audit lists denied syscalls" "the plan does not report denials on this host" \
                        "$(grep -qw user_notif /proc/sys/kernel/seccomp/actions_avail 2>/dev/null && echo present)"
        fi
done

# Every mask is what it claims to be, not only a mount: the file masks (clones of the first
# one) are the null device, empty before and after a write (a write to a device succeeds on a
# read-only mount and goes nowhere); the directory masks (clones of one empty tmpfs: read-only, mode
# 0555, one inode) are empty and cannot be written. "type major:minor size size-after-write" per file, "entries write" per directory.
for u in "${USERS[@]}"; do
        for m in /proc/kallsyms /proc/timer_list /etc/shadow /etc/gshadow; do
                [ -e "$m" ] || continue
                check "[$u] $m is the null device, and stays empty" \
                        test "$(moat_run "$u" "$T/probe.yaml" sh -c "stat -c '%F %t:%T' $m; cat $m | wc -c; echo x 2>/dev/null >$m; cat $m | wc -c" 2>/dev/null | tr '\n' ' ')" = \
                        "character special file 1:3 0 0 "
        done
        for m in /proc/acpi /etc/ssl/private /etc/sudoers.d; do
                [ -d "$m" ] || continue
                check "[$u] $m is an empty directory that cannot be written" \
                        test "$(moat_run "$u" "$T/probe.yaml" sh -c "ls -A $m | wc -l; touch $m/x 2>/dev/null && echo written || echo refused" 2>/dev/null | tr '\n' ' ')" = \
                        "0 refused "
        done
done

# Machine identity: the host's machine id (and D-Bus's copy) and boot id are not what a
# workload reads; every run has its own, random unless the profile fixes the machine id.
HOST_MID=$(cat /etc/machine-id 2>/dev/null)
HOST_BOOT=$(cat /proc/sys/kernel/random/boot_id)
HOST_DBUS=$(cat /var/lib/dbus/machine-id 2>/dev/null)
FIXED_MID=4c1f0e5a9b2d47e8a1c3f5d7b9e0a2c4
cp "$T/probe.yaml" "$T/ident.yaml"
if [ -e /var/lib/dbus/machine-id ]; then # bound in, so D-Bus's copy is there to hide
        sed -i 's|^    - {source: ., target: /work, mode: rw}$|&\n    - {source: /var/lib/dbus, target: /var/lib/dbus, mode: ro}|' "$T/ident.yaml"
fi
{ cat "$T/ident.yaml"; printf 'identity:\n  machine_id: "%s"\n' "$FIXED_MID"; } >"$T/ident-fixed.yaml"
chmod 0644 "$T/ident.yaml" "$T/ident-fixed.yaml"
for u in "${USERS[@]}"; do
        a=$(moat_run "$u" "$T/ident.yaml" /work/moat-probe --try-write /etc/machine-id 2>"$T/stderr")
        rec_a=$(last_audit "$u")
        b=$(moat_run "$u" "$T/ident.yaml" /work/moat-probe 2>>"$T/stderr")
        f=$(moat_run "$u" "$T/ident-fixed.yaml" /work/moat-probe 2>>"$T/stderr")
        if ! jq -e . >/dev/null 2>&1 <<<"$a$b$f"; then
                tap_not_ok "[$u] probe runs with the identity profiles" "$(cat "$T/stderr")"
                continue
        fi
        mid_a=$(jq -r '.machine_id // ""' <<<"$a") # without the newline
        mid_b=$(jq -r '.machine_id // ""' <<<"$b")
        check "[$u] /etc/machine-id inside is 32 lower-case hex digits and a newline" \
                test "$(jq -r '.machine_id // "" | test("^[0-9a-f]{32}\n$")' <<<"$a")" = true
        check "[$u] machine-id differs from the host's" test "$mid_a" != "$HOST_MID"
        check "[$u] machine-id differs between two runs" test "$mid_a" != "$mid_b"
        check "[$u] machine-id is the profile's when it sets one" \
                test "$(jq -r '.machine_id // ""' <<<"$f")" = "$FIXED_MID"
        check "[$u] the audit record has the run's machine id" \
                test "$(jq -r '.machine_id // ""' <<<"$rec_a")" = "$mid_a"
        check "[$u] /etc/machine-id is a read-only mount that cannot be written" \
                test "$(jq -r '.tries[] | select(.arg == "/etc/machine-id") | .ok' <<<"$a") $(jq -r '[.mounts[] | select(.target == "/etc/machine-id") | .options | split(",")[0]] | last' <<<"$a")" = "false ro"
        check "[$u] no name in /dev leads to the identity files" \
                test -z "$(moat_run "$u" "$T/ident.yaml" ls -A /dev 2>/dev/null | grep -i -e moat -e machine -e boot)"
        if [ -n "$HOST_DBUS" ]; then
                check "[$u] /var/lib/dbus/machine-id follows /etc/machine-id inside" \
                        test "$(jq -r '.dbus_machine_id // ""' <<<"$a")" = "$mid_a"
                check "[$u] D-Bus machine-id differs from the host's" \
                        test "$(jq -r '.dbus_machine_id // ""' <<<"$a")" != "$HOST_DBUS"
        else
                tap_skip "[$u] /var/lib/dbus/machine-id follows /etc/machine-id" "the host has none"
        fi
        boot_a=$(jq -r '.boot_id // ""' <<<"$a")
        check "[$u] boot_id inside is a version 4 UUID" \
                test "$(jq -r '.boot_id // "" | test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$")' <<<"$a")" = true
        check "[$u] boot_id differs from the host's" test "$boot_a" != "$HOST_BOOT"
        check "[$u] boot_id differs between two runs" test "$boot_a" != "$(jq -r '.boot_id // ""' <<<"$b")"
done

# A rule set that is not among the programs built into moat (here: the profile denies uname)
# is compiled at run time; its rule is in force and reported like the built-in ones.
sed 's/^name: probe$/name: probe-deny/' "$T/probe.yaml" >"$T/deny.yaml"
printf 'syscalls:\n  deny: [uname]\n' >>"$T/deny.yaml"
chmod 0644 "$T/deny.yaml"
for u in "${USERS[@]}"; do
        check "[$u] a profile's own denial (run-time compiled filter) is in force" \
                test "$(moat_run "$u" "$T/deny.yaml" sh -c 'uname >/dev/null 2>&1; echo $?' 2>/dev/null)" = 1
        if [ "$(as_user "$u" "$MOAT" explain --json -p "$T/deny.yaml" | jq -r '.sandbox.seccomp.notify_denials')" = true ]; then
                check "[$u] the denied syscall of a run-time compiled filter is in the audit record" \
                        test "$(last_audit "$u" | jq -r '[.denials[]? | select(.syscall == "uname") | .group] | join(",")')" = profile
        else
                tap_skip "[$u] run-time compiled filter's denial in the audit record" "the plan does not report denials on this host" \
                        "$(grep -qw user_notif /proc/sys/kernel/seccomp/actions_avail 2>/dev/null && echo present)"
        fi
        check "[$u] the built-in program still allows uname to the plain profile" \
                test "$(moat_run "$u" "$T/probe.yaml" uname 2>/dev/null)" = Linux
done

# A read-only bind is read-only on its submounts too (mount_setattr AT_RECURSIVE; a recursive
# bind with the old API would leave them writable). The submount is made in a private mount
# namespace of this test (unshare -m), never on the host's.
if [ "$(id -u)" -eq 0 ] && command -v unshare >/dev/null; then
        mkdir -p "$T/rosrc/sub"
        chmod -R 0777 "$T/rosrc"
        cat >"$T/ro.yaml" <<YAML
moat: 1
name: ro
isolation: sandbox
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
    - {source: $T/rosrc, target: /ro, mode: ro}
YAML
        chmod 0644 "$T/ro.yaml"
        for u in "${USERS[@]}"; do
                out=$(EXTRA_ENV="" unshare -m --propagation private bash -c '
                        mount -t tmpfs -o mode=0777 moat-test-sub "$1/rosrc/sub" || exit 99
                        shift
                        "$@"' _ "$T" bash -c "$(declare -f as_user user_dir); T='$T' MOAT='$MOAT' MOAT_PROBE='$MOAT_PROBE' \
                        MOAT_DATA_DIR='$MOAT_DATA_DIR' as_user '$u' '$MOAT' run -p '$T/ro.yaml' -- /work/moat-probe \
                        --try-write /ro/top --try-write /ro/sub/x" 2>"$T/stderr")
                check "[$u] read-only bind: not writable" \
                        test "$(jq -r '.tries[0] | "\(.ok) \(.errno)"' <<<"$out" 2>/dev/null)" = "false 30"
                check "[$u] read-only bind: its submount is not writable either" \
                        test "$(jq -r '.tries[1] | "\(.ok) \(.errno)"' <<<"$out" 2>/dev/null)" = "false 30"
        done
else
        tap_skip "read-only binds on submounts" "needs root and unshare(1) to make a submount privately"
fi

# exec on a bind: `exec: true` lets a tool in a read-only bind run; `exec: false` stops it twice,
# with MOUNT_ATTR_NOEXEC on the mount and without the Landlock execute right. Each layer is
# observed on its own: the mount flag with Landlock off, the Landlock rule on /etc (a mount
# that is not noexec, where the plan grants no execute right), and both together on the bind.
mkdir -p "$T/tools/bin"
cp "$MOAT_PROBE" "$T/tools/bin/tool"
chmod -R a+rX "$T/tools"
exec_profile() { # FILE EXEC LANDLOCK
        cat >"$1" <<YAML
moat: 1
name: exec
isolation: sandbox
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
    - {source: $T/tools, target: /opt/tools, mode: ro, exec: $2}
mac:
  landlock: $3
YAML
        chmod 0644 "$1"
}
exec_profile "$T/exec-true.yaml" true required
exec_profile "$T/exec-false.yaml" false required
exec_profile "$T/exec-false-mount.yaml" false off
exec_profile "$T/exec-true-nolandlock.yaml" true off
# an executable file of the host's /etc, readable by everyone (its own mount is not noexec)
etc_exe=$(find /etc -maxdepth 3 -type f -perm -0005 2>/dev/null | sort | head -n 1)
for u in "${USERS[@]}"; do
        # "ok errno" of --try-exec, and the options of the /opt/tools mount
        tried_exec() { jq -r '.tries[0] | "\(.ok) \(.errno)"' <<<"$1" 2>/dev/null; }
        tools_opts() { jq -r '.mounts[] | select(.target == "/opt/tools") | .options' <<<"$1" 2>/dev/null; }

        out=$(moat_run "$u" "$T/exec-true.yaml" /work/moat-probe --try-exec /opt/tools/bin/tool 2>"$T/stderr")
        check "[$u] exec: true: a tool in a read-only bind runs" test "$(tried_exec "$out")" = "true 0"
        check "[$u] exec: true: the bind is read-only and not noexec ($(tools_opts "$out"))" \
                bash -c '[[ ,$1, == *,ro,* && ,$1, != *,noexec,* ]]' _ "$(tools_opts "$out")"
        check "[$u] exec: true: the tool runs as the command itself" \
                test "$(moat_run "$u" "$T/exec-true.yaml" /opt/tools/bin/tool 2>/dev/null | jq -r .pid)" = 2

        out=$(moat_run "$u" "$T/exec-false.yaml" /work/moat-probe --try-exec /opt/tools/bin/tool 2>"$T/stderr")
        check "[$u] exec: false: the tool does not run (EACCES)" test "$(tried_exec "$out")" = "false 13"
        check "[$u] exec: false: the bind is mounted noexec ($(tools_opts "$out"))" \
                bash -c '[[ ,$1, == *,noexec,* ]]' _ "$(tools_opts "$out")"
        moat_run "$u" "$T/exec-false.yaml" /opt/tools/bin/tool >/dev/null 2>&1
        rc=$?
        check "[$u] exec: false: as the command, exit 126 (got $rc)" test $rc -eq 126

        # the mount flag alone (Landlock off)
        out=$(moat_run "$u" "$T/exec-false-mount.yaml" /work/moat-probe --try-exec /opt/tools/bin/tool 2>"$T/stderr")
        check "[$u] exec: false without Landlock: the noexec mount alone refuses it (EACCES)" \
                test "$(tried_exec "$out")" = "false 13"
        check "[$u] ... the probe is not Landlock-restricted there" test "$(jq -r .landlock.restricted <<<"$out")" = false
        out=$(moat_run "$u" "$T/exec-true-nolandlock.yaml" /work/moat-probe --try-exec /opt/tools/bin/tool 2>"$T/stderr")
        check "[$u] ... while exec: true without Landlock runs it" test "$(tried_exec "$out")" = "true 0"

        # the Landlock layer alone: a host executable under /etc, on a mount without noexec
        if [ -n "$etc_exe" ] && [ "$(moat_run "$u" "$T/exec-true.yaml" /work/moat-probe | jq -r .landlock.abi)" -ge 1 ] 2>/dev/null; then
                out=$(moat_run "$u" "$T/exec-true.yaml" /work/moat-probe --try-exec "$etc_exe" 2>"$T/stderr")
                etc_opts=$(jq -r '.mounts[] | select(.target == "/etc") | .options' <<<"$out")
                check "[$u] Landlock alone: $etc_exe (mount $etc_opts, no noexec) is not executable (EACCES)" \
                        bash -c '[[ ,$1, != *,noexec,* ]] && [ "$2" = "false 13" ]' _ "$etc_opts" "$(tried_exec "$out")"
                out=$(moat_run "$u" "$T/exec-true-nolandlock.yaml" /work/moat-probe --try-exec "$etc_exe" 2>"$T/stderr")
                check "[$u] ... and is executed with Landlock off" test "$(tried_exec "$out" | cut -d' ' -f1)" = true
        else
                tap_skip "[$u] Landlock alone refuses execution" "no Landlock here, or no world-executable file under /etc" \
                        "$("$MOAT" host --json | jq -e '.landlock_abi > 0' >/dev/null && [ -n "$etc_exe" ] && echo present)"
        fi
done

# minimal /dev: exactly these entries
for u in "${USERS[@]}"; do
        check "[$u] minimal /dev" test "$(moat_run "$u" "$T/probe.yaml" ls -A /dev 2>/dev/null | sort | tr '\n' ' ')" = \
                "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero "
        check "[$u] /dev/null is the host's null device" \
                test "$(moat_run "$u" "$T/probe.yaml" stat -c '%t:%T' /dev/null 2>/dev/null)" = "1:3"
        # mount point and options of /dev and everything under it: "point options"
        devmounts=$(moat_run "$u" "$T/probe.yaml" awk '$5 ~ "^/dev(/|$)" { print $5, $6 }' /proc/self/mountinfo 2>/dev/null)
        check "[$u] /dev and all 8 mounts under it are nosuid and noexec" \
                test "$(grep -c . <<<"$devmounts")" = 8 -a \
                "$(grep -v 'nosuid' <<<"$devmounts" | grep -c .)$(grep -v 'noexec' <<<"$devmounts" | grep -c .)" = 00
        check "[$u] the /dev tmpfs is nodev (only the bound nodes are devices)" \
                grep -qx '/dev [a-z,]*nodev[a-z,]*' <<<"$devmounts"
        check "[$u] /dev/shm is sticky, world-writable and usable" \
                test "$(moat_run "$u" "$T/probe.yaml" sh -c 'stat -c %a /dev/shm && echo x >/dev/shm/f && cat /dev/shm/f' 2>/dev/null | tr '\n' ' ')" = "1777 x "
done

# Landlock: a rw mount the plan grants no write to stays unwritable: /proc is mounted rw and
# /proc/self/comm is writable by its owner, unless Landlock says otherwise.
for u in "${USERS[@]}"; do
        out=$(moat_run "$u" "$T/probe.yaml" /work/moat-probe --try-write /proc/self/comm --try-write /work/y 2>"$T/stderr")
        if [ "$(jq -r '.landlock.abi' <<<"$out")" -ge 1 ] 2>/dev/null; then
                check "[$u] Landlock denies a write on a rw mount outside the plan's paths (/proc/self/comm)" \
                        test "$(jq -r '.tries[0].ok, .tries[0].errno' <<<"$out" | tr '\n' ' ')" = "false 13 "
                check "[$u] Landlock allows the work directory" test "$(jq -r '.tries[1].ok' <<<"$out")" = true
                check "[$u] the probe sees itself restricted" test "$(jq -r '.landlock.restricted' <<<"$out")" = true
        else
                tap_skip "[$u] Landlock" "no Landlock in this kernel" \
                        "$(grep -qw landlock /sys/kernel/security/lsm 2>/dev/null || [ -e /sys/kernel/security/landlock ] ||
                                "$MOAT" host --json | jq -e '.landlock_abi > 0' >/dev/null && echo present)"
        fi
done

# network loopback: lo is up, and still no route to the host's loopback listener
sed 's/^network: none/network: loopback/' "$T/probe.yaml" >"$T/loopback.yaml"
for u in "${USERS[@]}"; do
        out=$(moat_run "$u" "$T/loopback.yaml" /work/moat-probe --try-connect-tcp "127.0.0.1:$PORT" 2>"$T/stderr")
        if [ -z "$out" ]; then
                tap_not_ok "[$u] network loopback runs"
                diag "$(cat "$T/stderr")"
                continue
        fi
        check "[$u] network loopback: lo is up" test "$(jq -r '[.net[] | .name + ":" + (.up | tostring)] | join(",")' <<<"$out")" = "lo:1"
        check "[$u] network loopback: the host's listener is still unreachable" test "$(jq -r '.tries[0].ok' <<<"$out")" = false
done

tap_end
