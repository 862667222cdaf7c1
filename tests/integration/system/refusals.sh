#!/bin/bash
# The system tier refuses (125, naming the control, nothing started) what liblxc would let
# fail open: cgroup keys of the other family than the host's (liblxc ignores them), a required
# MAC label on a host without that LSM (the plan escalates, and max_tier system refuses), boot
# mode with an init the image does not have, a directory instead of an image of the
# store; and the gate refuses to exec when its own status differs from the plan's. The runner
# that moat starts from a profile asking for this tier is reaped by moat when the plan is
# refused, and a sandbox launch never starts one.
source "$(dirname "$0")/lib.sh"

if [ ! -x "${MOAT_BUILD_DIR:-}/moat-system-run" ]; then
        echo "1..0 # SKIP moat-system-run is not built (needs -Dlxc=enabled)"
        exit 77
fi
tarball=$(busybox_tarball) || { echo "1..0 # SKIP cannot make the busybox test image"; exit 77; }
GATE="$MOAT_BUILD_DIR/launcher/lxc/moat-system-gate"

# The fixture whose cgroup layout this host does not have: its limit keys would be ignored.
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then other=cgroup-v1-root; else other=modern; fi

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        as_user "$u" "$MOAT" image import -q bb "$tarball" >/dev/null
        isroot=$([ "$u" = root ] && echo true || echo false)
        jq --argjson r "$isroot" --argjson uid "$(id -u "$u")" --argjson gid "$(id -g "$u")" --arg user "$u" '.is_root = $r | .uid = $uid | .gid = $gid | .user = $user' "$MOAT_SOURCE_DIR/tests/fixtures/hosts/$other.json" >"$d/facts.json"
        chmod 644 "$d/facts.json"
        write_profile "$d/l.yaml" lim bb 'resources: {memory: 64MiB, pids: 64}'
        mech=$(as_user "$u" "$MOAT" explain --json --host-facts "$d/facts.json" -p "$d/l.yaml" | jq -r .resources.mechanism)
        err=$(as_user "$u" "$MOAT" run -q --host-facts "$d/facts.json" -p "$d/l.yaml" -- echo RAN 2>&1)
        rc=$?
        check_all "$u: $mech limits on this host's other cgroup layout are refused (125, named)" \
                '[ $rc = 125 ] && grep -q "cgroup limits" <<<"$err" && ! grep -q RAN <<<"$err"'

        write_profile "$d/m.yaml" mac bb 'mac: {apparmor: moat-default, enforce: required}'
        # refused where the host cannot enforce it (no AppArmor, as on this kind of machine), or
        # applied: the command then runs under that label, read from inside
        err=$(as_user "$u" "$MOAT" run -q -p "$d/m.yaml" -- sh -c \
                'cat /proc/self/attr/apparmor/current 2>/dev/null || cat /proc/self/attr/current; echo RAN' 2>&1)
        rc=$?
        check_all "$u: a required MAC label is refused or applied, never ignored" \
                '{ [ $rc = 125 ] && ! grep -q RAN <<<"$err"; } ||
                 { [ $rc = 0 ] && grep -qx "moat-default (enforce)" <<<"$err" && grep -qx RAN <<<"$err"; }' ||
                diag "rc $rc: $err"
        # moat starts the runner as soon as the profile asks for this tier (cmd-run.c); a plan
        # that is then refused has it killed and reaped by moat itself, before moat ends, not
        # left waiting until moat's death takes it (PR_SET_PDEATHSIG)
        st="$d/prestart.strace"
        if ! command -v strace >/dev/null; then
                tap_skip "$u: a refused plan's runner is reaped by moat" "strace is not installed"
        elif [ "$rc" != 125 ]; then
                tap_skip "$u: a refused plan's runner is reaped by moat" \
                        "this host did not refuse the plan (rc $rc): no refused plan to look at"
        else
                # one file per process (-ff): no line split by another process's, and the
                # runner is known from moat's own clone of it, whether or not it got as far as
                # its exec before moat killed it (a plan refused quickly kills it sooner)
                rm -f "$st".*
                as_user "$u" strace -ff -q -e trace=execve,clone,clone3,kill,wait4 -e signal=none \
                        -o "$st" "$MOAT" run -q -p "$d/m.yaml" -- echo RAN >/dev/null 2>&1
                mf=$(grep -l 'execve(.*"run", "-q", "-p"' "$st".* 2>/dev/null | head -n1)
                # the runner: moat's CLONE_VM child that is no thread (lxc-execute.c, SpawnBlock)
                rp=$(grep -E '^clone\(.*flags=CLONE_VM\|SIGCHLD\) += [0-9]+$' "${mf:-/dev/null}" |
                        sed -n 's/.* = \([0-9][0-9]*\)$/\1/p' | head -n1)
                kl=$(grep -nE "^kill\($rp, SIGKILL\) += 0\$" "${mf:-/dev/null}" | cut -d: -f1)
                wl=$(grep -nE "^wait4\($rp, .* += $rp\$" "${mf:-/dev/null}" | cut -d: -f1)
                ml=$(grep -n '^+++ exited with 125 +++' "${mf:-/dev/null}" | cut -d: -f1)
                # what the runner ran, if anything: moat-system-run start, nothing else
                ran=$( [ -n "$rp" ] && grep -c 'execve(' "$st.$rp")
                check_all "$u: a refused plan's runner, started from the profile, is killed and reaped by moat before it ends" \
                        '[ -n "$rp" ] && [ -n "$kl" ] && [ -n "$wl" ] && [ -n "$ml" ] && [ "$kl" -lt "$wl" ] && [ "$wl" -lt "$ml" ] &&
                         { [ "$ran" = 0 ] || { [ "$ran" = 1 ] && grep -q "execve(.*moat-system-run.*\"start\"" "$st.$rp"; }; }' ||
                        diag "$(for f in "$st".*; do echo "== $f"; cat "$f"; done)"
        fi

        write_profile "$d/boot.yaml" boot bb 'os: {full_os: true, init: /sbin/init}'
        sed -i '/init: none/d' "$d/boot.yaml"
        err=$(as_user "$u" "$MOAT" run -q -p "$d/boot.yaml" -- echo RAN 2>&1)
        rc=$?
        check_all "$u: boot mode on an image without that init is refused with the reason" \
                '[ $rc = 125 ] && grep -q "boot mode: the image has no init /sbin/init" <<<"$err"'

        [ -d "$d/rootdir" ] || { mkdir "$d/rootdir" && chown "$u:" "$d/rootdir"; }
        write_profile "$d/dir.yaml" dir ./rootdir
        err=$(as_user "$u" "$MOAT" run -q -p "$d/dir.yaml" -- echo RAN 2>&1)
        rc=$?
        check_all "$u: a directory root is refused (images of the store only)" \
                '[ $rc = 125 ] && grep -q "images of the store" <<<"$err"'
        check "$u: refused runs leave no run directory" \
                [ -z "$(run_dirs "$u")" ]
