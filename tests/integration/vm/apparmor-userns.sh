#!/bin/bash
# moat's own AppArmor profile (policies/apparmor/moat: abi 4.0, `userns,`) on an AppArmor 4
# kernel, proved in a vm-tier guest booted with Debian 13's kernel (6.12) and Debian 13's
# AppArmor 4 parser, both unpacked by tests/helpers/fetch-trixie.sh into a cache (never
# installed on this host; fetched here when the cache is missing). One boot, in which
# apparmor-userns-guest.sh runs the real moat as guest root and the unprivileged moatuser:
#   - the kernel mediates user namespace creation through the profile's rule: under the moat
#     profile made confining without `userns,`, moatuser's `moat run -p minimal` is refused,
#     naming user namespaces, and runs nothing; the same profile with the shipped `userns,`
#     rule (the only difference) runs it;
#   - the shipped profile itself, compiled by the AppArmor 4 parser, loads into the kernel,
#     attaches to moat (the workload inherits "moat (unconfined)") and the run succeeds; moat's
#     host probe sees itself under it (apparmor_moat_attached, which is what lets moat past
#     Ubuntu's restriction in its own userns verdict) and not under the others;
#   - `moat policy install`, where the parser is AppArmor 4 (abi 4.0 in /etc/apparmor.d),
#     loads policies/apparmor/moat, not abi3/moat, and `status` reports it as shipped.
# What this kernel cannot show: Ubuntu's kernel.apparmor_restrict_unprivileged_userns is an
# Ubuntu patch, absent from upstream 6.12 and Debian's kernel; the test records that it is
# absent (and fails if it appears, so that the proof is extended then).
TRIXIE=${MOAT_TRIXIE_DIR:-/var/cache/moat/trixie}
SRC=${MOAT_SOURCE_DIR:?}
if [ ! -s "$TRIXIE/guest/complete" ] || [ ! -x "$TRIXIE/bin/apparmor_parser" ]; then
        if [ "$(id -u)" = 0 ]; then
                # A missing archive is a failure, not a skip: the machine is meant to reach it.
                if ! fetch_err=$(bash "$SRC/tests/helpers/fetch-trixie.sh" parser kernel 2>&1); then
                        echo "not ok 1 - fetch Debian 13's kernel and AppArmor parser: $fetch_err"
                        echo "1..1"
                        exit 1
                fi
        fi
fi
if [ -s "$TRIXIE/guest/complete" ]; then
        export MOAT_GUEST_KERNEL=$TRIXIE/guest/vmlinux
else
        # lib.sh's skip_all, before lib.sh (whose guest kernel would be the default one).
        MOAT_GUEST_KERNEL=/nonexistent
fi
source "$(dirname "$0")/lib.sh"
guest_checks_return
[ -x "${MOAT:-}" ] || skip_all "moat not built"
[ -x "$TRIXIE/bin/apparmor_parser" ] || skip_all "no AppArmor 4 parser in $TRIXIE (tests/helpers/fetch-trixie.sh as root)"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"
command -v jq >/dev/null || skip_all "jq is not installed"

guest_setup apparmor-userns-guest.sh -b "$TRIXIE:$TRIXIE:ro"
kargs="apparmor=1 security=apparmor"
guest_boot "$kargs" 512 300000 bash /t/guest.sh "$MOAT" /t/out moatuser "$TRIXIE"
guest_ran "Debian 13 kernel, '$kargs'" "guest kernel $(cat "$TRIXIE/guest/release"); "

check_all "the guest kernel has AppArmor's user namespace mediation (features/namespaces/userns_create)" \
        'grep -Eq "features/namespaces: .*mask=[^ ]*userns_create" <<<"$out"'
check_all "the guest kernel has no kernel.apparmor_restrict_unprivileged_userns (Ubuntu's patch; upstream 6.12 lacks it)" \
        '[ -s "$o/sysctls.txt" ] && ! grep -qx apparmor_restrict_unprivileged_userns "$o/sysctls.txt"'
check_all "control: with no profile loaded, moatuser's moat run -p minimal succeeds, unconfined" \
        '[ "$(rc_of none)" = 0 ] && [ "$(cat "$o/none.out")" = unconfined ]' || show none
