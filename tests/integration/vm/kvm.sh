#!/bin/bash
# KVM "usable" means a guest runs, for the account that runs QEMU (the caller, moat-vm for
# root). On any host:
#  - the proof's boot check (moat-init's proof mode under a bounded QEMU) is exercised under
#    TCG: it proves a guest that boots and refuses one that misses its deadline;
#  - the proof under KVM on this host agrees with what `moat host` reports;
#  - as root, in a private mount namespace whose /dev holds a fake /dev/kvm, the probe checks
#    the device with moat-vm's credentials: a 0600 root node is "no-access" for moat-vm (and not
#    "usable" because root can open it), a 0660 group-kvm node opens for moat-vm because it
#    keeps its kvm group, and a vm-tier run on a node moat-vm cannot use runs under TCG and says
#    why, where it used to fail in libvirt ("does not support virt type 'kvm'").
# What only a host with a working KVM proves: the proof's success path under -accel kvm, and
# a run with the plan's accel "kvm" (vm-escalation checks the latter wherever KVM is proven).
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
PROOF=$MOAT_BUILD_DIR/tests/integration/vm/kvm-proof-driver
[ -x "$PROOF" ] || skip_all "kvm-proof-driver not built"

u=${USERS[-1]}
d=$(user_dir "$u")

out=$(as_user "$u" "$PROOF" tcg 60000 2>&1)
diag "proof under TCG: $out"
check "$u: the boot check proves a guest that reaches moat's init (TCG)" \
        grep -q '^proven=1 conclusive=1 ' <<<"$out"
out=$(as_user "$u" "$PROOF" tcg 300 2>&1)
diag "proof under TCG, 300 ms: $out"
check "$u: the boot check refuses a guest that misses its deadline, and says so" \
        grep -q "^proven=0 conclusive=1 .*did not reach moat's init under tcg within 300 ms" <<<"$out"

state=$(as_user "$u" "$MOAT" host --json | jq -r .kvm_state)
case $state in
proven | unproven)
        # A /dev/kvm that answers: the boot check and moat's own verdict (proven by a vm-tier
        # run if it was not yet) must agree, and a proven KVM must be what runs use.
        out=$(as_user "$u" "$PROOF" kvm 15000 2>&1)
        diag "proof under KVM (kvm_state $state): $out"
        as_user "$u" "$MOAT" run -q -p hostile -- true </dev/null >/dev/null 2>&1
        after=$(as_user "$u" "$MOAT" host --json | jq -r .kvm_state)
        if grep -q '^proven=1 ' <<<"$out"; then want=proven; else want=failed; fi
        check "$u: the KVM boot check and moat's cached verdict agree ($want, moat: $after)" \
                [ "$after" = "$want" ]
        check "$u: the vm run used the verdict's accelerator" \
                bash -c 'tail -n 1 "$1" | jq -e --arg a "$2" "[.controls[] |
                        select(.name == \"accel\")][0].detail == \$a" >/dev/null' \
                _ "$d/audit.log" "$([ "$want" = proven ] && echo kvm || echo tcg)" ;;
*)
        out=$(as_user "$u" "$PROOF" kvm 15000 2>&1)
        diag "proof under KVM (kvm_state $state): $out"
        check "$u: where moat host says KVM is $state, a KVM boot does not prove it" \
                grep -q '^proven=0 ' <<<"$out" ;;
esac

if [ "$(id -u)" != 0 ]; then
        tap_skip "fake /dev/kvm nodes" "needs root (a private mount namespace)"
        tap_end
        exit $?
fi
id -nG moat-vm | tr ' ' '\n' | grep -qx kvm
check "moat-guest-kernel put moat-vm in group kvm" [ $? = 0 ]

