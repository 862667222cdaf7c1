#!/bin/bash
# Runs inside a vm-tier guest as guest root (driven by vm-quota.sh): resources.disk in the vm
# tier as a project quota on the read-write shares, on an ext4 file system with project quotas
# enforced (a loop device in guest memory; this host's kernel has no quota format for ext4).
# The real moat runs the vm tier there as root: it sets the quota, then QEMU (nested, TCG inside
# TCG) starts as moat-vm through libvirt. A nested guest does not reach its command in any
# useful time here (its kernel had not printed a line after 10 minutes), so the writer is a
# process of QEMU's own account, moat-vm (no CAP_SYS_RESOURCE), writing into the share's tree
# while that QEMU runs: the same kernel path as QEMU's 9p server, which writes with plain
# openat/pwrite/mkdirat as moat-vm. Prints "PASS name", "FAIL name", "DIAG text", then DONE.
#   vm-quota-guest.sh MOAT MODULES_DIR
set -u
moat=$1 mods=$2

source "$(dirname "$0")/guest-lib.sh"
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
MiB=$((1024 * 1024))

while read -r m; do
        insmod "$mods/$m.ko" 2>/dev/null || diag "insmod $m failed"
done <"$mods/order"
mount -t devtmpfs devtmpfs /dev || { fail "mount devtmpfs"; exit 0; }
mkdir -p /run/dq && mount -t tmpfs -o size=160m tmpfs /run/dq || { fail "tmpfs"; exit 0; }
truncate -s 96M /run/dq/pq.img && mkfs.ext4 -q -O quota,project /run/dq/pq.img || { fail "mkfs.ext4"; exit 0; }
mkdir -p /run/dq/pq
mount -o loop,prjquota /run/dq/pq.img /run/dq/pq || { fail "mount -o prjquota"; exit 0; }
# moat-vm's home (the guest's /var is its root tmpfs): libvirt's session daemon, the caches
mkdir -p /var/lib/moat/vm && chown moat-vm:moat-vm /var/lib/moat/vm && chmod 0700 /var/lib/moat/vm
diag "guest kernel $(uname -r); $(grep ' /run/dq/pq ' /proc/mounts)"

export HOME=/tmp/home-root XDG_CACHE_HOME=/tmp/home-root/.cache XDG_STATE_HOME=/tmp/home-root/.state
mkdir -p "$HOME"
export MOAT_AUDIT_LOG=/tmp/audit.jsonl MOAT_DISK_QUOTA_DIR=/tmp/dq-records MOAT_VM_START=cold
W=/run/dq/pq/work
mkdir -p "$W/sub"
head -c $MiB /dev/zero >"$W/big.dat"
chown -R moat-vm:moat-vm "$W"
cat >/tmp/vq.yaml <<'YAML'
moat: 1
name: vm-disk-quota
isolation: vm
max_tier: vm
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
resources:
  disk: 4MiB
  timeout: 600s
  enforce: required
