#!/bin/bash
# Resource limits against real load, every run bounded by the profile's timeout and by the
# test's own `timeout`: a fork flood and a fork bomb against pids, a memory hog against memory,
# a tmpfs fill against its size, a CPU loop against the timeout. As root (cgroup v1 on this
# host) the limits are required; as moatuser they are whatever the plan can give (best-effort:
# RLIMIT_NPROC and RLIMIT_AS without a cgroup).
source "$(dirname "$0")/lib.sh"

limits_profile() { # FILE ENFORCE
        cat >"$1" <<YAML
moat: 1
name: limits
isolation: sandbox
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
  tmpfs:
    - {target: /tmp, size: 8MiB}
resources:
  memory: 64MiB
  pids: 32
  cpus: 1
  timeout: 20s
  enforce: $2
YAML
        chmod 0644 "$1"
}

cat >"$T/timeout.yaml" <<'YAML'
moat: 1
name: timeout
isolation: sandbox
filesystem:
  root: host-readonly
resources:
  timeout: 2s
YAML
chmod 0644 "$T/timeout.yaml"

# Forks children that sleep until the fork fails or N succeeded; prints "COUNT ERRNO-NAME".
FLOOD='
import errno, os, sys, time
n, err, kids = 0, "none", []
while n < int(sys.argv[1]):
    try:
        pid = os.fork()
    except OSError as e:
        err = errno.errorcode[e.errno]
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
    n += 1
print(n, err)
for k in kids:
    os.kill(k, 9)
'

