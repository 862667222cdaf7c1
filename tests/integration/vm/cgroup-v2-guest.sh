#!/bin/bash
# Runs inside a vm-tier guest as guest root (driven by cgroup-v2.sh): the sandbox tier's
# cgroup v2 limits on a kernel whose v2 hierarchy has the controllers, which the host's hybrid
# layout does not. Prints "PASS name", "FAIL name" and "DIAG text" lines for the host side.
#   cgroup-v2-guest.sh MOAT PROFILE USER
set -u
moat=$1 profile=$2 user=$3
CG=/sys/fs/cgroup

source "$(dirname "$0")/guest-lib.sh"
children() { find "$1" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' '; }
subtree() { tr -d '\n' <"$1/cgroup.subtree_control"; }

mount -t cgroup2 cgroup2 "$CG" || { fail "mount cgroup2"; exit 0; }
# The root cgroup may enable controllers with processes in it (the no-internal-process rule
# spares it), so the delegated cgroups below get them offered.
echo "+memory +pids +cpu" >"$CG/cgroup.subtree_control" || { fail "enable controllers"; exit 0; }
diag "guest kernel $(uname -r); root subtree_control: $(subtree "$CG")"

mkdir -p /tmp/home-root
export HOME=/tmp/home-root XDG_CACHE_HOME=/tmp/home-root/.cache XDG_STATE_HOME=/tmp/home-root/.state