check_all "the moat profile confined without userns loads (AppArmor 4 parser) in enforce mode" \
        '[ "$(rc_of deny-load)" = 0 ] && grep -qx "moat-no-userns (enforce)" "$o/deny.profiles"' || show deny-load
check_all "... under it, moatuser's run is refused (125) at the namespaces step, and runs nothing" \
        '[ "$(rc_of deny)" = 125 ] && [ ! -s "$o/deny.out" ] && grep -q "(step namespaces)" "$o/deny.err"' || show deny
diag "deny: $(head -c 600 "$o/deny.err")"
check_all "... and the error names AppArmor and moat policy install as the remedy" \
        'grep -q "AppArmor is enabled.*moat policy install" "$o/deny.err"'
check_all "... and the kernel's audit record says AppArmor denied userns_create to moat-no-userns" \
        'grep -q "apparmor=\"DENIED\" operation=\"userns_create\" class=\"namespace\" profile=\"moat-no-userns\"" "$o/dmesg.txt"' ||
        diag "$(cat "$o/dmesg.txt")"
check_all "the same profile plus the shipped userns rule loads in enforce mode" \
        '[ "$(rc_of allow-load)" = 0 ] && grep -qx "moat-userns (enforce)" "$o/allow.profiles" &&
         diff <(grep -v "^  userns,\$" "$o/moat-userns.profile" | sed -e "s/moat-userns/X/" -e "/^\$/d") \
              <(sed -e "s/moat-no-userns/X/" -e "/^\$/d" "$o/moat-no-userns.profile") >/dev/null &&
         grep -qx "  userns," "$o/moat-userns.profile"' || show allow-load
check_all "... under it, the same run succeeds, the workload confined by it" \
        '[ "$(rc_of allow)" = 0 ] && [ "$(cat "$o/allow.out")" = "moat-userns (enforce)" ]' ||
        { show allow; diag "$(cat "$o/dmesg.txt")"; }
check_all "... and the kernel denied userns_create to no profile but moat-no-userns" \
        '! grep "operation=\"userns_create\"" "$o/dmesg.txt" | grep -vq "profile=\"moat-no-userns\""'
check_all "the shipped moat profile (abi 4.0) loads, unconfined" \
        '[ "$(rc_of shipped-load)" = 0 ] && grep -qx "moat (unconfined)" "$o/shipped.profiles"' || show shipped-load
check_all "... attaches to moat (the workload inherits moat's label) and the run succeeds" \
        '[ "$(rc_of shipped)" = 0 ] && [ "$(cat "$o/shipped.out")" = "moat (unconfined)" ]' || show shipped
check_all "moat host: moat under the shipped profile knows it (apparmor_moat_attached), and not without it" \
        'jq -e ".apparmor_moat_attached == true" "$o/shipped-host.out" >/dev/null &&
         jq -e ".apparmor_moat_attached == false" "$o/none-host.out" >/dev/null &&
         jq -e ".apparmor_moat_attached == false" "$o/allow-host.out" >/dev/null' ||
        { show shipped-host; show none-host; }
check_all "... and is removed again" '! grep -q "^moat" "$o/removed.profiles"'
check_all "moat policy install with an AppArmor 4 parser loads policies/apparmor/moat (abi 4.0), not abi3/moat" \
        '[ "$(rc_of install)" = 0 ] &&
         grep -Eq "^  moat +loaded \(unconfined\) from .*/policies/apparmor/moat, sha256" "$o/install.out" &&
         grep -Eq "^  moat-default +loaded \(enforce\)" "$o/install.out" &&
         grep -Eq "^  moat-container +loaded \(enforce\)" "$o/install.out"' || show install
sha=$(sha256sum "$SRC/policies/apparmor/moat" | cut -c1-12)
check_all "moat policy status: exit 0, moat the shipped abi 4.0 file (sha256 $sha)" \
        '[ "$(rc_of status)" = 0 ] && grep -Eq "^  moat +loaded \(unconfined\), the shipped .*sha256 $sha" "$o/status.out"' ||
        show status
check_all "... and moatuser's run under the installed profile succeeds as moat (unconfined)" \
        '[ "$(rc_of installed)" = 0 ] && [ "$(cat "$o/installed.out")" = "moat (unconfined)" ]' || show installed
diag "seconds (boot and guest work): $((secs / 1000))"
tap_end
