#!/bin/bash
# Runs inside a vm-tier guest booted with `security=selinux selinux=1`, as guest root (driven by
# system-selinux.sh). POLROOT holds the policy store and binary policy built on the host (as for
# selinux-guest.sh); they are loaded, and as unconfined_t (runcon, an administrator's login) in
# enforcing mode the real moat, from the host's build tree, installs its module and runs
# system-tier containers (liblxc, the busybox test image) as root under
# `mac: {selinux: unconfined_u:unconfined_r:moat_sandbox_t:s0}`:
#   - the gate and the command carry the context (/proc/self/attr/current inside, and
#     /proc/PID/attr/current of the command from the guest's side); the audit record lists
#     selinux required and applied;
#   - a write the domain denies (a file labelled etc_t in the container's layer) fails with
#     EACCES; the same write without a label succeeds;
#   - a context liblxc did not apply (MOAT_SYSTEM_FAULT=selinux) and the domain marked
#     permissive (semanage permissive -a) are refused (125) by the check from the host, the
#     command never running; permissive mode (setenforce 0) is refused (125) by the plan;
#   - with moat's module removed the same run refuses (125) naming `moat policy install`.
# The image store and lxc's run directories are tmpfs whose roots are labelled
# system_u:object_r:moat_sandbox_file_t:s0 (the guest's own files are 9p and tmpfs,
# unlabeled_t and tmpfs_t; files on tmpfs inherit their directory's label); CILDIR's
# system-test.cil makes the 9p-shared gate an entrypoint of moat_sandbox_t.
#   system-selinux-guest.sh MOAT TARBALL MODULES_DIR POLROOT CILDIR
# Prints PASS/FAIL/DIAG lines (guest-lib.sh) and DONE.
set -u
moat=$1 tarball=$2 mods=$3 polroot=$4 cildir=$5
source "$(dirname "$0")/guest-lib.sh"
ctx=unconfined_u:unconfined_r:moat_sandbox_t:s0
filectx=system_u:object_r:moat_sandbox_file_t:s0

if [ "${6:-}" != admin ]; then
        system_guest_setup "$mods"
        mount -t selinuxfs selinuxfs /sys/fs/selinux || diag "cannot mount selinuxfs"
        mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
        # the policy root on a tmpfs over /etc/selinux
        mount -t tmpfs -o mode=0755 tmpfs /etc/selinux &&
                cp -a "$polroot/etc/selinux/." /etc/selinux/ &&
                mkdir -p /var/lib/selinux && cp -a "$polroot/var/lib/selinux/." /var/lib/selinux/ ||
                diag "cannot set up the policy root"
        diag "kernel $(</proc/sys/kernel/osrelease); LSMs $(</sys/kernel/security/lsm)"
        # loaded permissive: the guest's own setup (kernel_t) is not what is tested; the
        # administrator's shell turns enforcing on first thing
        load_policy || diag "load_policy failed"
        runcon unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 bash "$0" "$@" admin ||
                diag "runcon: $?"
        setenforce 0
        diag "AVC denials (last 30): $(dmesg | grep -E 'avc: +denied' | tail -30 | tr '\n' '|')"
        echo DONE
        exit 0
fi

setenforce 1
check "SELinux is enforcing, the shell is unconfined_t" \
        grep -q "^unconfined_u:unconfined_r:unconfined_t:" /proc/self/attr/current
"$moat" policy install >/tmp/install.out 2>&1
check "moat policy install installs moat's module" grep -Eq "^  moat +installed" /tmp/install.out ||
        diag "install: $(head -c 600 /tmp/install.out)"
semodule -i "$cildir/system-test.cil" 2>/tmp/cil.err || diag "system-test.cil: $(head -c 300 /tmp/cil.err)"

data=${MOAT_DATA_DIR:?}
h=/tmp/home-root
mkdir -p "$h" /run/moat
for dir in "$h" /run/moat; do
        mount -t tmpfs -o mode=0755 tmpfs "$dir" && chcon "$filectx" "$dir" || diag "cannot mount $dir"
done
mkdir -p "$h/store" "$h/p"
diag "store: $(ls -Zd "$h/store")"
P=$h/p
write_profile() { # NAME [MAC YAML]
        {
                printf 'moat: 1\nname: %s\nisolation: system\nmax_tier: system\n' "$1"
                printf 'filesystem:\n  root: {image: bb}\nos: {full_os: true, init: none}\n'
                printf 'mac: {landlock: off%s}\n' "${2:+, $2}"
        } >"$P/$1.yaml"
}
write_profile se "selinux: '$ctx', enforce: required"
write_profile none
# an image whose /etc/denied is labelled etc_t (the store's other files are moat_sandbox_file_t)
mkdir -p /tmp/img && tar -C /tmp/img -xf "$tarball" && echo original >/tmp/img/etc/denied &&
        tar --numeric-owner --owner=0 --group=0 -C /tmp/img -cf /tmp/img.tar . ||
        diag "cannot make the image"

as() {
        (cd "$h" && env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C HOME="$h" MOAT_DATA_DIR="$data" \
                MOAT_IMAGE_DIR="$h/store" MOAT_AUDIT_LOG="$h/audit.jsonl" ${FAULT:+MOAT_SYSTEM_FAULT=$FAULT} "$@" </dev/null)
}
as "$moat" image import -q bb /tmp/img.tar >/dev/null 2>/tmp/import.err ||
        diag "import: $(head -c 300 /tmp/import.err)"
