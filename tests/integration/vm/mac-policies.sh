#!/bin/bash
# moat's shipped AppArmor policies enforced, proved in a vm-tier guest whose kernel has AppArmor
# (this host's has none): one boot with `apparmor=1 security=apparmor`, in which the real moat
# runs as guest root (mac-policies-guest.sh collects; this script asserts):
#   - `moat policy install` loads moat, moat-default and moat-container, idempotently;
#     `status` reports them by digest as the shipped files, and sees a file changed after
#     install; a profile that fails to load fails the install, naming the file;
#   - `moat run -p` a profile requiring apparmor: moat-default, as root and as moatuser: the
#     workload's /proc/self/attr/current is "moat-default (enforce)", its writes to
#     .git/hooks and .git/config and its read of /etc/shadow are denied (EACCES) while a write
#     to the work directory is not, and the audit record lists apparmor as applied; the same
#     workload without the label (control) is unconfined and those writes succeed;
#   - `moat policy remove` unloads them, idempotently; the same run then refuses (125),
#     naming `moat policy install`.
source "$(dirname "$0")/lib.sh"
guest_checks_return
[ -x "${MOAT:-}" ] || skip_all "moat not built"
[ -x "${MOAT_PROBE:-}" ] || skip_all "moat-probe not built"
[ -x /usr/sbin/apparmor_parser ] || skip_all "apparmor_parser is not installed on the host"
command -v jq >/dev/null || skip_all "jq is not installed"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"

SRC=$MOAT_SOURCE_DIR
guest_setup mac-policies-guest.sh
kargs="apparmor=1 security=apparmor"
guest_boot "$kargs" 512 300000 \
        bash /t/guest.sh "$MOAT" "$MOAT_PROBE" /t/out moatuser "$SRC/tests/integration/vm/mac"
guest_ran "booted with '$kargs'"

# Install, status.
diag "$(sed 's/^/install: /' "$o/install.out"; sed 's/^/status: /' "$o/status.out")"
check_all "policy status before install: exit 1, moat-default not loaded" \
        '[ "$(rc_of status-before)" = 1 ] && grep -Eq "^  moat-default +not loaded" "$o/status-before.out"' ||
        show status-before
check_all "policy install: exit 0, moat (AppArmor 3 form), moat-default and moat-container loaded" \
        '[ "$(rc_of install)" = 0 ] &&
         grep -Eq "^  moat +loaded \(unconfined\) from .*/policies/apparmor/abi3/moat, sha256" "$o/install.out" &&
         grep -Eq "^  moat-default +loaded \(enforce\) from .*/policies/apparmor/moat-default, sha256" "$o/install.out" &&
         grep -Eq "^  moat-container +loaded \(enforce\)" "$o/install.out"' || show install
check_all "policy install again: exit 0, the same lines (idempotent)" \
        '[ "$(rc_of install-again)" = 0 ] && cmp -s "$o/install.out" "$o/install-again.out"' ||
        show install-again
check_all "the kernel's profile list has them" \
        'grep -qx "moat-default (enforce)" "$o/profiles.txt" && grep -qx "moat (unconfined)" "$o/profiles.txt" &&
         grep -qx "moat-container (enforce)" "$o/profiles.txt"'
check_all "policy status: exit 0, each the shipped file by digest" \
        '[ "$(rc_of status)" = 0 ] && [ "$(grep -Ec "^  moat(-default|-container)? +loaded \((enforce|unconfined)\), the shipped .*sha256 [0-9a-f]{12}" "$o/status.out")" = 3 ]' ||
        show status
sha=$(sha256sum "$SRC/policies/apparmor/moat-default" | cut -c1-12)
check "policy status: ... moat-default's digest is the SHA-256 of the shipped file ($sha)" \
        grep -Eq "^  moat-default .*sha256 $sha" "$o/status.out"
check_all "policy status: a moat-default changed after install is reported (exit 1, older file)" \
        '[ "$(rc_of install-copy)" = 0 ] && [ "$(rc_of status-changed)" = 1 ] &&
         grep -Eq "^  moat-default +loaded \(enforce\) from an older file" "$o/status-changed.out"' ||
        show status-changed
