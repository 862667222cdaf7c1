#!/bin/bash
# Runs inside a vm-tier guest as guest root (driven by disk-quota.sh): resources.disk as a
# project quota, on an ext4 file system with project quotas enforced (a loop device in guest
# memory), which this host's kernel cannot mount (it has no quota format for ext4). The real
# moat binary runs the sandbox tier there. Prints "PASS name", "FAIL name" and "DIAG text".
#   disk-quota-guest.sh MOAT MODULES_DIR USER
set -u
moat=$1 mods=$2 user=$3

source "$(dirname "$0")/guest-lib.sh"
size() { stat -c %s "$1" 2>/dev/null || echo 0; }
MiB=$((1024 * 1024))

while read -r m; do
        insmod "$mods/$m.ko" 2>/dev/null || diag "insmod $m failed"
done <"$mods/order"
# losetup needs /dev/loop-control: the guest's own devtmpfs, as on any host
mount -t devtmpfs devtmpfs /dev || { fail "mount devtmpfs"; exit 0; }
mkdir -p /run/dq && mount -t tmpfs -o size=256m tmpfs /run/dq || { fail "tmpfs"; exit 0; }
mkfs() { truncate -s 96M "$1" && mkfs.ext4 -q -O quota,project "$1"; }
mkfs /run/dq/enforced.img && mkfs /run/dq/accounted.img || { fail "mkfs.ext4"; exit 0; }
mkdir -p /run/dq/pq /run/dq/acct
mount -o loop,prjquota /run/dq/enforced.img /run/dq/pq || { fail "mount -o prjquota"; diag "$(ls /dev | tr "\n" " ")"; diag "$(dmesg | tail -n 8 | tr "\n" "|")"; exit 0; }
# quota feature on, prjquota option off: usage accounted, limits ignored (fails open)
mount -o loop /run/dq/accounted.img /run/dq/acct || { fail "mount without prjquota"; exit 0; }
diag "guest kernel $(uname -r); $(grep -E ' /run/dq/(pq|acct) ' /proc/mounts | tr '\n' ';')"

export HOME=/tmp/home-root XDG_CACHE_HOME=/tmp/home-root/.cache XDG_STATE_HOME=/tmp/home-root/.state
mkdir -p "$HOME"
W=/run/dq/pq/work
mkdir -p "$W/sub/deeper" /run/dq/acct/work
head -c $MiB /dev/zero >"$W/big.dat"
echo hello >"$W/sub/deeper/note.txt"
cat >/tmp/dq.yaml <<'YAML'
moat: 1
name: disk-quota
isolation: sandbox
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
  tmpfs:
    - {target: /tmp, size: 16MiB}
resources:
  disk: 4MiB
  timeout: 120s
  enforce: required