probe='echo "LABEL $(cat /proc/self/attr/current)"
if e=$(echo x 2>&1 >>/etc/denied); then echo "W ok"; else echo "W denied: $e"; fi
if echo x 2>/dev/null >/tmp/allowed; then echo "TMP ok"; else echo "TMP denied"; fi'
# a first run makes the image's copy for root's id range; then the file the domain may not
# write is labelled etc_t in every copy (new files on these tmpfs inherit their directory's
# label, moat_sandbox_file_t)
as "$moat" run -q -p "$P/none.yaml" -- true >/dev/null 2>/tmp/err || diag "first run: $(head -c 600 /tmp/err)"
find "$h/store" -path '*/etc/denied' -exec chcon -t etc_t {} + 2>/tmp/chcon.err || diag "chcon: $(head -c 300 /tmp/chcon.err)"
diag "store files: $(find "$h/store" -path '*/etc/denied' -exec ls -Z {} + 2>&1 | tr '\n' ' ' | head -c 400)"

out=$(as "$moat" run -q -p "$P/se.yaml" -- sh -c "$probe" 2>/tmp/err)
rc=$?
diag "se: rc=$rc out: $(tr '\n' ' ' <<<"$out") err: $(head -c 900 /tmp/err)"
check_all "a system-tier run with selinux: $ctx required runs (exit 0)" '[ $rc = 0 ]'
check "the command's /proc/self/attr/current is $ctx" grep -qx "LABEL $ctx" <<<"$out"
check "its write to /etc/denied (etc_t) in its layer is denied (EACCES)" \
        grep -q "^W denied: .*Permission denied" <<<"$out"
check "... while a write to /tmp (moat_sandbox_file_t) is not" grep -qx "TMP ok" <<<"$out"
ctl=$(tail -n 1 "$h/audit.jsonl" 2>/dev/null | jq -c '[.controls[] | select(.name == "selinux")][0]')
check_all "the audit record lists selinux required and applied" \
        'jq -e ".planned == \"required\" and .outcome == \"applied\"" <<<"$ctl" >/dev/null'
diag "audit selinux control: $ctl"

as "$moat" run -q -p "$P/se.yaml" -- sleep 30 </dev/null >/dev/null 2>&1 &
bg=$!
wait_for 30 pgrep -xf "sleep 30" >/dev/null
cmd=$(pgrep -xf "sleep 30" | head -1)
cl=$( [ -n "$cmd" ] && tr -d '\0' <"/proc/$cmd/attr/current" 2>/dev/null)
diag "from outside: command $cmd '$cl'"
check "from outside the command carries $ctx" [ "$cl" = "$ctx" ]
kill -TERM "$bg" 2>/dev/null
for p in $(pgrep -f "moat run -q -p $P/se.yaml"); do kill -TERM "$p" 2>/dev/null; done
wait "$bg" 2>/dev/null

out=$(as "$moat" run -q -p "$P/none.yaml" -- sh -c "$probe" 2>/tmp/err)
rc=$?
check_all "control: without a label the command is unconfined_t and the /etc/denied write succeeds" \
        '[ $rc = 0 ] && grep -q "^LABEL unconfined_u:unconfined_r:unconfined_t:" <<<"$out" && grep -qx "W ok" <<<"$out"'
diag "none: rc=$rc out: $(tr '\n' ' ' <<<"$out") err: $(head -c 300 /tmp/err)"

out=$(FAULT=selinux as "$moat" run -q -p "$P/se.yaml" -- echo RAN 2>/tmp/err)
rc=$?
check_all "a context liblxc did not apply is refused from the host (125, names selinux)" \
        '[ $rc = 125 ] && ! grep -q RAN <<<"$out" && grep -q "selinux: the container.s command has the context .*checked from the host" /tmp/err'
diag "fault: rc=$rc err: $(head -c 900 /tmp/err)"

setenforce 0
out=$(FAULT=gate as "$moat" run -q -p "$P/se.yaml" -- echo RAN 2>/tmp/err)
rc=$?
setenforce 1
# (moat's host probe sees the permissive host first: the plan refuses before liblxc starts;
# the check from the host, /sys/fs/selinux/enforce, is the second line behind it)
check_all "permissive mode (setenforce 0) is refused (125, SELinux is permissive on this host)" \
        '[ $rc = 125 ] && ! grep -q RAN <<<"$out" && grep -q "SELinux is permissive on this host" /tmp/err'
diag "permissive: rc=$rc err: $(head -c 900 /tmp/err)"

semanage permissive -a moat_sandbox_t >/dev/null 2>/tmp/perm.err || diag "semanage permissive: $(head -c 300 /tmp/perm.err)"
out=$(FAULT=gate as "$moat" run -q -p "$P/se.yaml" -- echo RAN 2>/tmp/err)
rc=$?
semanage permissive -d moat_sandbox_t >/dev/null 2>&1
check_all "moat_sandbox_t marked permissive is refused from the host (125)" \
        '[ $rc = 125 ] && ! grep -q RAN <<<"$out" && grep -q "selinux: the domain of .* is permissive" /tmp/err'
diag "permissive domain: rc=$rc err: $(head -c 900 /tmp/err)"

semodule -r system-test >/dev/null 2>&1
"$moat" policy remove >/tmp/remove.out 2>&1 || diag "remove: $(head -c 300 /tmp/remove.out)"
out=$(as "$moat" run -q -p "$P/se.yaml" -- echo RAN 2>/tmp/err)
rc=$?
check_all "with moat's module removed the same run refuses (125) naming moat policy install" \
        '[ $rc = 125 ] && ! grep -q RAN <<<"$out" && grep -q "moat policy install" /tmp/err'
diag "removed: rc=$rc err: $(head -c 900 /tmp/err)"
check "no container process is left" sh -c "! pgrep -xf \"sleep 30\""