YAML
records() { find "$MOAT_DISK_QUOTA_DIR" -mindepth 1 -maxdepth 1 -name '[0-9]*' 2>/dev/null | wc -l; }
projects() { lsattr -p -R -d "$1" "$1"/* 2>/dev/null | awk '{ print $1 }' | sort -u | tr '\n' ' '; }
project_of() { lsattr -p -d "$1" | awk '{ print $1 }'; }
qemus() { pgrep -u moat-vm -x qemu-system-x86 2>/dev/null; pgrep -u moat-vm -f '^/usr/bin/qemu-system-x86_64 ' 2>/dev/null; }
qemu_up() { [ -n "$(qemus)" ]; }
as_vm() { setpriv --reuid=moat-vm --regid=moat-vm --clear-groups "$@"; }

# 1. the plan: the vm tier bounds the total with a project quota, the guest's RLIMIT_FSIZE too
plan=$(cd "$W" && "$moat" explain --json -p /tmp/vq.yaml)
check "plan: tier vm" test "$(jq -r .tier <<<"$plan")" = vm
check "plan: resources.disk by project-quota in the vm tier" \
        test "$(jq -r .resources.disk_mechanism <<<"$plan")" = project-quota
check "plan: the disk control is required" \
        test "$(jq -r '.controls[] | select(.name == "disk") | .status' <<<"$plan")" = required
check "plan: ... and the guest's RLIMIT_FSIZE stays (4 MiB)" \
        grep -q "fsize 4194304" <<<"$(cd "$W" && "$moat" explain -p /tmp/vq.yaml)"

# 2. a run: the tree in the run's project while QEMU (moat-vm) runs; moat-vm's writes stop at
#    the bound (EDQUOT); after the run, QEMU gone first, then the tree back in project 0
(cd "$W" && exec "$moat" run -p /tmp/vq.yaml -- sh -c 'dd if=/dev/zero of=/work/guest.dat bs=64k count=200') \
        </dev/null >/tmp/run1.out 2>&1 &
launcher=$!
# the quota is set before QEMU exists: once QEMU runs, the tree must be in the project
if wait_for 400 qemu_up; then
        id=$(project_of "$W")
        diag "run 1: project $id on the tree; QEMU $(qemus | tr '\n' ' ')as moat-vm; records $(records)"
        check "run: the share tree carries the run's own project id ($id)" test "$id" != 0
        check "run: its record exists" test "$(records)" = 1
        as_vm mkdir "$W/newdir"
        check "run: a directory moat-vm makes there inherits the project ($(project_of "$W/newdir"))" \
                test "$(project_of "$W/newdir")" = "$id"
        # what only a QEMU escape could try (the guest has no ioctl through 9p): moat-vm, in the
        # initial user namespace, changing the project of a file it owns
        as_vm sh -c 'echo x >"$0/own" && chattr -p 0 "$0/own"' "$W/sub" >/tmp/c1 2>&1
        diag "moat-vm's chattr -p 0 on its own file: rc=$? project now $(project_of "$W/sub/own"); $(head -c 200 /tmp/c1)"
        rm -f "$W/sub/own"
        as_vm dd if=/dev/zero of="$W/sub/vm.dat" bs=64k count=200 >/tmp/w1 2>&1
        got=$(size "$W/sub/vm.dat")
        diag "moat-vm writer: $(tr '\n' ' ' </tmp/w1 | head -c 300)"
        check "run: moat-vm's write into the share past resources.disk fails with EDQUOT" \
                grep -q "Disk quota exceeded" /tmp/w1
        check_all "run: ... after 3.5 to 4 MiB of new data ($got bytes)" \
                '[ "$got" -ge $((7 * MiB / 2)) ] && [ "$got" -le $((4 * MiB)) ]'
        rm -rf "$W/newdir"
        # the end of a run: its timeout, lowered by killing moat would test the guard; here
        # SIGTERM, which moat handles: destroy, wait for QEMU, release
        kill -TERM "$launcher"
        wait "$launcher"
        rc=$?
        left=$(qemus | tr '\n' ' ')
        diag "run 1 ended: rc=$rc; $(tail -c 300 /tmp/run1.out | tr '\n' ' ')"
        check "run: when moat returns, QEMU is gone (${left:-none left})" test -z "$left"
        check_all "run: ... and every inode of the tree is back in project 0 ($(projects "$W"))" \
                '[ "$(projects "$W")" = "0 " ] && [ "$(records)" = 0 ]'
        check "run: ... no bound left: 8 MiB can be written as moat-vm" \
                as_vm dd if=/dev/zero of="$W/free" bs=1M count=8 status=none
        rm -f "$W/free" "$W/sub/vm.dat"
        added=$(tail -n 1 "$MOAT_AUDIT_LOG" | jq -r '.usage.disk_added_bytes')
        check_all "run: the audit record's usage.disk_added_bytes is what was added ($added)" \
                '[ "$added" -ge $((7 * MiB / 2)) ] && [ "$added" -le $((4 * MiB + 256 * 1024)) ]'
else
        fail "run: QEMU never appeared ($(project_of "$W"); $(tail -c 300 /tmp/run1.out | tr '\n' ' '))"
        kill -9 "$launcher" 2>/dev/null
fi

# 3. kill -9 of moat while QEMU runs: the guard waits for that QEMU to be gone (libvirt destroys
#    it when the connection closes), then puts the tree back in project 0
(cd "$W" && exec "$moat" run -p /tmp/vq.yaml -- true) </dev/null >/tmp/run2.out 2>&1 &
launcher=$!
if wait_for 400 qemu_up; then
        q=$(qemus | head -1)
        check "kill -9: the tree is in the run's project ($(project_of "$W"))" test "$(project_of "$W")" != 0
        guard=$(pgrep -x moat-disk-guard | head -1)
        check "kill -9: while the run holds the quota, its guard runs" test -n "$guard"
        # once libvirt has started the domain, moat hands that QEMU to the guard (a pidfd)
        holds() { grep -qx "Pid:[[:space:]]*$q" /proc/"$guard"/fdinfo/* 2>/dev/null; }
        check "kill -9: the guard holds a pidfd of the run's QEMU ($q)" wait_for 300 holds
        kill -9 "$launcher"
        wait "$launcher" 2>/dev/null
        # watch the order: the tree must not leave the project while that QEMU lives
        early=0
        end=$((SECONDS + 60))
        while ((SECONDS < end)) && [ -d "/proc/$q" ]; do
                [ "$(project_of "$W")" = 0 ] && early=1
                sleep 0.05
        done
        check "kill -9: QEMU is gone within 60 s" test ! -d "/proc/$q"
        check "kill -9: the tree stayed in the project while QEMU lived" test "$early" = 0
        check "kill -9: then the guard puts the tree back in project 0" \
                wait_for 20 sh -c '[ "$(lsattr -p -d "$0" | awk "{ print \$1 }")" = 0 ]' "$W"
        check "kill -9: ... and ends" wait_for 10 sh -c '! pgrep -x moat-disk-guard >/dev/null'
        check_all "kill -9: ... every inode in project 0, no record ($(projects "$W"))" \
                '[ "$(projects "$W")" = "0 " ] && [ "$(records)" = 0 ]'
else
        fail "kill -9: QEMU never appeared ($(tail -c 300 /tmp/run2.out | tr '\n' ' '))"
        kill -9 "$launcher" 2>/dev/null
fi
echo DONE
