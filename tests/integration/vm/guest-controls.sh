#!/bin/bash
# Escalation never drops a control: a profile extending hostile runs in the vm tier through the
# real `moat run`, and its command (guest-controls-guest.sh, with moat-probe) observes from
# inside the guest the sandbox tier's controls that moat-init applies there: the seccomp program
# (x86-64 and i386 through int 0x80), no capability in any set, no_new_privs, Landlock, no
# nested user namespace, pids.max and memory.max on its guest cgroup, the rlimits, its own
# machine-id and boot id. The audit record lists each applied. A guest init that skips them
# (MOAT_VM_FAULT=skip-controls) is stopped with 125. resources.disk: each file written into a
# read-write share is bounded by the guest's RLIMIT_FSIZE; a required Landlock the guest kernel
# cannot enforce stops the run with 125. Five boots (six as root: the probe boot also as root,
# whose QEMU and guest command run as moat-vm).
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
[ -x /usr/bin/python3 ] || skip_all "/usr/bin/python3 is not installed (the guest shares /usr)"
PROBE=$MOAT_BUILD_DIR/tests/helpers/moat-probe
[ -x "$PROBE" ] || skip_all "moat-probe not built"

pids=48
mem=128
guest_controls=(no_new_privs caps seccomp landlock nested-userns cgroup.pids cgroup.memory rlimits)

# probe_run USER: the profile's plan, and one boot whose command observes the controls. For
# root, QEMU and the guest command run as moat-vm.
probe_run() {
        local u=$1 d prof plan out rc mid boot rec c
        d=$(user_dir "$u")
        [ "$u" = root ] && chown moat-vm "$d/work"
        cp "$PROBE" "$d/work/moat-probe"
        cp "$(dirname "$0")/guest-controls-guest.sh" "$d/work/guest.sh"
        cp "$(dirname "$0")/guest-lib.sh" "$d/work/guest-lib.sh"
        chmod a+rx "$d/work/moat-probe" "$d/work/guest.sh" "$d/work/guest-lib.sh"
        prof=$d/work/hostile-probe.yaml
        printf 'moat: 1\nname: hostile-probe\nextends: hostile\nresources:\n  memory: %sMiB\n  pids: %s\n' \
                "$mem" "$pids" >"$prof"
        chmod a+r "$prof"

        plan=$(as_user "$u" "$MOAT" explain --json -p "$prof")
        check "$u: the profile is planned for the vm tier" [ "$(jq -r .tier <<<"$plan")" = vm ]
        for c in "${guest_controls[@]}"; do
                check "$u: plan: $c is a required control of the vm plan" \
                        [ "$(jq -r --arg c "$c" '.controls[] | select(.name == $c) | .status' <<<"$plan")" = required ]
        done

        out=$(as_user "$u" "$MOAT" run -p "$prof" -- bash /work/guest.sh /work/moat-probe "$pids" "$mem" \
                </dev/null 2>"$T/$u-run.err")
        rc=$?
        diag "$u: run: rc=$rc err='$(head -c 400 "$T/$u-run.err")'"
        report_guest "$out" "$u controls" 20
        mid=$(sed -n 's/^MID //p' <<<"$out")
        boot=$(sed -n 's/^BOOTID //p' <<<"$out")
        check "$u: machine-id: the guest's ($mid) is 32 hex digits and not the host's" \
                bash -c '[[ $1 =~ ^[0-9a-f]{32}$ ]] && [ "$1" != "$(cat /etc/machine-id)" ]' _ "$mid"
        check "$u: boot id: the guest's ($boot) is not the host's" \
                bash -c '[ -n "$1" ] && [ "$1" != "$(cat /proc/sys/kernel/random/boot_id)" ]' _ "$boot"
        rec=$(tail -n 1 "$d/audit.log")
        for c in "${guest_controls[@]}"; do
                check "$u: audit: $c applied" \
                        [ "$(jq -r --arg c "$c" '.controls[] | select(.name == $c) | .outcome' <<<"$rec")" = applied ]
        done
        check "$u: audit: the guest's Landlock ABI is recorded" \
                bash -c 'jq -r .tier_detail <<<"$1" | grep -q "guest landlock abi [1-9]"' _ "$rec"
}
for u in "${USERS[@]}"; do
        probe_run "$u"
