#!/bin/bash
# moat policy on the command line, on this host: usage errors exit 125 naming the problem,
# install/status/remove need root, and on a host with neither AppArmor nor SELinux enabled
# install says there is nothing to install (125) and changes nothing. Loading, status by
# digest and removal are proved in guests whose kernels have the LSMs
# (tests/integration/vm/mac-policies.sh, selinux.sh).
source "$(dirname "$0")/../tap.sh"
M=${MOAT:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

"$M" policy >/dev/null 2>"$T/e1"
rc=$?
check_all "no action: exit 125, asking which" '[ $rc = 125 ] && grep -q "which action: install, status or remove" "$T/e1"'
"$M" policy frob >/dev/null 2>"$T/e2"
rc=$?
check_all "unknown action: exit 125, naming it" '[ $rc = 125 ] && grep -q "unknown action .frob." "$T/e2"'
"$M" policy --bogus >/dev/null 2>"$T/e3"
rc=$?
check_all "unknown option: exit 125, naming it" '[ $rc = 125 ] && grep -q "unknown option .--bogus." "$T/e3"'
"$M" policy --help >"$T/h"
rc=$?
check_all "--help: exit 0, the three actions and the profiles" \
        '[ $rc = 0 ] && grep -q "install" "$T/h" && grep -q "moat-default" "$T/h" && grep -q "moat_sandbox_t" "$T/h"'
if [ "$(id -u)" = 0 ] && id moatuser >/dev/null 2>&1; then
        for a in install status remove; do
                su -s /bin/sh moatuser -c "\"$M\" policy $a" >/dev/null 2>"$T/u-$a"
                rc=$?
                check_all "as moatuser, policy $a: exit 125, needs root" \
                        '[ $rc = 125 ] && grep -q "needs root" "$T/u-$a"'
        done
else
        tap_skip "policy as an unprivileged user" "needs root and the test user moatuser"
fi
if [ "$(id -u)" = 0 ] && [ ! -e /sys/kernel/security/apparmor/profiles ] && [ ! -e /sys/fs/selinux/enforce ]; then
        before=$(ls -A /var/lib/moat/policy 2>/dev/null | wc -l)
        "$M" policy install >"$T/o" 2>"$T/e"
        rc=$?
        check_all "no AppArmor, no SELinux: install exits 125, saying there is nothing to install" \
                '[ $rc = 125 ] && grep -q "AppArmor: not enabled" "$T/o" && grep -q "SELinux: not enabled" "$T/o" &&
                 grep -q "neither AppArmor nor SELinux is enabled" "$T/e"'
        check "... and records nothing" [ "$(ls -A /var/lib/moat/policy 2>/dev/null | wc -l)" = "$before" ]
else
        tap_skip "install on a host without MAC" "this host has AppArmor or SELinux enabled, or this is not root"
fi
tap_end
