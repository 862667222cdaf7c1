#!/bin/bash
# Resource limits against real load, every run bounded by the profile's timeout and by the
# test's own `timeout`: a fork bomb against pids, a memory hog against memory, a tmpfs fill
# against its size, a CPU loop against the timeout. As root (cgroup v1 on this host) the
# limits are required; as moatuser they are whatever the plan can give (best-effort).
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
                ;;
        esac

        # pids: 100 background sleeps cannot all start under pids.max 32
        out=$(moat_run "$u" "$T/limits-$u.yaml" sh -c \
                'n=0; while [ $n -lt 100 ]; do sleep 30 & n=$((n+1)); done; echo spawned; kill $(jobs -p)' 2>&1)
        rc=$?
        case "$mech" in
        v1 | v2 | cgroup-v1 | cgroup-v2 | CGROUP_MECH_V1 | CGROUP_MECH_V2)
                check "[$u] pids limit stops a process flood (exit $rc)" grep -qiE "fork|resource temporarily unavailable" <<<"$out"
                ;;
        *)
                tap_skip "[$u] pids limit" "no pids cgroup for this user on this host (mechanism ${mech:-unknown})"
                ;;
        esac

        # fork bomb: contained by pids.max, ended by the 20 s timeout with its whole pid
        # namespace. Only with a pids cgroup: without one it would load the shared host.
        case "$mech" in
        v1 | v2 | cgroup-v1 | cgroup-v2 | CGROUP_MECH_V1 | CGROUP_MECH_V2)
                start=$SECONDS
                sed 's/timeout: 20s/timeout: 4s/' "$T/limits-$u.yaml" >"$T/bomb-$u.yaml"
                moat_run "$u" "$T/bomb-$u.yaml" bash -c 'b() { b | b & }; while :; do b; sleep 0.05; done' \
                        >/dev/null 2>&1
                rc=$?
                el=$((SECONDS - start))
                check "[$u] fork bomb is ended by the timeout (exit $rc after $el s)" \
                        test $el -lt 60 -a \( $rc -eq 143 -o $rc -eq 137 \)
                check "[$u] ... and never exceeded pids.max 32 (peak $(last_audit "$u" | jq -r .usage.peak_pids))" \
                        test "$(last_audit "$u" | jq -r .usage.peak_pids)" -eq 32
                ;;
        *)
                tap_skip "[$u] fork bomb" "no pids cgroup for this user here (mechanism ${mech:-unknown})"
                ;;
        esac

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
