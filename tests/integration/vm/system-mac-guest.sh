#!/bin/bash
# Runs inside a vm-tier guest booted with AppArmor enabled, as guest root (driven by
# system-mac.sh). The real moat, from the host's build tree over the /usr-and-source shares,
# runs system-tier containers (liblxc, the busybox test image) under moat's shipped AppArmor
# profile moat-container, as root (range map) and as USER (single-uid map):
#   - the container's processes (pid 1, the gate, and the command) carry
#     "moat-container (enforce)", read inside and from the guest's side; the audit record lists
#     apparmor required and applied;
#   - a write the profile denies (/sys/NAME in the container's own layer: DAC allows it, the
#     profile's `deny /sys/[^fdc]*{,/**} wklx` does not) fails with EACCES; the same write
#     without a label succeeds;
#   - moat-container in complain mode, and a label liblxc did not apply (MOAT_SYSTEM_FAULT=
#     apparmor: the key fails open as it does without the LSM), are refused (125) by the
#     check from the host, the command never running;
#   - with the profile unloaded the same run refuses (125) naming `moat policy install`;
#   - in boot mode the image's init (pid 1) and the attached command carry the label as well.
#   system-mac-guest.sh MOAT TARBALL USER MODULES_DIR
# Prints PASS/FAIL/DIAG lines (guest-lib.sh) and DONE.
set -u
moat=$1 tarball=$2 user=$3 mods=$4
source "$(dirname "$0")/guest-lib.sh"

system_guest_setup "$mods"
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
diag "kernel $(</proc/sys/kernel/osrelease); LSMs $(</sys/kernel/security/lsm)"
aa=/sys/kernel/security/apparmor
data=${MOAT_DATA_DIR:?}

"$moat" policy install >/tmp/install.out 2>&1
check_all "moat policy install loads moat-container (enforce)" \
        'grep -Eq "^  moat-container +loaded \(enforce\)" /tmp/install.out && grep -qx "moat-container (enforce)" $aa/profiles'

P=/tmp/profiles
mkdir -p "$P"
chmod 0755 "$P"
# Landlock off: the workload writes where a full OS would, inside its own layer; the label is
# what stops the write to /sys.
write_profile() { # NAME [MAC YAML]
        {
                printf 'moat: 1\nname: %s\nisolation: system\nmax_tier: system\n' "$1"
                printf 'filesystem:\n  root: {image: bb}\nos: {full_os: true, init: none}\n'
                printf 'mac: {landlock: off%s}\n' "${2:+, $2}"
        } >"$P/$1.yaml"
        chmod 0644 "$P/$1.yaml"
}
write_profile aa 'apparmor: moat-container, enforce: required'
write_profile none
# boot mode: the image's init as pid 1 (the busybox image plus /sbin/init and an inittab)
sed 's|^filesystem:.*|filesystem:|; s|root: {image: bb}|root: {image: bboot}|; s|init: none|init: /sbin/init|' \
        "$P/aa.yaml" >"$P/boot.yaml"
chmod 0644 "$P/boot.yaml"
mkdir -p /tmp/bootimg && tar -C /tmp/bootimg -xf "$tarball" && ln -sf /bin/busybox /tmp/bootimg/sbin/init &&
        printf '::sysinit:/bin/true\n' >/tmp/bootimg/etc/inittab &&
        tar --numeric-owner --owner=0 --group=0 -C /tmp/bootimg -cf /tmp/boot.tar . && chmod 0644 /tmp/boot.tar ||
        diag "cannot make the boot-mode image"

# The workload: its label, a write the profile denies, a write it allows.
probe='echo "LABEL $(cat /proc/self/attr/current)"
if e=$(echo x 2>&1 >/sys/moat-denied); then echo "SYS ok"; else echo "SYS denied: $e"; fi
if echo x 2>/dev/null >/etc/moat-allowed; then echo "ETC ok"; else echo "ETC denied"; fi'

