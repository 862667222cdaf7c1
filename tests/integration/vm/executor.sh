#!/bin/bash
# The vm executor on a hand-built plan (vm-driver), as root and as moatuser: stdout/stderr
# separation and order, stdin, exit status and signal pass-through, a writable share seen on
# the host with the right owner, a read-only share that cannot be written even by guest root,
# the timeout, resources.cpu_time (the guest init kills the tree past the limit; commands under
# it are unaffected), kill -9 of moat, a malformed and a missing guest status.
source "$(dirname "$0")/lib.sh"

# drive USER OUT_PREFIX DRIVER_ARGS...: runs the driver; OUT_PREFIX.{out,err,res,rc,in}.
drive() {
        local u=$1 o=$2
        shift 2
        as_user "$u" "$DRIVER" "$@" <"$o.in" >"$o.out" 2>"$o.err" 3>"$o.res"
        echo $? >"$o.rc"
}
# find_run BG_PID QEMU_UID: for the driver started in the background subshell BG_PID, sets pid
# (moat itself) and name (its domain's prefix "moat-<pid>-", where <pid> is moat's or, as root,
# its helper's) once that QEMU runs; empties both after 60 s. Other runs (other test
# invocations on the same machine) are never picked.
find_run() {
        local helper= n
        name= pid=
        for _ in $(seq 240); do
                if [ -z "$pid" ]; then
                        for n in "$1" $(pgrep -P "$1"); do
                                [ "$(readlink "/proc/$n/exe")" = "$DRIVER" ] && pid=$n
                        done
                fi
                if [ -n "$pid" ]; then
                        [ -z "$helper" ] && helper=$(pgrep -P "$pid" | head -1)
                        for n in "$pid" $helper; do
                                if pgrep -u "$2" -f "qemu-system-x86_64 -name guest=moat-$n-" >/dev/null; then
                                        name="moat-$n-"
                                        return 0
                                fi
                        done
                fi
                sleep 0.25
        done
        pid=
}

