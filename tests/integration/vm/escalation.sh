#!/bin/bash
# Automatic escalation end to end through `moat run`: the default policy sends hostile and
# kernel-lab to the vm tier, whose guest kernel is not the host's; ci-untrusted stays in the
# sandbox. As root and as moatuser.
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"

guest_release=$(cat "$(dirname "$GUEST_KERNEL")/release" 2>/dev/null)
host_release=$(uname -r)
diag "guest kernel $guest_release, host kernel $host_release"

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        # Root's QEMU runs as moat-vm: the shared work directory must be usable by it.
        [ "$u" = root ] && chown moat-vm "$d/work"

        tier=$(as_user "$u" "$MOAT" explain --json -p ci-untrusted | jq -r .tier)
        check "$u: ci-untrusted stays in the sandbox tier (got '$tier')" [ "$tier" = sandbox ]
        tier=$(as_user "$u" "$MOAT" explain --json -p hostile | jq -r .tier)
        check "$u: hostile is planned for the vm tier (got '$tier')" [ "$tier" = vm ]

        # One boot for both: the kernel release, then the guest's /etc/machine-id (the host's
        # /etc is shared read-only; the guest init covers the id with one of the run's own).
        all=$(as_user "$u" "$MOAT" run -p hostile -- sh -c 'uname -r; cat /etc/machine-id' \
              </dev/null 2>"$T/$u-hostile.err")
        rc=$?
        out=$(sed -n 1p <<<"$all")
        mid=$(sed -n 2p <<<"$all")
        diag "hostile: rc=$rc out='$all' err='$(head -c 400 "$T/$u-hostile.err")'"
        # Functions, so that check runs the whole condition (not its first test only).
        release_ok() { [ "$rc" = 0 ] && [ "$out" = "$guest_release" ] && [ "$out" != "$host_release" ]; }
        mid_ok() { [ "$rc" = 0 ] && [[ $mid =~ ^[0-9a-f]{32}$ ]] && [ "$mid" != "$(cat /etc/machine-id)" ]; }
        check "$u: moat run -p hostile -- uname -r prints the guest kernel's release" release_ok
        check "$u: the guest's machine-id is 32 hex digits and differs from the host's" mid_ok
        check "$u: the audit record has the guest's machine id" \
                [ "$(tail -n 1 "$d/audit.log" | jq -r '.machine_id // ""')" = "$mid" ]
        # The accelerator is the host's: kvm where a guest has been proven to run under KVM
        # for QEMU's account (the run above proves it once), tcg everywhere else.
        want=$(as_user "$u" "$MOAT" host --json | jq -r 'if .kvm_usable then "kvm" else "tcg" end')
        check "$u: the audit record names the vm tier and the host's accelerator ($want)" \
                bash -c 'tail -n 1 "$1" | jq -e --arg a "$2" "select(.tier == \"vm\") |
                        [.controls[] | select(.name == \"accel\")][0].detail == \$a" >/dev/null' \
                _ "$d/audit.log" "$want"

        out=$(as_user "$u" "$MOAT" run -p kernel-lab -- cat /proc/modules </dev/null \
              2>"$T/$u-lab.err")
        rc=$?
        diag "kernel-lab: rc=$rc err='$(head -c 400 "$T/$u-lab.err")'"
        # The guest's own modules (loaded by moat's init), never the host's.
        check_all "$u: moat run -p kernel-lab -- cat /proc/modules lists the guest's modules" \
                '[ "$rc" = 0 ] && grep -q "^9pnet_virtio " <<<"$out" && grep -q "^virtio_console " <<<"$out"'
done
tap_end