# home WHO: that user's private directories (image store, audit log, runtime dir)
home() {
        local h=/tmp/home-$1
        if [ ! -d "$h" ]; then
                mkdir -p "$h/store" "$h/run"
                chmod 0755 "$h" "$h/store"
                chmod 0700 "$h/run"
                [ "$1" = root ] || chown -R "$1:" "$h"
        fi
        echo "$h"
}
# as WHO COMMAND...: COMMAND as root or as the user, with that user's store and audit log.
as() {
        local who=$1 h
        shift
        h=$(home "$who")
        local e=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C HOME="$h" MOAT_DATA_DIR="$data"
                MOAT_IMAGE_DIR="$h/store" XDG_RUNTIME_DIR="$h/run" MOAT_AUDIT_LOG="$h/audit.jsonl"
                ${FAULT:+MOAT_SYSTEM_FAULT=$FAULT})
        if [ "$who" = root ]; then (cd "$h" && "${e[@]}" "$@"); else
                (cd "$h" && setpriv --reuid="$who" --regid="$who" --clear-groups "${e[@]}" "$@"); fi
}

for who in root "$user"; do
        h=$(home "$who")
        as "$who" "$moat" image import -q bb "$tarball" >/dev/null 2>/tmp/import.err ||
                diag "$who: import: $(head -c 300 /tmp/import.err)"
        as "$who" "$moat" image import -q bboot /tmp/boot.tar >/dev/null 2>/tmp/import.err ||
                diag "$who: import: $(head -c 300 /tmp/import.err)"

        out=$(as "$who" "$moat" run -q -p "$P/aa.yaml" -- sh -c "$probe" 2>/tmp/err)
        rc=$?
        diag "$who: aa: rc=$rc out: $(tr '\n' ' ' <<<"$out") err: $(head -c 900 /tmp/err)"
        check_all "$who: a system-tier run with apparmor: moat-container required runs (exit 0)" '[ $rc = 0 ]'
        check "$who: the command's /proc/self/attr/current is moat-container (enforce)" \
                grep -qx "LABEL moat-container (enforce)" <<<"$out"
        # (the profile's deny rules are quiet: the kernel logs nothing; the control run below
        # shows that the same write, same owner, succeeds without the label)
        check "$who: its write to /sys/moat-denied in its own layer is denied (EACCES)" \
                grep -q "^SYS denied: .*Permission denied" <<<"$out"
        check "$who: ... while a write to /etc is not" grep -qx "ETC ok" <<<"$out"
        ctl=$(tail -n 1 "$h/audit.jsonl" | jq -c '[.controls[] | select(.name == "apparmor")][0]')
        check_all "$who: the audit record lists apparmor required and applied" \
                'jq -e ".planned == \"required\" and .outcome == \"applied\"" <<<"$ctl" >/dev/null' ||
                diag "$who: audit apparmor control: $ctl"

        # From the guest's side while the command runs: the command and its parent, pid 1.
        as "$who" "$moat" run -q -p "$P/aa.yaml" -- sleep 30 </dev/null >/dev/null 2>&1 &
        bg=$!
        wait_for 30 pgrep -xf "sleep 30" >/dev/null
        cmd=$(pgrep -xf "sleep 30" | head -1)
        init=$( [ -n "$cmd" ] && awk '{print $4}' "/proc/$cmd/stat" 2>/dev/null)
        cl=$( [ -n "$cmd" ] && tr -d '\0' <"/proc/$cmd/attr/current" 2>/dev/null)
        il=$( [ -n "$init" ] && tr -d '\0' <"/proc/$init/attr/current" 2>/dev/null)
        diag "$who: from outside: command $cmd '$cl', its parent (pid 1 inside) $init '$il'"
        check "$who: from outside the command carries moat-container (enforce)" [ "$cl" = "moat-container (enforce)" ]
        check "$who: from outside pid 1 (the gate) carries moat-container (enforce) too" \
                [ "$il" = "moat-container (enforce)" ]
        kill -TERM "$bg" 2>/dev/null
        for p in $(pgrep -f "moat run -q -p $P/aa.yaml"); do kill -TERM "$p" 2>/dev/null; done
        wait "$bg" 2>/dev/null

        # Boot mode: the image's init and the attached command carry the label too.
        out=$(as "$who" "$moat" run -q -p "$P/boot.yaml" -- sh -c "$probe"'
                echo "INIT $(cat /proc/1/comm) $(cat /proc/1/attr/current)"' 2>/tmp/err)
        rc=$?
        check_all "$who: boot mode: the image's init (pid 1) and the attached command carry moat-container (enforce)" \
                '[ $rc = 0 ] && grep -qx "LABEL moat-container (enforce)" <<<"$out" &&
                 grep -qx "INIT init moat-container (enforce)" <<<"$out"' ||
                diag "$who: boot: rc=$rc out: $(tr '\n' ' ' <<<"$out") err: $(head -c 900 /tmp/err)"
        check "$who: boot mode: the /sys write is denied there too (EACCES)" \
                grep -q "^SYS denied: .*Permission denied" <<<"$out"

        # Control: the same workload without a label is unconfined and the write succeeds.
        out=$(as "$who" "$moat" run -q -p "$P/none.yaml" -- sh -c "$probe" 2>/tmp/err)
        rc=$?
        check_all "$who: control: without a label the container is unconfined and the /sys write succeeds" \
                '[ $rc = 0 ] && grep -qx "LABEL unconfined" <<<"$out" && grep -qx "SYS ok" <<<"$out"' ||
                diag "$who: none: rc=$rc out: $(tr '\n' ' ' <<<"$out") err: $(head -c 300 /tmp/err)"

        # A label liblxc did not apply (the key failing open, as without the LSM): the check from
        # the host refuses, with the gate's own check off so that it is the host's alone.
        out=$(FAULT=apparmor as "$who" "$moat" run -q -p "$P/aa.yaml" -- echo RAN 2>/tmp/err)
        rc=$?
        check_all "$who: a label liblxc did not apply is refused from the host (125, names apparmor)" \
                '[ $rc = 125 ] && ! grep -q RAN <<<"$out" && grep -q "apparmor: the container.s pid 1 has the label .unconfined.*checked from the host" /tmp/err' ||
                diag "$who: fault: rc=$rc err: $(head -c 900 /tmp/err)"
done

# Complain mode enforces nothing: refused from the host.
apparmor_parser --replace --skip-cache --complain "$data/policies/apparmor/moat-container" 2>/tmp/err ||
        diag "complain load: $(head -c 300 /tmp/err)"
diag "profiles now: $(grep moat-container $aa/profiles)"
for who in root "$user"; do
        out=$(FAULT=gate as "$who" "$moat" run -q -p "$P/aa.yaml" -- echo RAN 2>/tmp/err)
        rc=$?
        check_all "$who: moat-container in complain mode is refused from the host (125)" \
                '[ $rc = 125 ] && ! grep -q RAN <<<"$out" && grep -q "moat-container (complain)" /tmp/err' ||
                diag "$who: complain: rc=$rc err: $(head -c 900 /tmp/err)"
done

"$moat" policy remove >/tmp/remove.out 2>&1
for who in root "$user"; do
        out=$(as "$who" "$moat" run -q -p "$P/aa.yaml" -- echo RAN 2>/tmp/err)
        rc=$?
        check_all "$who: with moat-container unloaded the same run refuses (125) naming moat policy install" \
                '[ $rc = 125 ] && ! grep -q RAN <<<"$out" && grep -q "moat policy install" /tmp/err' ||
                diag "$who: removed: rc=$rc err: $(head -c 900 /tmp/err)"
done
check "no container process is left" sh -c "! pgrep -xf \"sleep 30\""
echo DONE
