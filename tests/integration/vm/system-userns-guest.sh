#!/bin/bash
# Runs inside a vm-tier guest booted with kernel.unprivileged_userns_clone=0, as guest root
# (driven by system-userns.sh, which has the list of what is proved).
#   system-userns-guest.sh MOAT TARBALL MODULES_DIR
# Prints PASS/FAIL/DIAG lines (guest-lib.sh) and DONE.
set -u
moat=$1 tarball=$2 mods=$3
source "$(dirname "$0")/guest-lib.sh"
system_guest_setup "$mods"
sysctl=/proc/sys/kernel/unprivileged_userns_clone
diag "kernel $(</proc/sys/kernel/osrelease); unprivileged_userns_clone $(cat $sysctl 2>&1)"
check_all "the guest's kernel.unprivileged_userns_clone is 0 (the host configuration under test)" \
        '[ "$(cat $sysctl 2>/dev/null)" = 0 ]'

# The busybox image with an init named systemd, a script that reports its user namespace's
# map on stderr (which moat relays) and ends: moat treats an init named systemd as systemd.
mkdir -p /tmp/img && tar -C /tmp/img -xf "$tarball" && mkdir -p /tmp/img/lib/systemd &&
        printf '#!/bin/sh\necho "INIT $(cat /proc/self/uid_map)" >&2\nexit 3\n' >/tmp/img/lib/systemd/systemd &&
        chmod 0755 /tmp/img/lib/systemd/systemd && ln -sf /lib/systemd/systemd /tmp/img/sbin/init &&
        tar --numeric-owner --owner=0 --group=0 -C /tmp/img -cf /tmp/sd.tar . || diag "cannot make the image"
h=/tmp/home
mkdir -p "$h/store" && chmod 0755 "$h" "$h/store"
export MOAT_IMAGE_DIR=$h/store MOAT_AUDIT_LOG=$h/audit.jsonl HOME=$h
"$moat" image import -q sd /tmp/sd.tar >/dev/null 2>/tmp/err || diag "import: $(head -c 300 /tmp/err)"
profile() { # NAME INIT
        printf 'moat: 1\nname: %s\nisolation: system\nmax_tier: system\nfilesystem: {root: {image: sd}}\nos: {full_os: true, init: %s}\nuid: 33\ngid: 33\n' \
                "$1" "$2" >"$h/$1.yaml"
}
profile boot /sbin/init
profile cmd none
run() { # FAULT PROFILE COMMAND...: rc, stdout in $out, stderr in /tmp/err
        local f=$1 p=$2
        shift 2
        out=$(cd "$h" && env ${f:+MOAT_SYSTEM_FAULT=$f} "$moat" run -q -p "$h/$p.yaml" -- "$@" 2>/tmp/err </dev/null)
        rc=$?
        diag "${f:-no fault} $p: rc=$rc out='$(head -c 200 <<<"$out")' err='$(head -c 600 /tmp/err | tr '\n' ' ')'"
}
leftovers() { ls -A /run/moat/system /dev/shm/moat-system-0 2>/dev/null | grep -E '^[0-9a-f]{32}$'; }

run "" boot true
check_all "boot mode with systemd is refused before start (125), naming kernel.unprivileged_userns_clone" \
        '[ $rc = 125 ] && grep -q "systemd, which moat runs in a user namespace of its own" /tmp/err &&
         grep -q "kernel.unprivileged_userns_clone is 0" /tmp/err'
check_all "... the image's init never ran, and no run directory is left" \
        '! grep -q "^INIT" /tmp/err && [ -z "$(leftovers)" ]'

run userns boot true
check_all "with that refusal skipped, pid 1 refuses in turn (125, system gate: userns, EPERM)" \
        '[ $rc = 125 ] && grep -q "system gate: userns: cannot make the nested user, mount and cgroup namespaces: Operation not permitted" /tmp/err'
check_all "... and the image's init (systemd) is never exec'd, and nothing is left" \
        '! grep -q "^INIT" /tmp/err && [ -z "$(leftovers)" ] && ! pgrep -f /lib/systemd/systemd >/dev/null'

run "" cmd cat /proc/self/uid_map
check_all "command mode runs as before (liblxc's user namespace is made by the host's root)" \
        '[ $rc = 0 ] && grep -Eq "^ +0 +[1-9][0-9]* +65536$" <<<"$out"'

echo 1 >$sysctl || diag "cannot set $sysctl to 1"
run "" boot true
check_all "with kernel.unprivileged_userns_clone 1, the same run passes moat's check and pid 1's: the init runs in the nested namespace (identity map)" \
        '! grep -q "unprivileged_userns_clone" /tmp/err && grep -Eq "^INIT +0 +0 +65536$" /tmp/err'
run userns boot true
check_all "... and with the fault, pid 1's unshare succeeds too (the refusal above was the kernel's rule)" \
        '! grep -q "system gate: userns" /tmp/err && grep -Eq "^INIT +0 +0 +65536$" /tmp/err'
check "no run directory is left" [ -z "$(leftovers)" ]
echo DONE
