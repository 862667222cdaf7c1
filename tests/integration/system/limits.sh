#!/bin/bash
# resources.cpu_time and resources.output in the system tier, command mode and boot mode
# (busybox init), as root (range map) and as moatuser (single-uid map; output only: without a
# cgroup of its own a user's container has no CPU accounting, so cpu_time is refused or goes to
# another tier). The plan lists each with its status; the container is killed at the budget
# (137, verdict cpu-time / output), exactly the cap's bytes are passed on, a run within the
# budget is unaffected.
source "$(dirname "$0")/lib.sh"

if [ ! -x "${MOAT_BUILD_DIR:-}/moat-system-run" ]; then
        echo "1..0 # SKIP moat-system-run is not built (needs -Dlxc=enabled)"
        exit 77
fi
tarball=$(busybox_tarball) || { echo "1..0 # SKIP cannot make the busybox test image"; exit 77; }
d0=$(mktemp -d "$T/img.XXXXXX")
tar -C "$d0" -xf "$tarball"
ln -sf /bin/busybox "$d0/sbin/init"
printf '::sysinit:/bin/true\n' >"$d0/etc/inittab"
tar --numeric-owner --owner=0 --group=0 -C "$d0" -cf "$T/boot.tar" . && chmod 0644 "$T/boot.tar"
rm -rf "$d0"

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        as_user "$u" "$MOAT" image import -q bb "$tarball" >/dev/null
        as_user "$u" "$MOAT" image import -q boot "$T/boot.tar" >/dev/null
        for mode in command boot; do
                img=bb
                [ $mode = boot ] && img=boot
                write_profile "$d/o-$mode.yaml" out$mode $img 'resources: {output: 1000B, enforce: required}'
                [ $mode = boot ] && sed -i 's|^os: .*|os: {full_os: true, init: /sbin/init}|' "$d/o-$mode.yaml"
                plan=$(as_user "$u" "$MOAT" explain --json -p "$d/o-$mode.yaml")
                check "$u, $mode mode: the plan keeps the system tier and lists output as required" \
                        jq -e '.tier == "system" and ([.controls[] | select(.name == "output" and .status == "required")] | length == 1)' <<<"$plan"
                n=$(as_user "$u" "$MOAT" run -q -p "$d/o-$mode.yaml" -- sh -c 'i=0; while [ $i -lt 500 ]; do echo 0123456789; i=$((i+1)); done' | wc -c)
                rc=${PIPESTATUS[0]}
                rec=$(last_audit "$u")
                check_all "$u, $mode mode: past resources.output the container is killed, exactly 1000 bytes passed on (137, verdict output)" \
                        '[ "$n" = 1000 ] && [ "$(jq -r .verdict <<<"$rec")" = output ] && [ "$(jq -r .exit.status <<<"$rec")" = 137 ]'
                if [ "$u" != root ] && [ $mode = command ]; then
                        # liblxc's setup process aborting at its start (lxc-run.c) writes to
                        # the relay before the command exists: passed on, not the command's
                        n=$(EXTRA_ENV=MOAT_SYSTEM_RUNNER_FAULT=setup-abort as_user "$u" "$MOAT" run -q \
                                -p "$d/o-$mode.yaml" -- sh -c 'i=0; while [ $i -lt 500 ]; do echo 0123456789; i=$((i+1)); done' 2>"$d/abort.err" | wc -c)
                        rec=$(last_audit "$u")
                        check_all "$u, $mode mode: liblxc's abort before the command is not counted: still exactly 1000 bytes of the command's (137, verdict output)" \
                                '[ "$n" = 1000 ] && grep -q "free(): invalid pointer" "$d/abort.err" && jq -r .tier_detail <<<"$rec" | grep -q "started twice" && [ "$(jq -r .verdict <<<"$rec")" = output ] && [ "$(jq -r .exit.status <<<"$rec")" = 137 ]' ||
                                diag "n=$n $(cat "$d/abort.err") $rec"
                fi
                out=$(as_user "$u" "$MOAT" run -q -p "$d/o-$mode.yaml" -- sh -c 'echo small; echo err >&2; exit 4' 2>&1)
                rc=$?
                check_all "$u, $mode mode: within the cap stdout and stderr pass, the status is the command's (4)" \
                        '[ $rc = 4 ] && grep -qx small <<<"$out" && grep -qx err <<<"$out"' ||
                        diag "$u, $mode: rc=$rc out: $(head -c 600 <<<"$out")"

                write_profile "$d/c-$mode.yaml" cpu$mode $img 'resources: {cpu_time: 1s, timeout: 20s, enforce: required}'
                [ $mode = boot ] && sed -i 's|^os: .*|os: {full_os: true, init: /sbin/init}|' "$d/c-$mode.yaml"
                plan=$(as_user "$u" "$MOAT" explain --json -p "$d/c-$mode.yaml" 2>&1)
                if [ "$u" != root ]; then
                        check "$u, $mode mode: cpu_time is not planned in a user's system container (no cgroup to account it in)" \
                                bash -c '! jq -e ".tier == \"system\" and ([.controls[] | select(.name == \"cpu_time\" and .status == \"required\")] | length == 1)" <<<"$1" >/dev/null 2>&1' _ "$plan"
                        continue
                fi
                check "$u, $mode mode: the plan keeps the system tier and lists cpu_time as required" \
                        jq -e '.tier == "system" and ([.controls[] | select(.name == "cpu_time" and .status == "required")] | length == 1)' <<<"$plan"
                t0=$(date +%s%N)
                as_user "$u" "$MOAT" run -q -p "$d/c-$mode.yaml" -- sh -c 'while :; do :; done'
                rc=$?
                ms=$((($(date +%s%N) - t0) / 1000000))
                rec=$(last_audit "$u")
                check_all "$u, $mode mode: a busy loop is killed at 1 s of CPU time ($ms ms wall; 137, verdict cpu-time, not the 20 s timeout)" \
                        '[ $rc = 137 ] && [ "$(jq -r .verdict <<<"$rec")" = cpu-time ] && [ $ms -lt 8000 ]'
                out=$(as_user "$u" "$MOAT" run -q -p "$d/c-$mode.yaml" -- sh -c 'echo fine')
                check "$u, $mode mode: a command within the budget runs to its end" [ "$out" = fine ]
        done
done
tap_end