check_all "policy install: a profile that does not compile fails the install (125), naming the file and the parser" \
        '[ "$(rc_of install-broken)" = 125 ] &&
         grep -q "apparmor_parser failed to load /tmp/data/policies/apparmor/moat-default" "$o/install-broken.err"' ||
        show install-broken

# The runs.
for who in root moatuser; do
        f=$o/$who-loaded
        check_all "$who: moat host sees moat, moat-container and moat-default loaded" \
                'jqt ".apparmor_moat_loaded == true and (.apparmor_moat_profiles | sort) == [\"moat\", \"moat-container\", \"moat-default\"]" "$f-host.out"' ||
                show "$who-loaded-host"
        check_all "$who: moat run -p aa-required runs the workload (exit 0)" '[ "$(rc_of "$who-loaded")" = 0 ]' ||
                show "$who-loaded"
        check "$who: /proc/self/attr/current in the workload is moat-default (enforce)" \
                jqt '.lsm_label == "moat-default (enforce)"' "$f.out"
        check "$who: writes to .git/hooks and .git/config are denied (EACCES), a write to the work directory is not" \
                jqt '.tries[0].arg == "/work/.git/hooks/pre-commit" and .tries[0].ok == false and
                     .tries[0].errno == 13 and .tries[1].ok == false and .tries[1].errno == 13 and
                     .tries[2].arg == "/work/built.txt" and .tries[2].ok == true' "$f.out" || diag "$(jq -c .tries "$f.out" 2>&1 | head -c 600)"
        check_all "$who: ... and no hook was planted" '[ ! -s "$f.hooks" ]'
        check "$who: the audit record lists apparmor (moat-default) required and applied" \
                jqt '[.controls[] | select(.name == "apparmor")] | length == 1 and
                     .[0].planned == "required" and .[0].outcome == "applied"' "$f.audit.json" ||
                diag "$(jq -c '.controls[] | select(.name == "apparmor")' "$f.audit.json" 2>&1 | head -c 400)"
        c=$o/$who-unlabelled
        check_all "$who: control: without the label the workload is unconfined and the same writes succeed" \
                '[ "$(rc_of "$who-unlabelled")" = 0 ] &&
                 jqt ".lsm_label == \"unconfined\" and .tries[0].ok == true and .tries[1].ok == true and .tries[2].ok == true" "$c.out" &&
                 grep -qx pre-commit "$c.hooks"' || show "$who-unlabelled"
done
# /etc/shadow: root can read it by DAC in the sandbox (owner read bit), so only moat-default
# stops it; moatuser is stopped by DAC already.
check "root: reading /etc/shadow is denied under moat-default (EACCES) and allowed without it" \
        jqt --slurpfile c "$o/root-unlabelled.out" '.tries[3].ok == false and .tries[3].errno == 13 and
                $c[0].tries[3].ok == true' "$o/root-loaded.out"

# Remove.
check_all "policy remove: exit 0, each profile removed" \
        '[ "$(rc_of remove)" = 0 ] && [ "$(grep -Ec "^  moat(-default|-container)? +removed" "$o/remove.out")" = 3 ]' ||
        show remove
check_all "policy remove again: exit 0, each not loaded (idempotent)" \
        '[ "$(rc_of remove-again)" = 0 ] && [ "$(grep -Ec "^  moat(-default|-container)? +not loaded" "$o/remove-again.out")" = 3 ]' ||
        show remove-again
check_all "policy status after remove: exit 1, and the kernel lists none of them" \
        '[ "$(rc_of status-after)" = 1 ] && ! grep -q "^moat" "$o/profiles-after.txt"' || show status-after
for who in root moatuser; do
        check_all "$who: with moat-default unloaded, the same run refuses (125) naming moat policy install, and runs nothing" \
                '[ "$(rc_of "$who-removed")" = 125 ] && [ ! -s "$o/$who-removed.out" ] &&
                 grep -q "moat-default.* is not loaded; moat policy install loads" "$o/$who-removed.err"' ||
                show "$who-removed"
done
diag "seconds (boot and guest work): $((secs / 1000))"
tap_end
