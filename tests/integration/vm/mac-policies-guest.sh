#!/bin/bash
# Runs inside a vm-tier guest booted with AppArmor enabled, as guest root (driven by
# mac-policies.sh, which asserts on what this writes under OUT). The real moat, from the host's
# build tree over the /usr-and-source shares, manages moat's shipped policies in the guest
# kernel and runs workloads under them:
#   status (nothing loaded), install, install again, status, host --json, run of the probe as
#   root and USER under aa-required (moat-default) and aa-none (no label), a copy of the data
#   directory whose moat-default changed after install (status sees it), a data directory with
#   a broken moat-default (install fails naming the file), remove, remove again, status, and
#   the aa-required run again (refused).
#   mac-policies-guest.sh MOAT PROBE OUT USER PROFILE_DIR
# Each step S leaves OUT/S.rc, OUT/S.out, OUT/S.err. Prints "DIAG text" lines and DONE.
set -u
moat=$1 probe=$2 out=$3 user=$4 profiles=$5
diag() { echo "DIAG $*"; }
step() { # NAME COMMAND...
        local n=$1
        shift
        "$@" </dev/null >"$out/$n.out" 2>"$out/$n.err"
        echo $? >"$out/$n.rc"
}
mount -t securityfs securityfs /sys/kernel/security || diag "cannot mount securityfs"
diag "kernel $(</proc/sys/kernel/osrelease); LSMs $(</sys/kernel/security/lsm)"
mkdir -p "$out"

step status-before "$moat" policy status
step install "$moat" policy install
step install-again "$moat" policy install
step status "$moat" policy status
cp /sys/kernel/security/apparmor/profiles "$out/profiles.txt" 2>/dev/null

# run WHO NAME PROFILE: the probe in the sandbox, in a checkout with .git/hooks, as WHO.
run() {
        local who=$1 n=$2 p=$3 w=/tmp/run/$1-$2
        mkdir -p "$w/work/.git/hooks" "$w/home"
        cp "$probe" "$w/work/moat-probe"
        [ "$who" = root ] || chown -R "$who" "$w"
        local cmd=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C HOME="$w/home"
                MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_AUDIT_LOG="$w/audit.json"
                "$moat" run -p "$profiles/$p.yaml" -- /work/moat-probe
                --try-write /work/.git/hooks/pre-commit --try-write /work/.git/config
                --try-write /work/built.txt --try-read /etc/shadow)
        if [ "$who" = root ]; then
                (cd "$w/work" && step "$who-$n-host" "$moat" host --json && step "$who-$n" "${cmd[@]}")
        else
                (cd "$w/work" && step "$who-$n-host" setpriv --reuid="$who" --regid="$who" --clear-groups \
                        env -i PATH=/usr/bin:/bin HOME="$w/home" "$moat" host --json &&
                 step "$who-$n" setpriv --reuid="$who" --regid="$who" --clear-groups "${cmd[@]}")
        fi
        cp "$w/audit.json" "$out/$who-$n.audit.json" 2>/dev/null
        ls -A "$w/work/.git/hooks" >"$out/$who-$n.hooks"
}
for who in root "$user"; do
        run "$who" loaded aa-required
        run "$who" unlabelled aa-none
done
diag "runs with the policies loaded done at $(cut -d' ' -f1 /proc/uptime) s of uptime"

# A data directory whose moat-default changes after install: status tells.
cp -r "$MOAT_DATA_DIR/policies" /tmp/data-policies
mkdir -p /tmp/data && cp -r /tmp/data-policies /tmp/data/policies
MOAT_DATA_DIR=/tmp/data step install-copy "$moat" policy install
echo "# changed after install" >>/tmp/data/policies/apparmor/moat-default
MOAT_DATA_DIR=/tmp/data step status-changed "$moat" policy status
# A broken profile: install names the file and the parser's complaint, and fails.
printf 'profile moat-default {\n  this is not a rule\n}\n' >/tmp/data/policies/apparmor/moat-default
MOAT_DATA_DIR=/tmp/data step install-broken "$moat" policy install
# Back to the shipped files, then remove.
step install-shipped "$moat" policy install
step remove "$moat" policy remove
step remove-again "$moat" policy remove
step status-after "$moat" policy status
cp /sys/kernel/security/apparmor/profiles "$out/profiles-after.txt" 2>/dev/null
for who in root "$user"; do
        run "$who" removed aa-required
done
chmod -R a+rX "$out"
echo DONE