done

# liblxc stays out of a sandbox launch: its runner is not even started
st="$T/sandbox.strace"
if ! command -v strace >/dev/null; then
        tap_skip "a sandbox launch never starts moat-system-run" "strace is not installed"
else
        MOAT_AUDIT_LOG="$T/sandbox-audit.jsonl" strace -f -q -e trace=execve -o "$st" \
                "$MOAT" run -q -p minimal -- /bin/true
        check_all "a sandbox launch never starts moat-system-run" \
                '! grep -q moat-system-run "$st" && grep -q "execve(\"/bin/true\"" "$st"' ||
                diag "$(cat "$st")"
fi

# The gate on the host, where nothing of the plan holds: it names what differs and exits 125.
err=$("$GATE" --nnp -- /bin/echo RAN 2>&1)
rc=$?
check_all "gate: NoNewPrivs 0 -> 125 naming no_new_privs" '[ $rc = 125 ] && grep -q no_new_privs <<<"$err" && ! grep -q RAN <<<"$err"'
err=$(setpriv --no-new-privs "$GATE" --nnp --capbnd 0000000000000000 -- /bin/echo RAN 2>&1)
rc=$?
check_all "gate: a capability bounding set beyond the plan's -> 125 naming CapBnd" \
        '[ $rc = 125 ] && grep -q CapBnd <<<"$err" && ! grep -q RAN <<<"$err"'
