#!/bin/bash
# Runs inside a vm-tier guest as guest root (driven by host-matrix.sh), in a guest booted in one
# host configuration (a row of the host matrix). Collects, as root and as USER: `moat host
# --json`, `moat explain --json` and `moat run` of every profile given (the probe as the command
# where the plan binds the work directory at /work, else /bin/true), and each run's audit
# record. Writes them under OUT/WHO/; the host side asserts on them. Prints "DIAG text" lines
# and DONE.
#   host-matrix-guest.sh MOAT PROBE ROW OUT USER MATRIX_DIR PROFILE...
# Every process costs about 0.1 s under TCG (exec over 9p): the loop runs builtins only between
# the moat calls, and each user's loop is one process of that user (collect, below).
set -u

# collect OUT MOAT PROFILE...: as the calling user, in its own work and home directory.
if [ "$1" = collect ]; then
        o=$2 moat=$3
        shift 3
        cd "$o/work" || exit 1
        export HOME=$o/home XDG_CONFIG_HOME=$o/home/.config XDG_CACHE_HOME=$o/home/.cache \
                XDG_STATE_HOME=$o/home/.state
        "$moat" host --json >"$o/facts.json" 2>"$o/facts.err"
        for p in "$@"; do
                n=${p##*/}
                n=${n%.yaml}
                "$moat" explain --json -p "$p" >"$o/$n.plan.json" 2>"$o/$n.plan.err"
                echo $? >"$o/$n.plan.rc"
                cmd=(/bin/true)
                [[ $(<"$o/$n.plan.json") =~ \"workdir_target\":\ \"/work\" ]] &&
                        cmd=(/work/moat-probe --try-read /etc/hostname)
                start=$EPOCHREALTIME
                MOAT_AUDIT_LOG=$o/$n.audit.json "$moat" run -p "$p" -- "${cmd[@]}" </dev/null \
                        >"$o/$n.run.out" 2>"$o/$n.run.err"
                echo $? >"$o/$n.run.rc"
                end=$EPOCHREALTIME
                echo $(((${end/./} - ${start/./}) / 1000)) >"$o/$n.run.ms"
        done
        exit 0
fi

moat=$1 probe=$2 row=$3 out=$4 user=$5 matrix=$6
shift 6
diag() { echo "DIAG $*"; }
t0=${EPOCHREALTIME/./}
ms() { echo $(((${EPOCHREALTIME/./} - t0) / 1000)); }
diag "guest up $(</proc/uptime) (uptime, idle) s after boot"

# As on a real host: securityfs lists the active LSMs (moat reads /sys/kernel/security/lsm).
mount -t securityfs securityfs /sys/kernel/security || diag "cannot mount securityfs"
diag "row $row: kernel $(</proc/sys/kernel/osrelease), command line: $(</proc/cmdline)"
diag "LSMs: $(</sys/kernel/security/lsm); user.max_user_namespaces $(</proc/sys/user/max_user_namespaces)"
# The guest's init leaves the kernel's hard RLIMIT_NOFILE, 4096; a systemd host gives its users
# 524288 (systemd >= 240), which the build profile's nofile 65536 needs: a sandbox cannot raise
# a hard limit (no CAP_SYS_RESOURCE in the initial user namespace), and `moat explain` does not
# look at the caller's limits.
ulimit -Hn 524288 || diag "cannot raise the hard RLIMIT_NOFILE"
case $row in
apparmor)
        # What an administrator does on an AppArmor host: load moat's profile.
        /usr/sbin/apparmor_parser --replace --skip-cache --quiet "$matrix/moat-default.apparmor" ||
                diag "apparmor_parser could not load moat-default"
        ;;
esac

for who in root "$user"; do
        o=/tmp/matrix/$who
        mkdir -p "$o/work" "$o/home"
        cp "$probe" "$o/work/moat-probe"
        if [ "$who" = root ]; then
                bash "$0" collect "$o" "$moat" "$@"
        else
                chown -R "$who" "$o"
                setpriv --reuid="$who" --regid="$who" --clear-groups bash "$0" collect "$o" "$moat" "$@"
        fi
        diag "$who: host, explain and run of $# profiles done at $(ms) ms"
done
rm -f /tmp/matrix/*/work/moat-probe
cp -r /tmp/matrix/. "$out/"
echo DONE
