#!/bin/bash
# The system tier in boot mode with systemd as pid 1 (root: range map), on the Debian image
# with systemd (bookworm minbase + systemd-sysv, `moat image build`, cached per CI run by
# lib.sh). systemd boots to "running" or "degraded" and reports READY=1, with its generators
# that have nothing to do in a container masked and /dev/mqueue mounted before it starts; the
# command is attached as a user of the image with the plan's capabilities (none), no_new_privs
# and the plan's own filter stacked on systemd's, and cannot drive systemd; a command as the
# container's root (which could) is refused; systemd runs in a user namespace nested in the
# container's, where liblxc's mounts are locked: its own services cannot remount a read-only
# bind writable, unmount a mask, mount procfs afresh or bind /proc without its masks, nor make
# the nested namespaces again; the host's checks hold (nnp, seccomp, caps, cgroup limits);
# the container halts after the command; the timeout and SIGTERM; kill -9 of moat while the
# command runs and while systemd boots leaves nothing; the image is unchanged after a run that
# wrote to /etc. (A user's systemd is refused with the reason: boot.sh.)
source "$(dirname "$0")/lib.sh"

if [ ! -x "${MOAT_BUILD_DIR:-}/moat-system-run" ]; then
        echo "1..0 # SKIP moat-system-run is not built (needs -Dlxc=enabled)"
        exit 77
fi
if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP systemd boot mode needs root (range map)"
        exit 77
fi
if [ "${MOAT_SYSTEM_IMAGE_BUILD:-0}" != 1 ] && [ ! -s "$CACHE/debian-systemd.tar" ]; then
        echo "1..0 # SKIP the Debian image with systemd is built from the archive; set MOAT_SYSTEM_IMAGE_BUILD=1"
        exit 0 # opt-in, as image-build.sh
fi
t0=$(date +%s)
tarball=$(debian_systemd_tarball) || { echo "1..0 # SKIP cannot build the Debian image with systemd (archive unreachable?)"; exit 77; }
d=$(user_dir root)
as_user root "$MOAT" image import -q sd "$tarball" >/dev/null
image=$(as_user root "$MOAT" image list 2>/dev/null | awk '$1 == "sd" {print $3}')
echo "# image ready in $(( $(date +%s) - t0 )) s"
boot_profile() { # FILE NAME IMAGE [EXTRA YAML...]
        local f=$1
        write_profile "$@"
        sed -i 's|^os: .*|os: {full_os: true, init: /sbin/init}|' "$f"
}
moat_cgroups() { find /sys/fs/cgroup -maxdepth 3 -type d -name 'moat-[0-9a-f]*' 2>/dev/null | grep -E '/moat-[0-9a-f]{32}$'; }
cg_before=$(moat_cgroups | wc -l)
# run_left ID: what is left of run ID (its run directory, its cgroups, a process in them);
# by id, so that other runs on this host do not count
run_left() {
        local b
        for b in $ROOT_RUN_BASES; do [ -e "$b/$1" ] && echo "run directory $b/$1"; done
        moat_cgroups | grep "/moat-$1$"
        local f
        # (a zombie that the host's init has not reaped yet holds nothing)
        for f in $(grep -l "/moat-$1/" /proc/[0-9]*/cgroup 2>/dev/null); do
                grep -q '^State:.Z' "${f%cgroup}status" 2>/dev/null || echo "process ${f%/cgroup}"
        done
}
# new_run SNAPSHOT: the id of a run directory that is not in SNAPSHOT (the output of run_dirs)
new_run() { comm -13 <(sort <<<"$1") <(run_dirs root | sort) | head -1; }
base=$(cut -d: -f2 /etc/moat/system-idmap 2>/dev/null)

