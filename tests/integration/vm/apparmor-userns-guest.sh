#!/bin/bash
# Runs inside a vm-tier guest booted with Debian 13's kernel (AppArmor with user namespace
# mediation) and `apparmor=1 security=apparmor`, as guest root (driven by apparmor-userns.sh,
# which asserts on what this writes under OUT). Debian 13's AppArmor 4 parser comes from the
# trixie cache over a share (TRIXIE/bin/apparmor_parser); moat from the build tree is copied to
# /usr/local/bin/moat (a tmpfs in the guest), a path the shipped moat profile attaches to.
#   apparmor-userns-guest.sh MOAT OUT USER TRIXIE
# Steps (each leaves OUT/S.rc, OUT/S.out, OUT/S.err), USER's run being
# `moat run -p minimal -- cat /proc/self/attr/current`:
#   none          USER's run with no profile loaded
#   deny-load     load moat-no-userns: the shipped profile confined (enforce, every other class
#                 allowed) without the userns rule
#   deny          USER's run under it
#   allow-load    load moat-userns: the same plus the shipped profile's `userns,` rule
#   allow         USER's run under it
#   shipped-load  load the shipped policies/apparmor/moat (abi 4.0, unconfined, userns)
#   shipped       USER's run under it
#   install       `moat policy install` with the AppArmor 4 parser and its /etc/apparmor.d
#                 (abi 4.0 present): which moat profile it picks
#   status        `moat policy status` after it
#   installed     USER's run after it
# and after each of USER's runs, S-host: USER's `moat host --json`.
# Prints "DIAG text" lines and DONE.
set -u
moat=$1 out=$2 user=$3 trixie=$4
parser=$trixie/bin/apparmor_parser
diag() { echo "DIAG $*"; }
step() { # NAME COMMAND...
        local n=$1
        shift
        "$@" </dev/null >"$out/$n.out" 2>"$out/$n.err"
        echo $? >"$out/$n.rc"
}
mkdir -p "$out"
mount -t securityfs securityfs /sys/kernel/security || diag "cannot mount securityfs"
aa=/sys/kernel/security/apparmor
diag "kernel $(</proc/sys/kernel/osrelease); LSMs $(</sys/kernel/security/lsm)"
diag "parser: $("$parser" --version | head -1)"
diag "features/namespaces: $(cd $aa/features/namespaces 2>/dev/null && for f in *; do printf '%s=%s ' "$f" "$(cat "$f")"; done)"
ls /proc/sys/kernel >"$out/sysctls.txt"
cat /proc/sys/kernel/unprivileged_userns_clone >"$out/userns_clone.txt" 2>/dev/null

mount -t tmpfs -o mode=0755 tmpfs /usr/local/bin
cp "$moat" /usr/local/bin/moat
chmod 0755 /usr/local/bin/moat
shipped=$MOAT_DATA_DIR/policies/apparmor/moat

# USER's sandbox run, in a fresh work directory.
run() { # NAME
        local w=/tmp/run/$1
        mkdir -p "$w/work" "$w/home"
        chown -R "$user" "$w"
        (cd "$w/work" && step "$1" setpriv --reuid="$user" --regid="$user" --clear-groups \
                env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C HOME="$w/home" \
                MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_AUDIT_LOG="$w/audit.json" \
                /usr/local/bin/moat run -p minimal -- cat /proc/self/attr/current)
        (cd "$w/work" && step "$1-host" setpriv --reuid="$user" --regid="$user" --clear-groups \
                env -i PATH=/usr/local/bin:/usr/bin:/bin LANG=C HOME="$w/home" \
                /usr/local/bin/moat host --json)
}
# The shipped profile confined: flags=(unconfined) replaced by allow rules for every class
# the kernel mediates apart from user namespaces (attach_disconnected: the sandbox's paths
# after pivot_root are disconnected from the guest's root); USERNS is "" or the shipped rule.
confined() { # NAME USERNS
        sed -e "s/^profile moat /profile $1 /" -e 's/ flags=(unconfined) {/ flags=(attach_disconnected,mediate_deleted) {/' \
                -e "s/^  userns,\$/  file,\n  capability,\n  network,\n  mount,\n  umount,\n  remount,\n  pivot_root,\n  signal,\n  ptrace,\n  unix,\n  mqueue,\n  io_uring,\n  change_profile,\n$2/" \
                "$shipped" >"/tmp/$1"
        cp "/tmp/$1" "$out/$1.profile"
}
profiles() { cp $aa/profiles "$out/$1.profiles" 2>/dev/null; }

run none
confined moat-no-userns ""
step deny-load "$parser" -r -K /tmp/moat-no-userns
profiles deny
run deny
"$parser" -R -K /tmp/moat-no-userns >/dev/null 2>&1
confined moat-userns "  userns,"
step allow-load "$parser" -r -K /tmp/moat-userns
profiles allow
run allow
"$parser" -R -K /tmp/moat-userns >/dev/null 2>&1
step shipped-load "$parser" -r -K "$shipped"
profiles shipped
run shipped
"$parser" -R -K "$shipped" >/dev/null 2>&1
profiles removed

# `moat policy install` where the host's parser is AppArmor 4: this guest's /usr/sbin parser
# and /etc/apparmor.d are trixie's (bind mounts inside the guest only).
mount --bind "$parser" /usr/sbin/apparmor_parser
mount --bind "$trixie/parser/etc/apparmor.d" /etc/apparmor.d
step install "$moat" policy install
step status "$moat" policy status
profiles installed
run installed
dmesg | grep -i 'apparmor=' | tail -20 >"$out/dmesg.txt"
chmod -R a+rX "$out"
echo DONE
