#!/bin/bash
# Runs inside a vm-tier guest booted with `security=selinux selinux=1`, as guest root (driven
# by selinux.sh, which asserts on what this writes under OUT). POLROOT holds, from the host, a
# policy store and binary policy built from Debian's base and unconfined modules (plus the
# test's moattest.cil); they are copied to /var/lib/selinux and to a tmpfs over /etc/selinux
# (the guest's /etc is the host's, read-only), the policy is loaded and SELinux set enforcing.
# Then, as unconfined_t (an administrator's login): `moat policy status`, `install`, `status`,
# `moat host --json`, runs of a static busybox (from a work directory labelled
# moat_sandbox_file_t) as root and USER under se-required (moat_sandbox_t) and aa-none (no
# label), `remove`, `remove` again, `status`, and the se-required run again (refused).
#   selinux-guest.sh MOAT OUT USER PROFILE_DIR POLROOT
# Each step S leaves OUT/S.rc, OUT/S.out, OUT/S.err. Prints "DIAG text" lines and DONE.
set -u
moat=$1 out=$2 user=$3 profiles=$4 polroot=$5
diag() { echo "DIAG $*"; }
step() { # NAME COMMAND...
        local n=$1
        shift
        "$@" </dev/null >"$out/$n.out" 2>"$out/$n.err"
        echo $? >"$out/$n.rc"
}
up() { cut -d' ' -f1 /proc/uptime; }

if [ "${6:-}" != admin ]; then
        mkdir -p "$out"
        mount -t selinuxfs selinuxfs /sys/fs/selinux || diag "cannot mount selinuxfs"
        mount -t securityfs securityfs /sys/kernel/security || diag "cannot mount securityfs"
        diag "kernel $(</proc/sys/kernel/osrelease); LSMs $(</sys/kernel/security/lsm)"
        mount -t tmpfs -o mode=0755 tmpfs /etc/selinux &&
                cp -a "$polroot/etc/selinux/." /etc/selinux/ &&
                mkdir -p /var/lib/selinux && cp -a "$polroot/var/lib/selinux/." /var/lib/selinux/ ||
                diag "cannot set up the policy root"
        # Loaded permissive: the guest's own setup (kernel_t, unlabelled 9p files) is not what
        # is tested; the administrator's shell turns enforcing on first thing, and off at the end.
        step load-policy load_policy
        diag "policy loaded ($(cat "$out/load-policy.rc")) at $(up) s; I am $(tr -d '\0' </proc/self/attr/current)"
        # The shares carry no labels (unlabeled_t), which unconfined_t may not write: the
        # administrator's shell writes to the guest's tmpfs, copied to OUT once permissive again.
        mkdir -p /tmp/out
        runcon unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 \
                bash "$0" "$1" /tmp/out "$3" "$4" "$5" admin || diag "runcon failed: $?"
        setenforce 0
        cp -r /tmp/out/. "$out/" && chmod -R a+rX "$out"
        echo DONE
        exit 0
fi

step setenforce setenforce 1
diag "admin shell: $(tr -d '\0' </proc/self/attr/current), enforce=$(</sys/fs/selinux/enforce)"
step status-before "$moat" policy status
step install "$moat" policy install
diag "install done at $(up) s"
step install-again "$moat" policy install
diag "install again done at $(up) s"
step status "$moat" policy status

# run WHO NAME PROFILE: busybox in the sandbox, in a work directory labelled for the workload,
# holding a file labelled etc_t (which moat_sandbox_t may read, not write).
run() {
        local who=$1 n=$2 p=$3 w=/tmp/run/$1-$2
        mkdir -p "$w/work" "$w/home"
        cp /bin/busybox "$w/work/busybox"
        echo original >"$w/work/etc-labelled"
        [ "$who" = root ] || chown -R "$who" "$w"
        chcon -R -t moat_sandbox_file_t "$w/work" 2>>"$out/chcon.err"
        chcon -t etc_t "$w/work/etc-labelled" 2>>"$out/chcon.err"
        local cmd=(env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C HOME="$w/home"
                MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_AUDIT_LOG="$w/audit.json"
                "$moat" run -p "$profiles/$p.yaml" -- /work/busybox sh -c
                'echo "label=$(/work/busybox cat /proc/self/attr/current)"
                 echo changed >/work/etc-labelled && echo etc-write=ok || echo etc-write=denied
                 echo built >/work/built.txt && echo work-write=ok || echo work-write=denied')
        if [ "$who" = root ]; then
                (cd "$w/work" && step "$who-$n-host" "$moat" host --json && step "$who-$n" "${cmd[@]}")
        else
                (cd "$w/work" && step "$who-$n-host" setpriv --reuid="$who" --regid="$who" --clear-groups \
                        env -i PATH=/usr/bin:/bin HOME="$w/home" "$moat" host --json &&
                 step "$who-$n" setpriv --reuid="$who" --regid="$who" --clear-groups "${cmd[@]}")
        fi
        cp "$w/audit.json" "$out/$who-$n.audit.json" 2>/dev/null
        cat "$w/work/etc-labelled" >"$out/$who-$n.etc"
}
for who in root "$user"; do
        run "$who" loaded selinux/se-required
        run "$who" unlabelled mac/aa-none
done
diag "runs done at $(up) s"
step remove "$moat" policy remove
diag "remove done at $(up) s"
step remove-again "$moat" policy remove
step status-after "$moat" policy status
for who in root "$user"; do
        run "$who" removed selinux/se-required
done
dmesg | grep -E 'avc: +denied' | tail -20 >"$out/avc.txt"