# with_fake_kvm MODE GROUP COMMAND...: COMMAND with a private /dev whose kvm node is the null
# device (opens, answers no KVM ioctl) with that mode and group.
with_fake_kvm() {
        local mode=$1 group=$2
        shift 2
        MODE=$mode GROUP=$group unshare -m --propagation private bash -c '
                set -e
                dev=$(mktemp -d /tmp/moat-fake-dev.XXXXXX)
                mount -t tmpfs -o mode=0755 tmpfs "$dev"
                cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty "$dev"/
                ln -s /proc/self/fd "$dev/fd"
                mkdir "$dev/pts" "$dev/shm"
                mknod -m "$MODE" "$dev/kvm" c 1 3
                chgrp "$GROUP" "$dev/kvm"
                mount --move "$dev" /dev
                rmdir "$dev"
                mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
                ln -s pts/ptmx /dev/ptmx
                mount -t tmpfs -o mode=1777 tmpfs /dev/shm
                "$@"' _ "$@"
}
jq_true() { jq -e "$@" >/dev/null; }
facts() { # USER: kvm_state|kvm_account|kvm_reason
        as_user "$1" "$MOAT" host --json | jq -r '[.kvm_state, .kvm_account, .kvm_reason] | join("|")'
}
export -f as_user user_dir facts
export T MOAT MOAT_DATA_DIR GUEST_INIT GUEST_KERNEL

r=$(with_fake_kvm 0600 root facts root)
diag "0600 root node, root: $r"
check "root, /dev/kvm 0600 root: no-access for moat-vm, not usable because root can open it" \
        grep -q "^no-access|moat-vm|moat-vm cannot open /dev/kvm: Permission denied .*group kvm" <<<"$r"
r=$(with_fake_kvm 0600 root facts moatuser)
check "moatuser, /dev/kvm 0600 root: no-access, naming moatuser" \
        grep -q "^no-access|moatuser|moatuser cannot open /dev/kvm: Permission denied" <<<"$r"
r=$(with_fake_kvm 0660 kvm facts root)
diag "0660 kvm node, root: $r"
check "root, /dev/kvm 0660 group kvm: moat-vm keeps its kvm group and opens it (not a KVM: unsupported)" \
        grep -q "^unsupported|moat-vm|/dev/kvm is not a KVM device" <<<"$r"
r=$(with_fake_kvm 0660 kvm facts moatuser)
check "moatuser, /dev/kvm 0660 group kvm, not in kvm: no-access" grep -q "^no-access|moatuser|" <<<"$r"

plan=$(with_fake_kvm 0600 root as_user root "$MOAT" explain --json -p hostile)
check "explain: hostile plans TCG and says why (moat-vm cannot open /dev/kvm)" \
        jq_true '.vm.accel == "tcg" and
               ([.controls[] | select(.name == "accel")][0].reason | test("moat-vm cannot open /dev/kvm"))' \
        <<<"$plan"
text=$(with_fake_kvm 0600 root as_user root "$MOAT" host)
check "moat host: KVM present but unusable, with the reason" \
        grep -q "KVM *present but unusable (no-access)" <<<"$text"

rd=$(user_dir root)
chown moat-vm "$rd/work"
out=$(with_fake_kvm 0600 root as_user root "$MOAT" run -p hostile -- uname -r </dev/null 2>"$T/root-run.err")
rc=$?
diag "run with an unusable /dev/kvm: rc=$rc out='$out' err='$(head -c 400 "$T/root-run.err")'"
check_all "root, unusable /dev/kvm: moat run -p hostile runs the guest under TCG" \
        '[ "$rc" = 0 ] && [ "$out" = "$(cat "$(dirname "$GUEST_KERNEL")/release")" ]'
check "root, unusable /dev/kvm: no libvirt error about virt type 'kvm'" \
        bash -c '! grep -q "virt type" "$1"' _ "$T/root-run.err"
check "root, unusable /dev/kvm: the audit record says tcg, and why" \
        jq_true 'select(.tier == "vm") | [.controls[] | select(.name == "accel")][0] |
               .detail == "tcg" and (.reason | test("moat-vm cannot open"))' \
        <(tail -n 1 "$rd/audit.log")
tap_end