for u in "${USERS[@]}"; do
        if [ "$u" = root ]; then enforce=required; else enforce=best-effort; fi
        limits_profile "$T/limits-$u.yaml" "$enforce"
        mech=$(as_user "$u" "$MOAT" explain --json -p "$T/limits-$u.yaml" 2>/dev/null | jq -r '.resources.mechanism // empty')
        diag "[$u] resource mechanism: ${mech:-unknown}"

        # the sandbox runs inside its own limit cgroups (seen through its cgroup namespace)
        case "$mech" in
        v1 | cgroup-v1 | CGROUP_MECH_V1)
                cp "$MOAT_PROBE" "$(user_dir "$u")/work/moat-probe" 2>/dev/null
                cg=$(moat_run "$u" "$T/limits-$u.yaml" /work/moat-probe 2>/dev/null | jq -r .cgroup)
                for ctl in memory pids cpu; do
                        check "[$u] in its own $ctl cgroup" grep -Eq "^[0-9]+:([a-z_]+,)*$ctl(,[a-z_]+)*:/moat-[0-9]+-[0-9]+\$" <<<"$cg"
                done
                # moat makes them while init builds the sandbox and hands init their tasks files,
                # through which init moves itself in; the workload starts only once that is
                # done, however long it takes: here each write(2) (the limits) and sendmsg(2)
                # (the files, and moat's word that they are all there) of moat's (not of
                # init's: strace without -f traces moat alone) is made 0.3 s slower
                if [ "$u" = root ]; then
                        if command -v strace >/dev/null; then
                                cg=$(as_user "$u" strace -qq -o /dev/null -e trace=write,sendmsg \
                                        -e inject=write,sendmsg:delay_enter=300000 \
                                        "$MOAT" run -p "$T/limits-$u.yaml" -- /work/moat-probe 2>/dev/null |
                                        jq -r .cgroup)
                                for ctl in memory pids cpu; do
                                        check "[$u] a slow move into the cgroups: the workload still starts in its own $ctl cgroup" \
                                                grep -Eq "^[0-9]+:([a-z_]+,)*$ctl(,[a-z_]+)*:/moat-[0-9]+-[0-9]+\$" <<<"$cg"
                                done
                        else
                                tap_skip "[$u] a slow move into the cgroups" "strace is not installed"
                        fi
                fi
                ;;
        esac

        # pids: the limit is pids.max of a cgroup, or, without one, RLIMIT_NPROC, which since
        # Linux 5.14 counts the tasks of the sandbox's uid in its own user namespace only.
        nproc=$(as_user "$u" "$MOAT" explain --json -p "$T/limits-$u.yaml" 2>/dev/null |
                jq -r '.sandbox.rlimits[]? | select(.resource == "nproc") | .hard')
        case "$mech" in
        v1 | v2 | cgroup-v1 | cgroup-v2 | CGROUP_MECH_V1 | CGROUP_MECH_V2) pids_by="pids.max" ;;
        *) pids_by=${nproc:+RLIMIT_NPROC} ;;
        esac
        diag "[$u] pids limited by: ${pids_by:-nothing}"
        flood_ok=false
        if [ -n "$pids_by" ]; then
                check "[$u] pids 32 is in the plan as $pids_by" test "$pids_by" = pids.max -o "${nproc:-}" = 32
                # A flood of forks, each child sleeping: exactly 30 start (32 = moat's init, the
                # flooding process and 30 children), the next one fails with EAGAIN. Bounded to
                # 100 forks, so that without the limit the test fails instead of loading the host.
                out=$(moat_run "$u" "$T/limits-$u.yaml" python3 -c "$FLOOD" 100 2>&1)
                check "[$u] a fork flood stops at pids 32 ($pids_by): 30 children, then EAGAIN (got: $out)" \
                        test "$out" = "30 EAGAIN"
                [ "$out" = "30 EAGAIN" ] && flood_ok=true
                # ... while the caller's processes outside the sandbox do not count against it
                # (RLIMIT_NPROC is per user namespace): 40 sleepers of the same user on the host.
                hf="$(user_dir "$u")/holders"
                rm -f "$hf"
                as_user "$u" bash -c 'for i in $(seq 40); do sleep 30 & echo $! >>"$1"; done; wait' _ "$hf" &
                holders=$!
                for _ in $(seq 50); do [ -f "$hf" ] && [ "$(wc -l <"$hf")" = 40 ] && break; sleep 0.1; done
                out=$(moat_run "$u" "$T/limits-$u.yaml" python3 -c "$FLOOD" 100 2>&1)
                check "[$u] ... the same 30 with 40 more processes of $u outside the sandbox (got: $out)" \
                        test "$out" = "30 EAGAIN"
                kill $(cat "$hf") 2>/dev/null
                wait $holders 2>/dev/null
        else
                # RLIMIT_NPROC can do it for anyone but root on Linux >= 5.14
                kv=$(uname -r | awk -F. '{ print $1 * 1000 + $2 }')
                tap_skip "[$u] pids limit" "neither a pids cgroup nor RLIMIT_NPROC for this user here (mechanism ${mech:-unknown})" \
                        "$([ "$u" != root ] && [ "$kv" -ge 5014 ] && echo present)"
        fi

        # fork bomb: contained by the limit, ended by the 4 s timeout with its whole pid
        # namespace. Only where the flood above was stopped: without a limit in force it would
        # load the shared host.
        if $flood_ok; then
                start=$SECONDS
                sed 's/timeout: 20s/timeout: 4s/' "$T/limits-$u.yaml" >"$T/bomb-$u.yaml"
                moat_run "$u" "$T/bomb-$u.yaml" bash -c 'b() { b | b & }; while :; do b; sleep 0.05; done' \
                        >/dev/null 2>&1 &
                bomb=$!
                # the sandbox's tasks, sampled from the host in its pid namespace
                peak=0
                sleep 0.3
                # moat's child in a pid namespace other than ours: the sandbox's init
                mp=$(moat_pid_by_arg "$T/bomb-$u.yaml")
                host_pidns=$(ps -o pidns= -p $$ | tr -d ' ')
                ns=$(ps -o pidns= --ppid "${mp:-0}" 2>/dev/null | tr -d ' ' | grep -vx "$host_pidns" | head -n 1)
                while kill -0 $bomb 2>/dev/null; do
                        if [ -n "$ns" ]; then
                                n=$(ps -e -o pidns=,nlwp= | awk -v ns="$ns" '$1 == ns { n += $2 } END { print n + 0 }')
                                [ "$n" -gt "$peak" ] && peak=$n
                        fi
                        sleep 0.1
                done
                wait $bomb
                rc=$?
                el=$((SECONDS - start))
                check "[$u] fork bomb is ended by the timeout (exit $rc after $el s)" \
                        test $el -lt 60 -a \( $rc -eq 143 -o $rc -eq 137 \)
                check "[$u] ... and never had more than 32 tasks (sampled peak $peak in pid namespace ${ns:-unknown})" \
                        test -n "$ns" -a "$peak" -le 32 -a "$peak" -gt 0
                if [ "$pids_by" = pids.max ]; then
                        check "[$u] ... and never exceeded pids.max 32 (peak $(last_audit "$u" | jq -r .usage.peak_pids))" \
                                test "$(last_audit "$u" | jq -r .usage.peak_pids)" -eq 32
                fi
        else
                tap_skip "[$u] fork bomb" "no pids limit in force for this user here (mechanism ${mech:-unknown})"
        fi
        if [ "$u" != root ] && [ "$pids_by" = RLIMIT_NPROC ]; then
                check "[$u] the audit record lists pids as degraded (RLIMIT_NPROC)" \
                        test "$(last_audit "$u" | jq -r '.controls[] | select(.name == "cgroup.pids") | .planned + " " + .outcome + " " + .detail' | cut -d' ' -f1-3)" = "degraded degraded RLIMIT_NPROC"
        fi

        # memory: a 200 MiB buffer under a 64 MiB limit is killed
        moat_run "$u" "$T/limits-$u.yaml" dd if=/dev/zero of=/dev/null bs=200M count=1 >/dev/null 2>&1
        rc=$?
        case "$mech" in
        v1 | v2 | cgroup-v1 | cgroup-v2 | CGROUP_MECH_V1 | CGROUP_MECH_V2 | rlimit | RLIMIT)
                check "[$u] memory hog over the limit fails (exit $rc)" test $rc -ne 0
                rec=$(last_audit "$u")
                peak=$(jq -r ".usage.peak_memory_bytes" <<<"$rec")
                diag "[$u] peak memory reported: ${peak:-none}"
                ;;
        *)
                tap_skip "[$u] memory limit" "no memory limit for this user here (mechanism ${mech:-unknown})"
                ;;
        esac
        moat_run "$u" "$T/limits-$u.yaml" dd if=/dev/zero of=/dev/null bs=16M count=1 >/dev/null 2>&1
        check "[$u] ... while 16 MiB is fine" test $? -eq 0

        # tmpfs: 16 MiB do not fit in an 8 MiB /tmp
        moat_run "$u" "$T/limits-$u.yaml" dd if=/dev/zero of=/tmp/fill bs=1M count=16 2>"$T/err"
        rc=$?
        check "[$u] tmpfs fill stops at its size (exit $rc)" grep -q "No space left on device" "$T/err"

        # timeout: a CPU loop is ended after 2 s (SIGTERM, then SIGKILL after the grace)
        start=$(date +%s%N)
        moat_run "$u" "$T/timeout.yaml" sh -c 'while :; do :; done' 2>/dev/null
        rc=$?
        ms=$((($(date +%s%N) - start) / 1000000))
        check "[$u] CPU loop killed by the timeout (exit $rc = 128+SIGTERM)" test $rc -eq 143
        check "[$u] ... after about 2 s (${ms} ms)" test $ms -ge 1900 -a $ms -lt 8000
        rec=$(last_audit "$u")
        check "[$u] the audit record says timed out" \
                test "$(jq -r '[.. | objects | select(has("timed_out")) | .timed_out] | first' <<<"$rec")" = true
done

tap_end
