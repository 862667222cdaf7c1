#!/bin/bash
# Sourced by the scripts that run inside a vm-tier guest (*-guest.sh, copied beside it into the
# guest's work directory): the report the host side reads (lib.sh's report_guest): one line a
# result, "PASS name", "FAIL name" or "DIAG text", then DONE.
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; }
diag() { echo "DIAG $*"; }
check() { # NAME COMMAND...
        local name=$1
        shift
        if "$@"; then pass "$name"; else fail "$name"; fi
}
check_all() { # NAME 'SHELL CONDITION' (a compound condition, evaluated here)
        if eval "$2"; then pass "$1"; else fail "$1"; fi
}
# wait_for SECONDS COMMAND...: until COMMAND succeeds, by the clock (a process costs ~0.1 s
# under TCG, so a count of tries would not be a time)
wait_for() {
        local end=$((SECONDS + $1))
        shift
        while ((SECONDS < end)); do
                "$@" && return 0
                sleep 0.1
        done
        "$@"
}

# system_guest_setup MODULES_DIR: what the system tier needs that the guest lacks and a host has:
# overlayfs (liblxc's rootfs) from moat-guest-kernel's extra modules, /run (moat's run
# directories for root, liblxc's locks), a cgroup v2 hierarchy (liblxc puts the container in
# cgroups of its own under the runner's), and a writable /etc/moat for root's id range
# (/etc/moat/system-idmap; the guest's /etc is the host's, read-only).
system_guest_setup() {
        local m
        while read -r m; do
                [ "$m" = overlay ] && { insmod "$1/$m.ko" || diag "insmod overlay failed"; }
        done <"$1/order"
        mkdir -p /run && chmod 0755 /run
        mount -t cgroup2 cgroup2 /sys/fs/cgroup || diag "cannot mount cgroup2"
        if [ ! -e /etc/moat/system-idmap ]; then
                if [ -d /etc/moat ]; then mount -t tmpfs -o mode=0755 tmpfs /etc/moat; else
                        mkdir -p /tmp/etc-up /tmp/etc-work
                        mount -t overlay overlay -o lowerdir=/etc,upperdir=/tmp/etc-up,workdir=/tmp/etc-work /etc ||
                                diag "no writable /etc/moat: root's runs will fail"
                fi
        fi
}