YAML
export MOAT_AUDIT_LOG=/tmp/audit.jsonl
# the run records (the guest's /var is the host's, read-only)
export MOAT_DISK_QUOTA_DIR=/tmp/dq-records
records() { find "$MOAT_DISK_QUOTA_DIR" -mindepth 1 -maxdepth 1 -name '[0-9]*' 2>/dev/null | wc -l; }
run() { (cd "$W" && "$moat" run -p /tmp/dq.yaml "$@"); }
# projects: every project id of the tree's directories and regular files, sorted, unique
projects() { lsattr -p -R -d "$1" "$1"/* 2>/dev/null | awk '{ print $1 }' | sort -u | tr '\n' ' '; }
inherit_flags() { lsattr -R "$1" 2>/dev/null | awk '$1 ~ /P/' | wc -l; }

# 1. the plan
plan=$(cd "$W" && "$moat" explain --json -p /tmp/dq.yaml)
check "root: the plan bounds disk with a project quota" \
        test "$(jq -r '.resources.disk_mechanism' <<<"$plan")" = project-quota
check "root: ... a required control, not degraded" \
        test "$(jq -r '.controls[] | select(.name == "disk") | .status' <<<"$plan")" = required
check "root: moat host: project quota for a directory there" \
        test "$(cd "$W" && "$moat" host --json | jq -r .project_quota)" = true
check_all "root: before: every inode of the tree in project 0" '[ "$(projects "$W")" = "0 " ]'

# 2. a writer past the bound stops there, EDQUOT, verdict disk; the tree is held in the project
run --result /tmp/r1.json -- sh -c 'lsattr -p -d /work /work/big.dat /work/sub/deeper/note.txt >/tmp/in 2>&1;
        cat /tmp/in; dd if=/dev/zero of=/work/out bs=64k count=200 2>&1; rc=$?; echo dd=$rc; exit $rc' >/tmp/o1 2>&1
rc=$?
out_size=$(size "$W/out")
diag "writer: rc=$rc out=$out_size bytes; $(tr '\n' ' ' </tmp/o1 | head -c 600)"
check "root: a write past resources.disk fails with EDQUOT (Disk quota exceeded)" \
        grep -q "Disk quota exceeded" /tmp/o1
check_all "root: ... after 3.5 to 4 MiB of new data ($out_size bytes)" \
        '[ "$out_size" -ge $((7 * MiB / 2)) ] && [ "$out_size" -le $((4 * MiB)) ]'
inside=$(awk 'NR <= 3 { print $1 }' /tmp/o1 | sort -u)
check_all "root: inside, the work tree carries the run's own project id ($inside)" \
        '[ -n "$inside" ] && [ "$(wc -w <<<"$inside")" = 1 ] && [ "$inside" != 0 ]'
check "root: --result: verdict disk" test "$(jq -r .verdict /tmp/r1.json)" = disk
added=$(tail -n 1 "$MOAT_AUDIT_LOG" | jq -r '.usage.disk_added_bytes')
check_all "root: the audit record's usage.disk_added_bytes is the new data ($added)" \
        '[ "$added" -ge $((7 * MiB / 2)) ] && [ "$added" -le $((4 * MiB + 256 * 1024)) ]'
check "root: the audit record: disk applied" test "$(tail -n 1 "$MOAT_AUDIT_LOG" |
        jq -r '.controls[] | select(.name == "disk") | .outcome')" = applied
rm -f "$W/out"

# 3. growing a file that existed before the run counts as well
run -- sh -c 'cat /dev/zero >>/work/big.dat' >/tmp/o2 2>&1
big=$(size "$W/big.dat")
check_all "root: appending to a file that was there stops at the bound too ($big bytes)" \
        '[ "$big" -ge $((9 * MiB / 2)) ] && [ "$big" -le $((5 * MiB)) ]'
truncate -s $MiB "$W/big.dat"

# 4. the workload cannot take a file out of the project; special files it makes are restored
run -- sh -c 'echo x >/work/x; chattr -p 0 /work/x 2>/dev/null; echo chattr=$?;
        ln -s /a/long/target/name/that/needs/a/block/of/its/own/on/ext4/..................../x /work/link;
        mkfifo -m 0604 /work/fifo' >/tmp/o3 2>&1
check "root: the workload cannot change a project id (chattr -p fails inside)" \
        grep -qx "chattr=[1-9][0-9]*" /tmp/o3
sync
for f in link fifo x; do
        p=$(debugfs -R "stat /work/$f" /run/dq/enforced.img 2>/dev/null | sed -n 's/.*Project: *\([0-9]*\).*/\1/p')
        check "root: after the run, /work/$f made inside is in project 0 (debugfs: ${p:-none})" \
                test "${p:-x}" = 0
done
check "root: ... the symbolic link keeps its target" \
        test "$(readlink "$W/link")" = /a/long/target/name/that/needs/a/block/of/its/own/on/ext4/..................../x
check_all "root: ... the FIFO is a FIFO with its mode ($(stat -c %a "$W/fifo"))" '[ -p "$W/fifo" ] && [ "$(stat -c %a "$W/fifo")" = 604 ]'
rm -f "$W/link" "$W/fifo" "$W/x"

# 5. after runs: every inode back in project 0, no inherit flag, and no bound any more
check_all "root: after: every inode of the tree in project 0 ($(projects "$W"))" '[ "$(projects "$W")" = "0 " ]'
check_all "root: after: no directory inherits a project" '[ "$(inherit_flags "$W")" = 0 ]'
check "root: after: 8 MiB can be written there outside moat" \
        dd if=/dev/zero of="$W/free" bs=1M count=8 status=none
rm -f "$W/free"

# 6. kill -9 of moat mid-run: the guard undoes it
(cd "$W" && exec "$moat" run -p /tmp/dq.yaml -- sleep 60) </dev/null >/dev/null 2>&1 &
launcher=$!
if wait_for 30 sh -c '[ "$(lsattr -p -d "$0" | awk "{ print \$1 }")" != 0 ]' "$W"; then
        guard=$(pgrep -x moat-disk-guard | head -1)
        check "root: while a run holds the quota, its guard runs" test -n "$guard"
        kill -9 "$launcher"
        wait "$launcher" 2>/dev/null
        check "root: kill -9 of moat: the guard puts the tree back in project 0" \
                wait_for 10 sh -c '[ "$(lsattr -p -d "$0" | awk "{ print \$1 }")" = 0 ]' "$W"
        check "root: ... and ends" wait_for 10 sh -c '! pgrep -x moat-disk-guard >/dev/null'
        check_all "root: ... every inode in project 0 ($(projects "$W"))" '[ "$(projects "$W")" = "0 " ]'
        check "root: ... no bound left: 8 MiB can be written" \
                dd if=/dev/zero of="$W/free" bs=1M count=8 status=none
        rm -f "$W/free"
else
        fail "root: a run's project id never appeared on the work directory"
        kill -9 "$launcher" 2>/dev/null
fi

# 6b. moat and its guard both killed (as by a crash): the tree stays in the project, its record
#     stays; the next run with a project quota undoes it first and says so
(cd "$W" && exec "$moat" run -p /tmp/dq.yaml -- sleep 60) </dev/null >/dev/null 2>&1 &
launcher=$!
if wait_for 30 sh -c '[ "$(lsattr -p -d "$0" | awk "{ print \$1 }")" != 0 ]' "$W"; then
        check "root: while a run holds the quota, its record exists" test "$(records)" = 1
        kill -9 $(pgrep -x moat-disk-guard) "$launcher"
        wait "$launcher" 2>/dev/null
        sleep 1
        left=$(lsattr -p -d "$W" | awk '{ print $1 }')
        check_all "root: moat and its guard killed: the tree is left in the project ($left) with its record" \
                '[ "$left" != 0 ] && [ "$(records)" = 1 ]'
        run -- true >/tmp/o6 2>&1
        rc=$?
        diag "next run: rc=$rc $(tr '\n' ' ' </tmp/o6 | head -c 300)"
        check "root: the next run undoes it first and says so" grep -q "undid the project quota $left" /tmp/o6
        check_all "root: ... every inode in project 0 again, no record left ($(projects "$W"))" \
                '[ "$rc" = 0 ] && [ "$(projects "$W")" = "0 " ] && [ "$(records)" = 0 ]'
        check "root: ... and no bound left: 8 MiB can be written" \
                dd if=/dev/zero of="$W/free" bs=1M count=8 status=none
        rm -f "$W/free"
else
        fail "root: a run's project id never appeared on the work directory"
        kill -9 "$launcher" 2>/dev/null
fi

# 7. a file of another project: the run stops (125), naming it, and nothing changes
echo theirs >"$W/sub/theirs"
chattr -p 4242 "$W/sub/theirs"
run -- true >/tmp/o7 2>&1
rc=$?
check "root: a tree with an inode of another project: exit 125" test "$rc" = 125
check "root: ... the message names it and says why" \
        grep -q "sub/theirs.*another project" /tmp/o7
check "root: ... its project is untouched" \
        test "$(lsattr -p "$W/sub/theirs" | awk '{ print $1 }')" = 4242
rm -f "$W/sub/theirs"
check_all "root: ... and the rest is back in project 0 ($(projects "$W"))" '[ "$(projects "$W")" = "0 " ]'

# 8. cgroup v2 limits from a delegated cgroup D (leaf mode: moat and its guards in
#    D/NAME.supervisor): the disk guard is born in that leaf; after a run, and after a kill -9
#    of moat, D is as it was found (no child cgroup, no controller enabled)
CG=/sys/fs/cgroup
if mount -t cgroup2 cgroup2 "$CG" && echo "+memory +pids" >"$CG/cgroup.subtree_control"; then
        D=$CG/deleg
        mkdir "$D"
        sed 's/^  disk: 4MiB$/  disk: 4MiB\n  memory: 64MiB\n  pids: 64/' /tmp/dq.yaml >/tmp/dqcg.yaml
        in_d=(sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$D")
        d_children() { find "$D" -mindepth 1 -maxdepth 1 -type d | wc -l; }
        d_clean() { [ "$(d_children)" = 0 ] && [ -z "$(tr -d '\n' <"$D/cgroup.subtree_control")" ]; }
        plan=$(cd "$W" && "${in_d[@]}" "$moat" explain --json -p /tmp/dqcg.yaml)
        check_all "root, delegated v2: cgroup v2 limits and a project quota in one plan" \
                '[ "$(jq -r .resources.mechanism <<<"$plan")" = cgroup-v2 ] &&
                 [ "$(jq -r .resources.disk_mechanism <<<"$plan")" = project-quota ]'
        (cd "$W" && "${in_d[@]}" "$moat" run -p /tmp/dqcg.yaml -- true) >/tmp/o8 2>&1
        rc=$?
        check_all "root, delegated v2: a run ends 0 and leaves D as found (rc $rc, $(d_children) children)" \
                '[ "$rc" = 0 ] && d_clean'
        # a tree whose release takes the guard longer than the cgroup guard's own cleanup
        mkdir -p "$W/many"
        for i in {1..3000}; do : >"$W/many/f$i"; done
        (cd "$W" && exec "${in_d[@]}" "$moat" run -p /tmp/dqcg.yaml -- sleep 60) </dev/null >/dev/null 2>&1 &
        launcher=$!
        if wait_for 30 sh -c '[ "$(lsattr -p -d "$0" | awk "{ print \$1 }")" != 0 ]' "$W"; then
                g=$(pgrep -x moat-disk-guard | head -1)
                diag "running: D has [$(find "$D" -mindepth 1 -maxdepth 1 -type d -printf '%f ')], the disk guard is in $(cat "/proc/$g/cgroup" 2>/dev/null)"
                kill -9 "$launcher"
                wait "$launcher" 2>/dev/null
                check "root, delegated v2: kill -9 of moat: D as found, the tree in project 0, no guard" \
                        wait_for 15 sh -c '[ "$(find "$0" -mindepth 1 -maxdepth 1 -type d | wc -l)" = 0 ] &&
                                [ "$(lsattr -p -d "$1" | awk "{ print \$1 }")" = 0 ] &&
                                ! pgrep -x moat-disk-guard >/dev/null' "$D" "$W"
                diag "after kill -9: D children [$(ls "$D" | tr '\n' ' ')]"
                check_all "root, delegated v2: ... every inode in project 0 ($(projects "$W"))" \
                        '[ "$(projects "$W")" = "0 " ]'
                rm -rf "$W/many"
        else
                fail "root, delegated v2: a run's project id never appeared on the work directory"
                kill -9 "$launcher" 2>/dev/null
        fi
else
        fail "mount cgroup2 with the memory and pids controllers"
fi

# 9. accounting without enforcement (mount without prjquota) is not a bound: required refused
out=$(cd /run/dq/acct/work && "$moat" explain -p /tmp/dq.yaml 2>&1)
rc=$?
diag "accounted only: rc=$rc $(head -c 300 <<<"$out")"
check_all "root: project quotas accounted but not enforced: a required disk is refused (125)" \
        '[ "$rc" = 125 ] && grep -q "accounted but not enforced" <<<"$out"'

# 10. an unprivileged caller cannot set a project quota: refused when required
h=/tmp/home-$user
mkdir -p "$h" /run/dq/pq/u
chown "$user" "$h" /run/dq/pq/u
out=$(cd /run/dq/pq/u && setpriv --reuid="$user" --regid="$user" --clear-groups \
        env HOME="$h" XDG_CACHE_HOME="$h/.cache" "$moat" explain -p /tmp/dq.yaml 2>&1)
rc=$?
check_all "$user: a required disk is refused: the caller is not root (rc $rc)" \
        '[ "$rc" = 125 ] && grep -q "the caller is not root" <<<"$out"'

echo DONE