boot_profile "$d/s.yaml" sd sd 'uid: 33' 'gid: 33'
snap=$(run_dirs root)
out=$(echo piped | as_user root "$MOAT" run -q -p "$d/s.yaml" -- sh -c \
        'echo "PID1 $(cat /proc/1/comm)"; id; cat
         grep -E "^(NoNewPrivs|Seccomp_filters|CapBnd|CapEff|CapPrm):" /proc/self/status | sed "s/^/SELF /"
         grep -E "^(NoNewPrivs|Seccomp_filters|CapBnd):" /proc/1/status | sed "s/^/INIT /"
         setarch -R true 2>/dev/null && echo PERSONALITY-CHANGED
         echo "MASKS $(find /run/systemd/system-generators -maxdepth 1 -lname /dev/null | wc -l)"
         echo "GENMNT $(findmnt -no VFS-OPTIONS /run/systemd/system-generators)"
         echo "UIDMAP $(cat /proc/1/uid_map)"
         exit 7' 2>"$d/err")
rc=$?
check "systemd boots: the command's status passes through (7)" [ $rc = 7 ]
check "systemd is pid 1" grep -qx "PID1 systemd" <<<"$out"
check "the command runs as www-data (33) of the image, stdin reaches it" \
        bash -c 'grep -q "^uid=33(www-data) gid=33(www-data) groups=33(www-data)$" <<<"$1" && grep -qx piped <<<"$1"' _ "$out"
check_all "inside: the command holds no capability, NoNewPrivs 1" \
        'grep -q "^SELF CapBnd:.0000000000000000$" <<<"$out" && grep -q "^SELF CapEff:.0000000000000000$" <<<"$out" &&
         grep -q "^SELF CapPrm:.0000000000000000$" <<<"$out" && grep -q "^SELF NoNewPrivs:.1$" <<<"$out"'
sf=$(sed -n 's/^SELF Seccomp_filters:.//p' <<<"$out")
inf=$(sed -n 's/^INIT Seccomp_filters:.//p' <<<"$out")
# pid 1: the boot filter and its own (unshare denied, gate.c lock_mounts()); the command: the
# boot filter and the plan's
check "inside: the plan's own filter is stacked on systemd's boot filter ($sf filters, pid 1 $inf: boot + its own)" \
        bash -c '[ -n "$1" ] && [ "$1" -ge 2 ] && [ "$2" = "$1" ]' _ "$inf" "$sf"
check "inside: systemd runs in a user namespace nested in the container's, each id mapped to itself" \
        grep -Eqx "UIDMAP +0 +0 +65536" <<<"$out"
check "inside: the plan's filter holds for the command (personality ADDR_NO_RANDOMIZE denied, systemd's filter allows it)" \
        bash -c '! grep -q PERSONALITY-CHANGED <<<"$1"' _ "$out"
check "inside: systemd keeps no kernel-facing capability (sys_module, sys_rawio, sys_time, sys_boot, ...)" \
        bash -c 'b=$(sed -n "s/^INIT CapBnd:.//p" <<<"$1"); [ -n "$b" ] && (( (0x$b & (1<<16 | 1<<17 | 1<<22 | 1<<25 | 1<<33)) == 0 ))' _ "$out"
check "systemd's generators with nothing to do in a container are masked (8 links to /dev/null, read-only)" \
        bash -c 'grep -qx "MASKS 8" <<<"$1" && grep -Eqx "GENMNT ro(,.*)?" <<<"$1"' _ "$out"
rec=$(last_audit root)
check "the audit record: boot mode, systemd ready, each planned control applied, halted in time" \
        jq -e '(.tier_detail | test("boot mode, init /sbin/init \\(systemd, ready at [0-9]+ ms\\)")) and
               ([.controls[] | select(.outcome != "applied" and .outcome != "not-applicable")] | length == 0)' <<<"$rec"
check "after the run no run directory of it is left" [ -z "$(new_run "$snap")" ]

# the host's checks hold with systemd too: a key made to fail open is refused, the command
# never runs
for f in nnp:no_new_privs seccomp:seccomp boot-caps:caps lock-mounts:mounts; do
        err=$(EXTRA_ENV="MOAT_SYSTEM_FAULT=${f%%:*}" as_user root "$MOAT" run -q -p "$d/s.yaml" -- echo RAN 2>&1)
        rc=$?
        check_all "systemd: ${f%%:*} failing open is refused from the host (125, names ${f#*:})" \
                '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "^moat: ${f#*:}.*(checked from the host)" <<<"$err"'
done

# cgroup limits: on the container's cgroup (systemd's subtree below it), seen inside, and a
# value liblxc did not set is refused from the host
boot_profile "$d/l.yaml" sdl sd 'uid: 33' 'gid: 33' 'resources: {memory: 256MiB, pids: 200, cpus: 1, enforce: required}'
if [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/pids ]; then
        out=$(as_user root "$MOAT" run -q -p "$d/l.yaml" -- sh -c 'cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes' 2>&1)
        check "inside: pids.max 200 and memory 256 MiB on the container's cgroup" [ "$(echo $out)" = "200 268435456" ]
        for f in memory:memory pids:pids cpu:cpu; do
                err=$(EXTRA_ENV="MOAT_SYSTEM_FAULT=${f%%:*}" as_user root "$MOAT" run -q -p "$d/l.yaml" -- echo RAN 2>&1)
                rc=$?
                check_all "systemd: cgroup ${f%%:*} not applied is refused from the host (125)" \
                        '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "^moat: cgroup ${f#*:}.*(checked from the host)" <<<"$err"'
        done
fi

# systemd's own services (under systemd's confinement, CapBnd with sys_admin): a read-only bind
# cannot be remounted writable, a mask cannot be unmounted; a read-only remount still works.
# The probe is a unit of the image's /etc (bound read-only over /etc/systemd/system), started by a
# path unit once the command (www-data) makes /tmp/moat-go, so after systemd's boot.
mkdir -p "$d/ro" "$d/units/multi-user.target.wants" && echo original >"$d/ro/file"
cat >"$d/units/probe.path" <<'EOF'
[Path]
PathExists=/tmp/moat-go
EOF
cat >"$d/units/probe.service" <<'EOF'
[Service]
Type=oneshot
StandardOutput=file:/run/probe.out
StandardError=file:/run/probe.err
ExecStart=/bin/sh -c 'echo "STATE $$(systemctl is-system-running)"; echo "MQ $$(findmnt -no FSTYPE /dev/mqueue) $$(systemctl show -p ExecMount --value dev-mqueue.mount | grep -c pid=)"; mount -o remount,bind,rw /data && echo REMOUNTED; echo changed > /data/file; umount /proc/keys && echo UNMOUNTED; echo "KEYS $$(wc -c < /proc/keys)"; mkdir -p /run/p1 /run/p2; mount -t proc proc /run/p1 && echo "PROC-MOUNTED $$(wc -c < /run/p1/keys)"; mount --bind /proc /run/p2 && echo "PROC-BOUND $$(wc -c < /run/p2/keys)"; unshare -U -m -C true && echo UNSHARED; mount -o remount,bind,ro /data && echo RO-REMOUNT; echo written > /etc/moat-written && echo DONE'
EOF
ln -sfn ../probe.path "$d/units/multi-user.target.wants/probe.path"
chmod -R a+rX "$d/ro" "$d/units"
boot_profile "$d/w.yaml" sdw - 'uid: 33' 'gid: 33' \
        "filesystem: {root: {image: sd}, bind: [{source: $d/ro, target: /data, mode: ro}, {source: $d/units, target: /etc/systemd/system, mode: ro}]}" \
        'mac: {landlock: off}'
before=$(tree_digest "$image")
out=$(as_user root "$MOAT" run -q -p "$d/w.yaml" -- sh -c '
        systemctl daemon-reload 2>/dev/null && echo RELOADED
        touch /tmp/moat-go
        for i in $(seq 200); do grep -qx DONE /run/probe.out 2>/dev/null && break; sleep 0.05; done
        cat /run/probe.out' 2>&1)
check "a user of the image (www-data) cannot command systemd (daemon-reload refused)" \
        bash -c '! grep -q RELOADED <<<"$1"' _ "$out"
check "a systemd service of the image ran the probe after the boot (a read-only remount is allowed)" \
        bash -c 'grep -qx RO-REMOUNT <<<"$1" && grep -qx DONE <<<"$1"' _ "$out" ||
        diag "$out"
check "systemd reached running or degraded before the command" grep -Eqx "STATE (running|degraded)" <<<"$out"
check "/dev/mqueue is mounted before systemd starts (it runs no /bin/mount for it)" grep -qx "MQ mqueue 0" <<<"$out"
check "a service cannot remount the read-only bind writable; the host file is unchanged" \
        bash -c '! grep -q REMOUNTED <<<"$1" && [ "$(cat "$2")" = original ]' _ "$out" "$d/ro/file"
check "a service cannot unmount a /proc mask" bash -c '! grep -q UNMOUNTED <<<"$1" && grep -qx "KEYS 0" <<<"$1"' _ "$out"
check "a service cannot make the nested namespaces pid 1 made (unshare -U -m -C: denied by pid 1's own filter)" \
        bash -c '! grep -q UNSHARED <<<"$1"' _ "$out"
check "a service cannot get around the /proc masks: no fresh procfs, no bind of /proc without them (liblxc's mounts locked)" \
        bash -c '! grep -q PROC-MOUNTED <<<"$1" && ! grep -q PROC-BOUND <<<"$1"' _ "$out"
check "the image is unchanged after a run that wrote to /etc" [ "$(tree_digest "$image")" = "$before" ]
out=$(as_user root "$MOAT" run -q -p "$d/s.yaml" -- sh -c 'ls /etc/moat-written 2>&1 | grep -c "No such"')
check "the next run boots from the image again" [ "$out" = 1 ]

# a command as the container's root could have systemd start a unit under systemd's
# confinement: refused before anything starts, naming the way out
boot_profile "$d/r.yaml" sdr sd
snap=$(run_dirs root)
err=$(as_user root "$MOAT" run -q -p "$d/r.yaml" -- echo RAN 2>&1)
rc=$?
check_all "systemd with a command as the container's root (no uid) is refused (125, the reason, nothing started)" \
        '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "would run as the container.s root (uid 0" <<<"$err" &&
         [ -z "$(new_run "$snap")" ]'
boot_profile "$d/r0.yaml" sdr0 sd 'uid: 0' 'gid: 0'
err=$(as_user root "$MOAT" run -q -p "$d/r0.yaml" -- echo RAN 2>&1)
check "and with uid: 0 named (125)" bash -c '[ $1 = 125 ] && ! grep -q RAN <<<"$2"' _ $? "$err"

# the timeout is hard (no halt grace), SIGTERM to moat reaches the command
boot_profile "$d/t.yaml" sdt sd 'uid: 33' 'gid: 33' 'resources: {timeout: 3s, enforce: best-effort}'
t0=$(date +%s)
as_user root "$MOAT" run -q -p "$d/t.yaml" -- sleep 30
rc=$?
check_all "the timeout stops the container (137 within 25 s, before sleep 30 ends; verdict timeout)" \
        '[ $rc = 137 ] && [ $(( $(date +%s) - t0 )) -lt 25 ] && [ "$(last_audit root | jq -r .verdict)" = timeout ]'
as_user root "$MOAT" run -q -p "$d/s.yaml" -- sleep 31 &
bg=$!
for _ in $(seq 200); do pgrep -xf "sleep 31" -u "$((base + 33))" >/dev/null && break; sleep 0.1; done
kill -TERM "$(pgrep -f "moat run -q -p $d/s.yaml" | head -1)" 2>/dev/null
wait $bg
check "SIGTERM to moat reaches the command (143), the container halts" [ $? = 143 ]

# kill -9 of moat while the command runs leaves nothing
snap=$(run_dirs root)
as_user root "$MOAT" run -q -p "$d/s.yaml" -- sleep 62 &
bg=$!
for _ in $(seq 200); do pgrep -xf "sleep 62" >/dev/null && break; sleep 0.1; done
check "the command runs" pgrep -xf "sleep 62"
id=$(new_run "$snap")
in_run_cgroup() { # every "sleep 62" of the host is in the run's cgroup
        local p
        [ -n "$id" ] || return 1
        for p in $(pgrep -xf "sleep 62"); do grep -q "/moat-$id/" "/proc/$p/cgroup" || return 1; done
}
for _ in $(seq 50); do in_run_cgroup && break; sleep 0.1; done
check "its processes are in the run's cgroup" in_run_cgroup ||
        diag "run id '$id'; new run dirs: $(comm -13 <(sort <<<"$snap") <(run_dirs root | sort) | tr '\n' ' ');" \
                "$(for p in $(pgrep -xf "sleep 62"); do echo "pid $p: $(tr '\n' ' ' <"/proc/$p/cgroup")"; done)"
check "while it runs, its run directory, cgroups and processes are seen" \
        bash -c '[ $(grep -c . <<<"$1") -ge 3 ]' _ "$(run_left "$id")"
mpid=$(pgrep -f "moat run -q -p $d/s.yaml" | head -1)
kill -9 "$mpid"
wait $bg 2>/dev/null
for _ in $(seq 300); do [ -z "$(run_left "$id")" ] && break; sleep 0.1; done
left=$(run_left "$id")
check "after kill -9 no container process (systemd, journald, the command), cgroup or run directory is left${left:+ (left: $(echo $left))}" \
        [ -n "$id" -a -z "$left" ]
# and while systemd boots, before it is ready
snap=$(run_dirs root)
as_user root "$MOAT" run -q -p "$d/s.yaml" -- sleep 63 &
bg=$!
id=
for _ in $(seq 200); do
        id=$(new_run "$snap")
        [ -n "$id" ] && grep -qx systemd $(grep -l "/moat-$id/" /proc/[0-9]*/cgroup 2>/dev/null | sed 's|cgroup$|comm|') 2>/dev/null && break
        sleep 0.01
done
check "systemd was booting (not yet ready: no command)" bash -c '[ -n "$1" ] && ! pgrep -xf "sleep 63" >/dev/null' _ "$id"
kill -9 "$(pgrep -f "moat run -q -p $d/s.yaml" | head -1)"
wait $bg 2>/dev/null
for _ in $(seq 300); do [ -z "$(run_left "$id")" ] && break; sleep 0.1; done
left=$(run_left "$id")
check "after kill -9 during the boot no container process, cgroup or run directory is left${left:+ (left: $(echo $left))}" \
        [ -n "$id" -a -z "$left" ]
check "no mount of the run is left on the host" bash -c '! grep -Eq "/run/moat/system/|/dev/shm/moat-system-0/" /proc/self/mountinfo'

tap_end