done

# The rest once, as the last user (moatuser when run as root).
u=${USERS[-1]}
d=$(user_dir "$u")
prof=$d/work/hostile-probe.yaml

# resources.disk in the vm tier: the guest's RLIMIT_FSIZE stops each file the command writes
# into a read-write share (QEMU writes the share on the host; no total is bounded there).
dprof=$d/work/hostile-disk.yaml
# The same boot: a kept capability (net_bind_service) is the only one in every set, ambient
# included, so the unprivileged command holds it after exec.
printf 'moat: 1\nname: hostile-disk\nextends: hostile\nfilesystem:\n  bind:\n    - {source: ., target: /work, mode: rw}\nresources:\n  disk: 8MiB\n  enforce: best-effort\ncapabilities: [net_bind_service]\n' >"$dprof"
chmod a+r "$dprof"
rm -f "$d/work/big"
out=$(as_user "$u" "$MOAT" run -p "$dprof" -- sh -c 'head -c 16777216 /dev/zero >/work/big; echo "rc $?"
        grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb):" /proc/self/status' </dev/null 2>"$T/disk.err")
rc=$?
size=$(stat -c %s "$d/work/big" 2>/dev/null || echo none)
diag "disk and caps: rc=$rc out='$(tr '\n\t' '  ' <<<"$out")' size=$size err='$(head -c 300 "$T/disk.err")'"
check_all "disk: a 16 MiB write into the read-write share stops at 8 MiB (size on the host: $size)" \
        '[ "$rc" = 0 ] && ! grep -qx "rc 0" <<<"$out" && [ "$size" = 8388608 ]'
# CAP_NET_BIND_SERVICE is bit 10
check "caps: a kept capability is the only one in each set, ambient included" \
        [ "$(grep -c "^Cap...:[[:space:]]*0000000000000400$" <<<"$out")" = 5 ]
rm -f "$d/work/big"

# A required Landlock the guest kernel cannot enforce (booted without it in lsm=) stops the run
# before the command (125); the same ruleset where it can denies a write. The vm driver hands
# moat's executor a plan with that one control.
ll() { # RESULT_NAME [DRIVER OPTIONS...]
        local o=$T/$1
        shift
        as_user "$u" "$DRIVER" -L -t 120000 -w /work "$@" -- \
                sh -c 'if echo x >/tmp/f; then echo wrote; else echo denied; fi' \
                </dev/null >"$o.out" 2>"$o.err" 3>"$o.res"
        echo $? >"$o.rc"
}
ll landlock
ll nolandlock -K "lsm=yama"
diag "landlock: rc=$(cat "$T/landlock.rc") out='$(cat "$T/landlock.out")' $(tr '\n' ' ' <"$T/landlock.res")"
diag "no landlock: rc=$(cat "$T/nolandlock.rc") $(tr '\n' ' ' <"$T/nolandlock.res") err='$(head -c 300 "$T/nolandlock.err")'"
check_all "landlock (driver): the guest command's write outside its rules is denied" \
        '[ "$(cat "$T/landlock.rc")" = 0 ] && [ "$(cat "$T/landlock.out")" = denied ]'
check_all "landlock (driver): a guest kernel without Landlock stops the run with 125, the command never started" \
        '[ "$(cat "$T/nolandlock.rc")" = 125 ] && grep -qx "started=0" "$T/nolandlock.res" &&
         grep -q "landlock unsupported" "$T/nolandlock.err" && [ ! -s "$T/nolandlock.out" ]'

# A guest init that neither applies nor reports them: moat stops the run (125).
out=$(MOAT_VM_FAULT=skip-controls as_user "$u" "$MOAT" run -p "$prof" -- echo ran \
        </dev/null 2>"$T/skip.err")
rc=$?
diag "skip-controls: rc=$rc out='$out' err='$(head -c 400 "$T/skip.err")'"
check "a guest that does not apply the required controls ends the run with 125" [ "$rc" = 125 ]
check "and moat says which required control is missing" \
        grep -q "did not apply the required control" "$T/skip.err"
rec=$(tail -n 1 "$d/audit.log")
check "audit: the unreported control is recorded as failed" \
        [ "$(jq -r '.controls[] | select(.name == "seccomp") | .outcome' <<<"$rec")" = failed ]
tap_end