# in_cgroup DIR: the prefix that runs a command as the only process of the cgroup DIR, in the
# same process (so $! of a background run is moat's own pid)
in_cgroup() { cg_run=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$1"); }

# One delegated cgroup per case, used by nothing but the moat run started in it.
for who in root "$user"; do
        D=$CG/deleg-$who
        mkdir "$D"
        as=()
        audit=/tmp/audit-$who.jsonl
        if [ "$who" != root ]; then
                # what a delegating manager hands over (systemd: Delegate=yes)
                chown "$who" "$D" "$D/cgroup.procs" "$D/cgroup.subtree_control" "$D/cgroup.threads"
                h=/tmp/home-$who
                mkdir -p "$h"
                chown "$who" "$h"
                as=(setpriv --reuid="$who" --regid="$who" --clear-groups env HOME="$h"
                    XDG_CACHE_HOME="$h/.cache" XDG_STATE_HOME="$h/.state")
        fi
        in_cgroup "$D"
        moat_in_d=("${cg_run[@]}" "${as[@]}" env MOAT_AUDIT_LOG="$audit" "$moat")
        run() { "${moat_in_d[@]}" "$@"; }

        mech=$(run explain --json -p "$profile" | jq -r '.resources.mechanism')
        check "$who: a delegated cgroup of moat's own gives cgroup v2 limits (mechanism $mech)" \
                [ "$mech" = cgroup-v2 ]

        # While a sandbox runs: moat and its guard in D/NAME.supervisor, the workload in
        # D/NAME with the limits, the controllers enabled in D.
        "${moat_in_d[@]}" run -p "$profile" -- sleep 30 </dev/null >/dev/null 2>/tmp/err-$who &
        launcher=$!
        if wait_for 20 sh -c 'ls -d "$0"/moat-*[0-9] >/dev/null 2>&1' "$D"; then
                sb=$(ls -d "$D"/moat-*[0-9] | head -1)
                sup=$sb.supervisor
                diag "$who: running: D has [$(children "$D")] subtree_control [$(subtree "$D")]"
                check "$who: the sandbox's cgroup has memory.max 64 MiB" \
                        [ "$(cat "$sb/memory.max")" = 67108864 ]
                check "$who: ... memory.swap.max 0" [ "$(cat "$sb/memory.swap.max")" = 0 ]
                check "$who: ... pids.max 32" [ "$(cat "$sb/pids.max")" = 32 ]
                check "$who: ... cpu.max 50 ms per 100 ms" [ "$(cat "$sb/cpu.max")" = "50000 100000" ]
                check "$who: the workload runs in it" grep -qx sleep \
                        <(for p in $(cat "$sb/cgroup.procs"); do cat "/proc/$p/comm"; done)
                peaks=false
                [ -e "$sb/pids.peak" ] && peaks=true
                check "$who: moat moved itself (and its guard) into the leaf" \
                        grep -qx "$launcher" "$sup/cgroup.procs"
                check "$who: D holds no process of its own while the controllers are on" \
                        [ -z "$(cat "$D/cgroup.procs")" ]
                check "$who: memory pids cpu are enabled in D" \
                        bash -c 'for c in memory pids cpu; do grep -qw $c "$0" || exit 1; done' "$D/cgroup.subtree_control"
        else
                fail "$who: the sandbox's cgroup appears: $(head -c 300 /tmp/err-$who)"
        fi
        kill -TERM "$launcher" 2>/dev/null
        wait "$launcher"
        diag "$who: after the run: D has [$(children "$D")] subtree_control [$(subtree "$D")]"
        check_all "$who: the run leaves D as it found it (no cgroup, no controller enabled)" \
                '[ -z "$(children "$D")" ] && [ -z "$(subtree "$D")" ]'
        if $peaks; then
                check "$who: the audit record has the peak pids" \
                        [ "$(tail -1 "$audit" | jq -r '.usage.peak_pids // 0')" -ge 1 ]
        fi

        # Limits against load.
        run run -p "$profile" -- dd if=/dev/zero of=/dev/null bs=200M count=1 </dev/null >/dev/null 2>&1
        rc=$?
        check "$who: a 200 MiB buffer under memory.max 64 MiB is killed (exit $rc)" [ "$rc" = 137 ]
        peak=$(tail -1 "$audit" | jq -r '.usage.peak_memory_bytes // 0')
        check_all "$who: ... the recorded peak memory stays within 64 MiB ($peak)" \
                '[ "$peak" -gt 0 ] && [ "$peak" -le 67108864 ]'
        run run -p "$profile" -- dd if=/dev/zero of=/dev/null bs=16M count=1 </dev/null >/dev/null 2>&1
        check "$who: ... while 16 MiB is fine" [ $? = 0 ]
        out=$(run run -p "$profile" -- sh -c \
                'n=0; while [ $n -lt 100 ]; do sleep 30 & n=$((n+1)); done; echo spawned' </dev/null 2>&1)
        peak=$(tail -1 "$audit" | jq -r '.usage.peak_pids // 0')
        check "$who: 100 processes cannot start under pids.max 32 (peak $peak)" \
                grep -qiE "fork|resource temporarily unavailable" <<<"$out"
        if $peaks; then
                check "$who: ... the recorded peak is the limit" [ "$peak" = 32 ]
        else
                diag "$who: this kernel has no pids.peak: the peak is not recorded"
        fi
        check_all "$who: D is clean after the load runs" '[ -z "$(children "$D")" ] && [ -z "$(subtree "$D")" ]'

        # kill -9 of moat: its guard removes the sandbox's cgroup, restores D and leaves the
        # leaf last.
        "${moat_in_d[@]}" run -p "$profile" -- sleep 60 </dev/null >/dev/null 2>&1 &
        launcher=$!
        if wait_for 20 sh -c 'ls -d "$0"/moat-*[0-9] >/dev/null 2>&1' "$D"; then
                kill -KILL "$launcher"
                wait "$launcher" 2>/dev/null
                wait_for 10 sh -c '[ -z "$(find "$0" -mindepth 1 -type d)" ] && [ -z "$(cat "$0/cgroup.subtree_control")" ]' "$D"
                diag "$who: after kill -9: D has [$(children "$D")] subtree_control [$(subtree "$D")]"
                check_all "$who: kill -9 of moat leaves no cgroup and no controller enabled in D" \
                        '[ -z "$(children "$D")" ] && [ -z "$(subtree "$D")" ]'
                check "$who: ... and no workload" bash -c '! pgrep -x -f "sleep 60" >/dev/null'
        else
                fail "$who: kill -9 case: the sandbox's cgroup never appeared"
        fi
        rmdir "$D"
done

# A cgroup that holds another process is not moat's to rearrange: its subtree_control stays
# empty and moat offers no cgroup limits from it.
D=$CG/shared
mkdir "$D"
sleep 60 &
other=$!
echo "$other" >"$D/cgroup.procs"
in_cgroup "$D"
mech=$("${cg_run[@]}" "$moat" explain --json -p "$profile" | jq -r '.resources.mechanism')
check "a cgroup shared with another process gives no cgroup v2 limits (mechanism $mech)" \
        [ "$mech" != cgroup-v2 ]
# best-effort, so the run goes ahead (with rlimits) instead of escalating to a nested vm
sed 's/enforce: required/enforce: best-effort/' "$profile" >/tmp/best-effort.yaml
"${cg_run[@]}" env MOAT_AUDIT_LOG=/tmp/audit-shared.jsonl "$moat" run -p /tmp/best-effort.yaml -- true \
        </dev/null >/dev/null 2>/tmp/err-shared
rc=$?
diag "shared: rc=$rc err=$(head -c 300 /tmp/err-shared)"
check "... a best-effort run there goes ahead without cgroups (exit $rc)" [ "$rc" = 0 ]
check_all "... and leaves the shared cgroup untouched" '[ -z "$(children "$D")" ] && [ -z "$(subtree "$D")" ]'
# Facts recorded where D was moat's own, used where it is not (or another process joined
# after the probe): enabling the controllers fails, and the run stops (125) naming why, with D
# put back as it was.
D2=$CG/solo
mkdir "$D2"
in_cgroup "$D2"
"${cg_run[@]}" "$moat" host --json >/tmp/solo-facts.json
rmdir "$D2"
in_cgroup "$D"
"${cg_run[@]}" env MOAT_AUDIT_LOG=/tmp/audit-shared.jsonl "$moat" run --host-facts /tmp/solo-facts.json \
        -p "$profile" -- true </dev/null >/dev/null 2>/tmp/err-busy
rc=$?
diag "busy: rc=$rc err=$(head -c 400 /tmp/err-busy)"
check_all "controllers that cannot be enabled in a shared cgroup stop the run (exit $rc), naming why" \
        '[ "$rc" = 125 ] && grep -q "holds no process but moat" /tmp/err-busy'
check_all "... and the shared cgroup is put back as it was" \
        '[ -z "$(children "$D")" ] && [ -z "$(subtree "$D")" ] && grep -qx "$other" "$D/cgroup.procs"'
kill "$other"
wait "$other" 2>/dev/null
rmdir "$D"

# The root cgroup already gives its children the controllers: a plain child, no leaf.
env MOAT_AUDIT_LOG=/tmp/audit-top.jsonl "$moat" run -p "$profile" -- sleep 30 </dev/null >/dev/null 2>&1 &
launcher=$!
if wait_for 20 sh -c 'ls -d "$0"/moat-*[0-9] >/dev/null 2>&1' "$CG"; then
        sb=$(ls -d "$CG"/moat-*[0-9] | head -1)
        check_all "root cgroup: the sandbox's cgroup is a plain child with the limits" \
                '[ "$(cat "$sb/pids.max")" = 32 ] && [ ! -e "$sb.supervisor" ]'
else
        fail "root cgroup: the sandbox's cgroup appears"
fi
kill -TERM "$launcher"
wait "$launcher"
diag "root cgroup: after the run: $(children "$CG")"
check "root cgroup: removed after the run" bash -c '! ls -d "$0"/moat-* >/dev/null 2>&1' "$CG"
echo "DONE"