# A file on the host outside every share: the guest must not see it.
: >/var/tmp/moat-vm-host-marker 2>/dev/null
trap 'rm -f /var/tmp/moat-vm-host-marker; cleanup' EXIT
for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        quid=$(qemu_uid "$u")
        mkdir -p "$d/ro" "$d/rw"
        echo original >"$d/ro/file"
        chmod -R a+rX "$d/ro"
        # QEMU runs as the caller (root: as moat-vm) and creates files as that uid; for root,
        # writable shares (the work directory too) must be writable by moat-vm.
        chown "$quid" "$d/rw" "$d/work"

        # One boot: output channels, stdin, exit code, shares; under a CPU time limit it does
        # not reach (the command runs in the guest init's measured cgroup).
        o=$T/$u-main
        printf 'line one\nline two\n' >"$o.in"
        drive "$u" "$o" -c 60000 -w "$d/work" -b "$d/ro:/ro:ro" -b "$d/rw:/rw:rw" -- /bin/sh -c '
                echo out1; echo err1 >&2; echo out2; echo err2 >&2
                cat >/rw/stdin.txt
                id -u >/rw/uid.txt
                (echo changed >/ro/file) 2>/dev/null && echo RO-WRITABLE
                ls /sys/class/net >/rw/net.txt
                ls /dev >/rw/dev.txt
                grep NoNewPrivs /proc/self/status >/rw/nnp.txt
                ls -d /var/tmp/moat-vm-host-marker /root /home /var/tmp >/rw/host.txt 2>&1
                exit 3'
        diag "$u: $(tr '\n' ' ' <"$o.res")"
        [ -s "$o.err" ] && diag "stderr: $(head -c 300 "$o.err")"
        check "$u: exit status 3 passes through" [ "$(cat "$o.rc")" = 3 ]
        check "$u: a command under its CPU time limit is not flagged" \
                grep -q '^cpu_time_exceeded=0$' "$o.res"
        check "$u: QEMU confined by libvirt (seccomp filter), recorded in tier_detail" \
                grep -q 'tier_detail=tcg (software emulation); QEMU uid '"$quid"'.*seccomp=2' "$o.res"
        check "$u: stdout carries only stdout, in order" [ "$(cat "$o.out")" = $'out1\nout2' ]
        check "$u: stderr carries only stderr, in order" [ "$(cat "$o.err")" = $'err1\nerr2' ]
        check "$u: stdin is forwarded to the command" \
                [ "$(cat "$d/rw/stdin.txt" 2>/dev/null)" = $'line one\nline two' ]
        check "$u: the command runs as uid $quid in the guest, not root" \
                [ "$(cat "$d/rw/uid.txt" 2>/dev/null)" = "$quid" ]
        check "$u: a file written in the guest is owned by uid $quid on the host" \
                [ "$(stat -c %u "$d/rw/stdin.txt" 2>/dev/null)" = "$quid" ]
        check_all "$u: a read-only share cannot be written" \
                '[ "$(cat "$d/ro/file")" = original ] && ! grep -q RO-WRITABLE "$o.out"'
        check "$u: the guest has no network device, only loopback" \
                [ "$(cat "$d/rw/net.txt" 2>/dev/null)" = lo ]
        check "$u: the command's /dev has no virtio ports (cannot speak on the status channel)" \
                bash -c '[ -s "$1" ] && ! grep -q vport "$1"' _ "$d/rw/dev.txt"
        check "$u: the guest command runs with no_new_privs" grep -q 'NoNewPrivs:.*1' "$d/rw/nnp.txt"
        diag "host paths seen from the guest: $(tr '\n' ' ' <"$d/rw/host.txt" 2>/dev/null)"
        check "$u: the host's / is not shared (no host marker, /root, /home, /var/tmp)" \
                bash -c '[ "$(grep -c "No such file" "$1")" = 4 ]' _ "$d/rw/host.txt"

        # SIGTERM to moat: the guest is destroyed, moat exits 128+15 (as root, moat forwards
        # the signal to its unprivileged helper, which holds the libvirt connection).
        o=$T/$u-term
        as_user "$u" "$DRIVER" -w "$d/work" -- sleep 600 </dev/null >/dev/null 2>"$o.err" 3>/dev/null &
        bg=$!
        find_run "$bg" "$quid"
        if [ -n "$name" ]; then
                kill -TERM "$pid"
                wait "$bg"
                rc=$?
                for _ in $(seq 100); do no_qemu_left "$quid" "$name" && break; sleep 0.1; done
                check_all "$u: SIGTERM to moat ends the run with 143 and leaves no QEMU" \
                        '[ "$rc" = 143 ] && no_qemu_left "$quid" "$name"'
        else
                for n in $(pgrep -P "$bg"); do kill -9 "$n"; done
                wait "$bg"
                tap_not_ok "$u: SIGTERM: the guest never started ($(head -c 200 "$o.err"))"
        fi

        # kill -9 of moat: libvirt's auto-destroy (and, for root, the helper's parent-death
        # signal) ends QEMU and the domain.
        o=$T/$u-kill
        : >"$o.in"
        as_user "$u" "$DRIVER" -w "$d/work" -- sleep 600 <"$o.in" >/dev/null 2>&1 3>/dev/null &
        bg=$!
        find_run "$bg" "$quid"
        if [ -n "$name" ]; then
                kill -9 "$pid"
                wait "$bg" 2>/dev/null
                if [ "$u" = root ]; then lvhome=$(getent passwd moat-vm | cut -d: -f6); lvu=moat-vm
                else lvhome=$d/home; lvu=$u; fi
                domains() {
                        setpriv --reuid="$lvu" --regid="$lvu" --init-groups env -i HOME="$lvhome" \
                                XDG_CACHE_HOME="$lvhome/.cache" XDG_CONFIG_HOME="$lvhome/.config" \
                                virsh -q -c qemu:///session list --all --name 2>&1
                }
                no_domain_left() { ! domains | grep -q "^$name"; }
                # libvirt notices QEMU's end when it is reaped (up to ~1.5 s on this kind of host).
                for _ in $(seq 100); do
                        no_qemu_left "$quid" "$name" && no_domain_left && break
                        sleep 0.1
                done
                check "$u: kill -9 of moat leaves no QEMU process" no_qemu_left "$quid" "$name"
                check "$u: kill -9 of moat leaves no libvirt domain" no_domain_left
        else
                diag "no QEMU found for the run"
                for n in $(pgrep -P "$bg"); do kill -9 "$n"; done
                wait "$bg" 2>/dev/null
                tap_not_ok "$u: kill -9: the guest never started"
                tap_not_ok "$u: kill -9: no domain check"
        fi
        [ "$u" = root ] && continue

        # The rest exercises host-side logic that does not depend on the caller.
        o=$T/$u-sig
        : >"$o.in"
        drive "$u" "$o" -w "$d/work" -- /bin/sh -c 'kill -USR1 $$'
        check "$u: death by signal is 128+N (SIGUSR1: 138)" [ "$(cat "$o.rc")" = 138 ]

        # Guest root may remount its view writable; QEMU itself still refuses the write.
        o=$T/$u-root
        : >"$o.in"
        drive "$u" "$o" -r -c 60000 -w "$d/work" -b "$d/ro:/ro:ro" -- /bin/sh -c \
                'mount -o remount,rw /ro && echo REMOUNTED; echo changed >/ro/file; id -u'
        diag "guest root: $(tr '\n' ' ' <"$o.out") $(head -c 200 "$o.err")"
        check_all "$u: guest root cannot write a read-only share (enforced by QEMU)" \
                '[ "$(cat "$d/ro/file")" = original ] && grep -q "^0\$" "$o.out"'
        # For guest root the init measures the whole guest's CPU time (root can leave a cgroup).
        check_all "$u: guest root's command under its CPU time limit runs unaffected" \
                'grep -q "^started=1\$" "$o.res" && grep -q "^cpu_time_exceeded=0\$" "$o.res"'

        # resources.cpu_time: a CPU loop that prints its own CPU time (utime + stime, in
        # 1/100 s) is killed by the guest init once the tree has used 1 s, long before the
        # wall timeout (60 s): 137, the cpu-time fact, not timed_out.
        o=$T/$u-cputime
        : >"$o.in"
        start=$(date +%s)
        drive "$u" "$o" -c 1000 -t 60000 -w "$d/work" -- /bin/sh -c \
                'while :; do read -r l </proc/$$/stat; set -- $l; echo $((${14} + ${15})); done'
        took=$(($(date +%s) - start))
        last=$(tail -n 1 "$o.out")
        diag "cpu_time run: $(tr '\n' ' ' <"$o.res") took ${took}s, last CPU time ${last}0 ms"
        check_all "$u: cpu_time 1s kills a CPU loop in the guest (137, cpu_time_exceeded, not timed_out)" \
                '[ "$(cat "$o.rc")" = 137 ] && grep -q "^cpu_time_exceeded=1\$" "$o.res" && grep -q "^timed_out=0\$" "$o.res"'
        check_all "$u: the loop used its 1 s of CPU before the kill (last seen ${last:-?}0 ms)" \
                '[[ "$last" =~ ^[0-9]+$ ]] && [ "$last" -ge 97 ]'
        check "$u: the kill comes well before the wall timeout (${took}s < 45s)" [ "$took" -lt 45 ]

        # resources.output and a bind's exec: false, in one boot: a tool in a noexec share does
        # not run (126), and a chatty command is stopped once stdout and stderr together pass
        # 1 MiB: exactly the cap reaches the caller, 137, the output fact.
        o=$T/$u-outcap
        : >"$o.in"
        mkdir -p "$d/nx"
        printf '#!/bin/sh\necho TOOL-RAN\n' >"$d/nx/tool"
        chmod 0755 "$d/nx" "$d/nx/tool"
        chown -R "$(qemu_uid "$u")" "$d/nx"
        drive "$u" "$o" -o 1048576 -t 60000 -b "$d/nx:/nx:ro-noexec" -w "$d/work" -- /bin/sh -c \
                '/nx/tool; echo "exec=$?" >&2; yes | head -c 10000000'
        # moat's own diagnostics on stderr ("moat: vm: ...") are not the command's output
        bytes=$(($(wc -c <"$o.out") + $(grep -v '^moat: ' "$o.err" | wc -c)))
        diag "output run: $(tr '\n' ' ' <"$o.res") bytes=$bytes err='$(head -c 200 "$o.err")'"
        check_all "$u: exec: false in the guest: the tool in the noexec share does not run (126)" \
                'grep -q "^exec=126\$" "$o.err" && ! grep -q TOOL-RAN "$o.out"'
        check_all "$u: output 1 MiB stops a chatty command (137, output_exceeded)" \
                '[ "$(cat "$o.rc")" = 137 ] && grep -q "^output_exceeded=1\$" "$o.res"'
        check "$u: exactly the cap reaches the caller, stdout and stderr together ($bytes)" \
                [ "$bytes" = 1048576 ]

        o=$T/$u-missing
        : >"$o.in"
        drive "$u" "$o" -w "$d/work" -- /nonexistent/command
        check "$u: a missing command is 127" [ "$(cat "$o.rc")" = 127 ]

        o=$T/$u-timeout
        : >"$o.in"
        start=$(date +%s)
        drive "$u" "$o" -t 15000 -w "$d/work" -- sleep 300
        took=$(($(date +%s) - start))
        diag "timeout run: $(tr '\n' ' ' <"$o.res") took ${took}s"
        check_all "$u: the timeout kills the command (137, timed_out)" \
                '[ "$(cat "$o.rc")" = 137 ] && grep -q "^timed_out=1\$" "$o.res"'
        check "$u: the timeout ends the guest promptly (${took}s < 90s)" [ "$took" -lt 90 ]

        o=$T/$u-bad
        : >"$o.in"
        MOAT_VM_FAULT=bad-status drive "$u" "$o" -t 60000 -w "$d/work" -- true
        check_all "$u: a malformed guest status is exit 125" \
                '[ "$(cat "$o.rc")" = 125 ] && grep -q "malformed message from the guest" "$o.err"'

        o=$T/$u-silent
        : >"$o.in"
        start=$(date +%s)
        MOAT_VM_FAULT=silent drive "$u" "$o" -t 6000 -w "$d/work" -- true
        took=$(($(date +%s) - start))
        check_all "$u: a guest that never reports is exit 125 at the timeout (${took}s)" \
                '[ "$(cat "$o.rc")" = 125 ] && [ "$took" -lt 40 ] && grep -q "did not start the command" "$o.err"'

        o=$T/$u-panic
        : >"$o.in"
        MOAT_VM_FAULT=panic drive "$u" "$o" -t 60000 -w "$d/work" -- true
        diag "panic: $(head -c 300 "$o.err")"
        check_all "$u: a guest kernel panic is exit 125 with the reason" \
                '[ "$(cat "$o.rc")" = 125 ] && grep -q "Kernel panic" "$o.err"'
done
tap_end