err=$(setpriv --no-new-privs "$GATE" --nnp --seccomp 1 -- /bin/echo RAN 2>&1)
rc=$?
check_all "gate: no seccomp filter -> 125 naming seccomp" '[ $rc = 125 ] && grep -q seccomp <<<"$err"'
err=$(setpriv --no-new-privs "$GATE" --nnp --uidmap "0 100000 65536" -- /bin/echo RAN 2>&1)
rc=$?
check_all "gate: another uid map -> 125 naming uid_map" '[ $rc = 125 ] && grep -q uid_map <<<"$err"'
err=$(setpriv --no-new-privs "$GATE" --label "apparmor:moat-container (enforce)" -- /bin/echo RAN 2>&1)
rc=$?
check_all "gate: a label other than the plan's (here: none) -> 125 naming apparmor" \
        '[ $rc = 125 ] && grep -q apparmor <<<"$err" && ! grep -q RAN <<<"$err"'
err=$(setpriv --no-new-privs "$GATE" --label "selinux:system_u:system_r:moat_sandbox_t:s0" -- /bin/echo RAN 2>&1)
rc=$?
check_all "gate: an SELinux context other than the plan's -> 125 naming selinux" \
        '[ $rc = 125 ] && grep -q selinux <<<"$err" && ! grep -q RAN <<<"$err"'

