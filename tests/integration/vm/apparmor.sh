#!/bin/bash
# MAC required on a host without MAC: the plan's guest_apparmor profile is loaded into the
# guest kernel (the host's apparmor_parser over the /usr share) and the command runs under it;
# a profile that cannot be found or loaded stops the run (125).
source "$(dirname "$0")/lib.sh"
[ -x /usr/sbin/apparmor_parser ] || skip_all "apparmor_parser is not installed on the host"

u=${USERS[-1]}
d=$(user_dir "$u")
quid=$(qemu_uid "$u")
chown "$quid" "$d/work"
mkdir -p "$T/data/policies/apparmor"
cat >"$T/data/policies/apparmor/moat-vm-test" <<'PROFILE'
abi <abi/3.0>,
profile moat-vm-test {
  /usr/** mrix,
  /etc/** r,
  deny /etc/hostname r,
  /proc/** r,
  /dev/null rw,
}
PROFILE
chmod -R a+rX "$T/data"

out=$(MOAT_DATA_DIR=$T/data as_user "$u" "$DRIVER" -a moat-vm-test -w "$d/work" -- /bin/sh -c \
        'cat /proc/self/attr/current; cat /etc/hostname >/dev/null 2>&1 || echo DENIED' \
        </dev/null 2>"$T/aa.err" 3>"$T/aa.res")
rc=$?
diag "rc=$rc out='$out' err='$(head -c 300 "$T/aa.err")'"
check_all "$u: the command runs under the guest AppArmor profile, enforced" \
        '[ "$rc" = 0 ] && grep -qx "moat-vm-test (enforce)" <<<"$out"'
check "$u: the guest AppArmor profile denies what it denies" grep -qx DENIED <<<"$out"

# The shipped moat-default, as the vm tier loads it (from the data directory): the command's
# label, a write moat-default denies (.git/hooks in the work directory) and one it allows.
mkdir -p "$d/work/.git/hooks"
chown -R "$quid" "$d/work/.git"
out=$(MOAT_DATA_DIR=$MOAT_SOURCE_DIR as_user "$u" "$DRIVER" -a moat-default -w /work -- /bin/sh -c \
        'cat /proc/self/attr/current
         echo x >/work/.git/hooks/pre-commit 2>/dev/null && echo HOOK-WRITTEN || echo HOOK-DENIED
         echo x >/work/built.txt && echo WORK-WRITTEN' </dev/null 2>"$T/aa4.err" 3>/dev/null)
rc=$?
diag "rc=$rc out='$out' err='$(head -c 300 "$T/aa4.err")'"
check_all "$u: the shipped moat-default is the guest's profile: the command runs under it, enforced" \
        '[ "$rc" = 0 ] && grep -qx "moat-default (enforce)" <<<"$out"'
check_all "$u: ... it denies a write to .git/hooks in the work directory and allows one beside it" \
        'grep -qx HOOK-DENIED <<<"$out" && grep -qx WORK-WRITTEN <<<"$out" && [ ! -e "$d/work/.git/hooks/pre-commit" ]'

MOAT_DATA_DIR=$T/data as_user "$u" "$DRIVER" -a moat-vm-missing -w "$d/work" -- true \
        </dev/null >/dev/null 2>"$T/aa2.err" 3>/dev/null
rc=$?
check_all "$u: a guest AppArmor profile that does not exist stops the run before booting (125)" \
        '[ "$rc" = 125 ] && grep -q "AppArmor profile moat-vm-missing required" "$T/aa2.err"'

# A profile the guest kernel cannot load: the guest init refuses to run the command.
printf 'profile moat-vm-broken {\n  this is not a rule\n}\n' >"$T/data/policies/apparmor/moat-vm-broken"
chmod a+r "$T/data/policies/apparmor/moat-vm-broken"
out=$(MOAT_DATA_DIR=$T/data as_user "$u" "$DRIVER" -a moat-vm-broken -w "$d/work" -- echo RAN \
        </dev/null 2>"$T/aa3.err" 3>/dev/null)
rc=$?
diag "rc=$rc err='$(head -c 300 "$T/aa3.err")'"
check_all "$u: a guest AppArmor profile that fails to load stops the run (125, command not run)" \
        '[ "$rc" = 125 ] && [ -z "$out" ] && grep -q "load apparmor profile" "$T/aa3.err"'
tap_end
