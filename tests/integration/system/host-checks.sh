#!/bin/bash
# Each check moat makes from the host after liblxc started the container (because lxc keys fail
# open, LXC-NOTES §7) stops the run when its condition does not hold. The documented test hook
# MOAT_SYSTEM_FAULT makes one key fail open the way liblxc's do (a key dropped or changed before
# start()) and turns the gate's own checks off, so that what stops the run is the host's check
# alone: 125, the message naming the control "(checked from the host)", the command never run,
# and the audit record marking that control failed. A fault the checks miss is reported as
# "not detected" (the hook can only fail the run), so removing a check fails its line here.
# Also, on this host without AppArmor or SELinux: a plan made with host facts that claim the LSM
# (the keys then go to liblxc, whose nop driver ignores them, P5) is refused from the host.
source "$(dirname "$0")/lib.sh"

if [ ! -x "${MOAT_BUILD_DIR:-}/moat-system-run" ]; then
        echo "1..0 # SKIP moat-system-run is not built (needs -Dlxc=enabled)"
        exit 77
fi
tarball=$(busybox_tarball) || { echo "1..0 # SKIP cannot make the busybox test image"; exit 77; }
WRAP=$MOAT_BUILD_DIR/tests/helpers/seccomp-wrap

# fault USER NAME PROFILE CONTROL MESSAGE [PREFIX...]: the run under MOAT_SYSTEM_FAULT=NAME is
# stopped by the host's check of CONTROL, whose message matches MESSAGE.
fault() {
        local u=$1 f=$2 prof=$3 ctl=$4 msg=$5 out err rc
        shift 5
        err=$(EXTRA_ENV="MOAT_SYSTEM_FAULT=$f" as_user "$u" "$@" "$MOAT" run -q -p "$prof" -- echo RAN 2>&1)
        rc=$?
        check_all "$u: $f fails open -> the host's $ctl check stops the run (125, named, command not run)" \
                '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "$msg.*(checked from the host)" <<<"$err"' ||
                diag "$u $f: rc=$rc: $err"
        out=$(last_audit "$u")
        check_all "$u: $f: the audit record says step verify, $ctl failed" \
                'jq -e --arg c "$ctl" ".error.step == \"verify\" and ([.controls[] | select(.name == \$c)][0].outcome == \"failed\")" <<<"$out" >/dev/null' ||
                diag "$u $f: $(jq -c '[.error, [.controls[] | select(.outcome == "failed")]]' <<<"$out")"
}

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        as_user "$u" "$MOAT" image import -q bb "$tarball" >/dev/null
        write_profile "$d/c.yaml" cmd bb

        # the hook itself: a run whose checks all pass still fails (the gate is never released)
        err=$(EXTRA_ENV=MOAT_SYSTEM_FAULT=gate as_user "$u" "$MOAT" run -q -p "$d/c.yaml" -- echo RAN 2>&1)
        rc=$?
        check_all "$u: MOAT_SYSTEM_FAULT can only fail a run: nothing faked -> 125, not detected, not run" \
                '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "was not detected" <<<"$err"'
        err=$(EXTRA_ENV=MOAT_SYSTEM_FAULT=no-such as_user "$u" "$MOAT" run -q -p "$d/c.yaml" -- echo RAN 2>&1)
        check_all "$u: an unknown fault is refused (125)" '[ $? = 125 ] && grep -q "no such fault" <<<"$err"'
        # userns skips a check of systemd's boot mode only: a plan without systemd has nothing
        err=$(EXTRA_ENV=MOAT_SYSTEM_FAULT=userns as_user "$u" "$MOAT" run -q -p "$d/c.yaml" -- echo RAN 2>&1)
        check_all "$u: a fault the plan has nothing for (userns in command mode) is refused (125)" \
                '[ $? = 125 ] && ! grep -q RAN <<<"$err" && grep -q "this plan has no such key" <<<"$err"'

        fault "$u" nnp "$d/c.yaml" no_new_privs "no_new_privs: NoNewPrivs is 0"
        fault "$u" seccomp "$d/c.yaml" seccomp "seccomp: Seccomp is 0"
        # P4: under a caller's filter, liblxc without allow_nesting loads nothing of its own
        fault "$u" seccomp-nesting "$d/c.yaml" seccomp "seccomp: [0-9]* filters in the container, [0-9]* in moat: the plan.s filter was not loaded" "$WRAP"
        fault "$u" caps "$d/c.yaml" caps "caps: CapBnd is 0000000000000001"
        fault "$u" rlimits "$d/c.yaml" rlimits "rlimits: limit 7 is 1000:1000"
        fault "$u" ipcns "$d/c.yaml" ipcns "ipcns: the container shares the host's"

        # cgroup values read back (root on a v1/hybrid host: the v1 keys)
        if [ "$u" = root ] && [ ! -e /sys/fs/cgroup/cgroup.controllers ]; then
                write_profile "$d/l.yaml" lim bb 'resources: {memory: 64MiB, pids: 32, cpus: 0.5}'
                fault "$u" memory "$d/l.yaml" cgroup.memory "cgroup memory.memsw.limit_in_bytes is .*the plan requires .67108864."
                fault "$u" pids "$d/l.yaml" cgroup.pids "cgroup pids.max is 'max', the plan requires '32'"
                fault "$u" cpu "$d/l.yaml" cgroup.cpu "cgroup cpu.cfs_quota_us is '-1'"
        fi

        # P5 on this host: facts that claim the LSM put the label into liblxc's keys; its nop
        # driver ignores them; the check from the host refuses (the gate's is off: host alone)
        if [ -z "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null | grep Y)" ]; then
                isroot=$([ "$u" = root ] && echo true || echo false)
                as_user "$u" "$MOAT" host --json |
                        jq '.apparmor_enabled = true | .apparmor_moat_loaded = true |
                            .apparmor_moat_profiles = ["moat", "moat-default", "moat-container"]' >"$d/aa.json"
                write_profile "$d/aa.yaml" aa bb 'mac: {apparmor: moat-container, enforce: required}'
                err=$(EXTRA_ENV="MOAT_SYSTEM_FAULT=gate" as_user "$u" "$MOAT" run -q --host-facts "$d/aa.json" -p "$d/aa.yaml" -- echo RAN 2>&1)
                rc=$?
                check_all "$u: an AppArmor label liblxc ignored (no AppArmor here) is refused from the host (125)" \
                        '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "apparmor: the container.s pid 1 has the label .*the plan requires .moat-container (enforce).*checked from the host" <<<"$err"' ||
                        diag "$u aa: rc=$rc: $err"
                err=$(as_user "$u" "$MOAT" run -q --host-facts "$d/aa.json" -p "$d/aa.yaml" -- echo RAN 2>&1)
                rc=$?
                check_all "$u: ... and with the gate's check on as well (125, names apparmor)" \
                        '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "apparmor" <<<"$err"' ||
                        diag "$u aa gate: rc=$rc: $err"
        fi
        if ! grep -qw selinux /sys/kernel/security/lsm 2>/dev/null && [ ! -e /sys/fs/selinux/enforce ]; then
                as_user "$u" "$MOAT" host --json | jq '.selinux_mode = 1 | .selinux_moat_loaded = true' >"$d/se.json"
                write_profile "$d/se.yaml" se bb 'mac: {selinux: "unconfined_u:unconfined_r:moat_sandbox_t:s0", enforce: required}'
                err=$(EXTRA_ENV="MOAT_SYSTEM_FAULT=gate" as_user "$u" "$MOAT" run -q --host-facts "$d/se.json" -p "$d/se.yaml" -- echo RAN 2>&1)
                rc=$?
                check_all "$u: an SELinux context liblxc ignored (no SELinux here) is refused from the host (125)" \
                        '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "selinux: the container.s command has the context .*the plan requires .*moat_sandbox_t.*checked from the host" <<<"$err"' ||
                        diag "$u se: rc=$rc: $err"
        fi
        check "$u: no run directory is left" \
                [ -z "$(run_dirs "$u")" ]
done
tap_end