# A run directory base that is not the caller's own directory (made first by someone else in a
# directory all can write, as /dev/shm is; here a symbolic link in the caller's runtime
# directory) is never used: 125 naming it, nothing made where it points.
u=${USERS[${#USERS[@]} - 1]} # moatuser when the test user exists, else the caller
if [ "$u" != root ]; then
        rt=$(user_dir "$u")/home/hostile-run
        mkdir -p "$rt" "$T/elsewhere"
        ln -sfn "$T/elsewhere" "$rt/moat-system"
        [ "$u" = "$(id -un)" ] || chown -h "$u:" "$rt" "$rt/moat-system"
        chmod 0777 "$T/elsewhere"
        write_profile "$(user_dir "$u")/base.yaml" base bb
        err=$(EXTRA_ENV="XDG_RUNTIME_DIR=$rt" as_user "$u" "$MOAT" run -q -p "$(user_dir "$u")/base.yaml" -- echo RAN 2>&1)
        rc=$?
        check_all "a run directory base that is a symbolic link is refused (125, named), nothing made there" \
                '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "$rt/moat-system is not a directory of this user.s" <<<"$err" && [ -z "$(ls -A "$T/elsewhere")" ]' ||
                diag "rc=$rc: $err"
else
        tap_skip "a run directory base that is a symbolic link is refused" "root's base is root's own; no unprivileged caller here"
fi

# root's run directory is on a tmpfs: /run/moat/system where that is one, else a directory of
# root's in /dev/shm, never one that someone else made there first
if [ "$(id -u)" = 0 ]; then
        write_profile "$(user_dir root)/slow.yaml" slow bb
        as_user root "$MOAT" run -q -p "$(user_dir root)/slow.yaml" -- sleep 1 &
        bg=$!
        base=
        for _ in $(seq 100); do
                for b in $ROOT_RUN_BASES; do
                        [ -n "$(ls -A "$b" 2>/dev/null | grep -E '^[0-9a-f]{32}$')" ] && base=$b
                done
                [ -n "$base" ] && break
                sleep 0.05
        done
        fs=$([ -n "$base" ] && stat -f -c %T "$base")
        wait $bg
        rc=$?
        runfs=$(stat -f -c %T /run/moat 2>/dev/null || stat -f -c %T /run)
        if [ "$runfs" != tmpfs ] && [ "$(stat -f -c %T /dev/shm)" != tmpfs ]; then
                tap_skip "root's run directory is on a tmpfs" "neither /run nor /dev/shm is a tmpfs here"
        else
                check_all "root's run directory is on a tmpfs (${base:-not found}: ${fs:-?}; /run: $runfs)" \
                        '[ $rc = 0 ] && [ "$fs" = tmpfs ]'
        fi
        # someone else's directory of that name: left alone, the run goes to /run/moat (root's
        # own, empty between runs, is made again by the next run)
        if [ "$base" = /dev/shm/moat-system-0 ] && id moatuser >/dev/null 2>&1 &&
                rmdir /dev/shm/moat-system-0 2>/dev/null; then
                mkdir /dev/shm/moat-system-0 && chown moatuser: /dev/shm/moat-system-0
                out=$(as_user root "$MOAT" run -q -p "$(user_dir root)/slow.yaml" -- echo RAN 2>&1)
                rc=$?
                check_all "root never uses a /dev/shm/moat-system-0 that another user made: the run goes to /run/moat/system, that directory stays empty" \
                        '[ $rc = 0 ] && grep -qx RAN <<<"$out" && [ -z "$(ls -A /dev/shm/moat-system-0)" ] && [ "$(stat -c %U /dev/shm/moat-system-0)" = moatuser ]' ||
                        diag "rc=$rc $out"
                rmdir /dev/shm/moat-system-0
                # root's own, but writable by others: not used either
                mkdir -m 0777 /dev/shm/moat-system-0 && chmod 0777 /dev/shm/moat-system-0
                as_user root "$MOAT" run -q -p "$(user_dir root)/slow.yaml" -- sleep 1 &
                bg=$!
                seen=
                for _ in $(seq 100); do
                        [ -n "$(ls -A /run/moat/system 2>/dev/null)" ] && seen=run
                        [ -n "$(ls -A /dev/shm/moat-system-0)" ] && { seen=shm; break; }
                        [ "$seen" = run ] && break
                        sleep 0.05
                done
                wait $bg
                rc=$?
                check_all "root never uses a /dev/shm/moat-system-0 that others can write: the run goes to /run/moat/system (seen in: ${seen:-neither})" \
                        '[ $rc = 0 ] && [ "$seen" = run ]'
                rmdir /dev/shm/moat-system-0
        else
                tap_skip "root never uses a /dev/shm/moat-system-0 that another user made" "root's runs do not go to /dev/shm here"
                tap_skip "root never uses a /dev/shm/moat-system-0 that others can write" "root's runs do not go to /dev/shm here"
        fi
fi

# moat-system-run cleanup (what a killed moat's guard execs) removes a run directory of the id
# it is given and nothing else: a directory that is not ID's is refused (125) and kept
RUNNER="$MOAT_BUILD_DIR/moat-system-run"
id=0123456789abcdef0123456789abcdef
mkdir -p "$T/cleanup/$id/upper/etc" "$T/cleanup/other"
echo keep >"$T/cleanup/other/file"
"$RUNNER" cleanup "$id" "$T/cleanup/other" 2>/dev/null
rc=$?
check_all "cleanup: a directory not named after the id is refused (125) and kept" \
        '[ $rc = 125 ] && [ "$(cat "$T/cleanup/other/file")" = keep ]'
"$RUNNER" cleanup not-an-id "$T/cleanup/not-an-id" 2>/dev/null
check "cleanup: an id that is not 32 hex digits is refused (125)" [ $? = 125 ]
"$RUNNER" cleanup "$id" "$T/cleanup/$id"
check_all "cleanup: the run directory of the id is removed" '[ $? = 0 ] && [ ! -e "$T/cleanup/$id" ]'

# keeping a container to enter it again is not built: each entry point says so, nothing runs
for c in "run --keep k -- /bin/echo RAN" "exec k -- /bin/echo RAN" "stop k"; do
        err=$("$MOAT" $c 2>&1)
        rc=$?
        check_all "moat $c: refused (125), saying it is not built" \
                '[ $rc = 125 ] && ! grep -q "^RAN" <<<"$err" && grep -q "keeping a system-tier container to enter it again.*is not built" <<<"$err"'
done
tap_end
