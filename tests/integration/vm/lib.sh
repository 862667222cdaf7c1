#!/bin/bash
# Shared by the vm integration tests (sourced): TAP helpers, one private temp dir per script,
# the guest kernel, and running as root or as the unprivileged test user `moatuser`.
#
# Environment (tests/meson.build): MOAT, MOAT_BUILD_DIR, MOAT_SOURCE_DIR, MOAT_DATA_DIR.
# MOAT_MUST_WORK=1 turns a skip for something this machine can do into a failure.
# The vm tier is slow under TCG (a boot is 3-10 s here): each check shares one boot where it can.
set -u

source "$(dirname "${BASH_SOURCE[0]}")/../tap.sh"
# skip_all REASON: the whole script cannot run here; a failure when MOAT_MUST_WORK=1.
skip_all() {
        if [ "${MOAT_MUST_WORK:-0}" = 1 ]; then
                echo "not ok 1 - vm tier unavailable although MOAT_MUST_WORK=1: $1"
                echo "1..1"
                exit 1
        fi
        echo "1..0 # SKIP $1"
        exit 77
}

GUEST_INIT=$MOAT_BUILD_DIR/launcher/vm/guest/moat-guest-init
DRIVER=$MOAT_BUILD_DIR/tests/integration/vm/vm-driver
GUEST_KERNEL=${MOAT_GUEST_KERNEL:-/var/lib/moat/guest/vmlinux}
[ -x "$GUEST_INIT" ] && [ -x "$DRIVER" ] || skip_all "moat-guest-init or vm-driver not built"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 is not installed"
[ -x /usr/sbin/libvirtd ] || skip_all "libvirtd is not installed"
if [ ! -r "$GUEST_KERNEL" ] && [ "$(id -u)" = 0 ]; then
        # The documented setup step; fetches Debian's kernel package from the apt archive.
        "$MOAT_SOURCE_DIR/launcher/vm/guest/moat-guest-kernel.sh" >/dev/null ||
                skip_all "moat-guest-kernel failed"
fi
[ -r "$GUEST_KERNEL" ] || skip_all "no guest kernel at $GUEST_KERNEL (run moat-guest-kernel as root)"

T=$(mktemp -d /tmp/moat-vm-test.XXXXXX)
chmod 0755 "$T"
cleanup() {
        local pidfile pids=()
        # The session daemons this script's HOMEs spawned (libvirtd, virtlogd) are ours. Wait
        # for them to exit: a daemon shutting down recreates its cache directory.
        for pidfile in "$T"/*/home/.cache/libvirt/libvirtd.pid "$T"/*/home/.cache/libvirt/virtlogd.pid; do
                [ -r "$pidfile" ] && pids+=("$(cat "$pidfile")")
        done
        if [ ${#pids[@]} -gt 0 ]; then
                kill "${pids[@]}" 2>/dev/null
                for _ in $(seq 50); do
                        kill -0 "${pids[@]}" 2>/dev/null || break
                        sleep 0.1
                done
        fi
        rm -rf "$T"
}
trap cleanup EXIT

USERS=("$(id -un)")
if [ "$(id -u)" = 0 ]; then
        if "$MOAT_SOURCE_DIR/tests/helpers/setup-test-user.sh" >/dev/null 2>&1 ||
           id moatuser >/dev/null 2>&1 || useradd -m -U moatuser; then
                USERS=(root moatuser)
        fi
        id moat-vm >/dev/null 2>&1 || skip_all "the moat-vm account is missing (moat-guest-kernel creates it)"
fi

# user_dir USER: that user's part of $T (home/, work/).
user_dir() {
        local d="$T/$1"
        if [ ! -d "$d" ]; then
                mkdir -p "$d/home" "$d/work"
                if [ "$1" != "$(id -un)" ]; then chown -R "$1:" "$d"; fi
        fi
        echo "$d"
}

# as_user USER COMMAND...: hermetic environment (HOME, XDG_*, audit log inside $T), run in the
# user's work directory.
as_user() {
        local u=$1 d
        shift
        d=$(user_dir "$u")
        local envv=(env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME="$d/home"
                    XDG_CACHE_HOME="$d/home/.cache" XDG_CONFIG_HOME="$d/home/.config"
                    MOAT_AUDIT_LOG="$d/audit.log" MOAT_DATA_DIR="$MOAT_DATA_DIR"
                    MOAT_GUEST_INIT="$GUEST_INIT" MOAT_GUEST_KERNEL="$GUEST_KERNEL"
                    MOAT_VM_FAULT="${MOAT_VM_FAULT:-}" MOAT_VM_START="${MOAT_VM_START:-}" LANG=C)
        if [ "$u" = "$(id -un)" ]; then
                (cd "$d/work" && "${envv[@]}" "$@")
        else
                (cd "$d/work" && setpriv --reuid="$u" --regid="$u" --init-groups --reset-env \
                        "${envv[@]}" "$@")
        fi
}

# The uid QEMU (and the guest command) runs as for USER: the user, or moat-vm for root.
qemu_uid() {
        if [ "$1" = root ]; then id -u moat-vm; else id -u "$1"; fi
}

# no_vm_left UID NAME_PART: no QEMU of that uid whose command line names the domain.
no_qemu_left() {
        ! pgrep -u "$1" -f "qemu-system-x86_64 -name guest=$2" >/dev/null
}

# report_guest OUT WHAT MIN: a guest script's report (OUT, its stdout) as TAP: that it ran to
# its DONE line (RC is $rc, the driver's status), each "PASS name"/"FAIL name" line as a check,
# each "DIAG text" as a diagnostic, and that it reported at least MIN checks.
report_guest() {
        local out=$1 what=$2 min=$3 n=0 kind rest
        check_all "the guest ran the $what checks to the end" \
                '[ "$rc" = 0 ] && grep -qx DONE <<<"$out"'
        while read -r kind rest; do
                case $kind in
                PASS) check "guest: $rest" true; n=$((n + 1)) ;;
                FAIL) check "guest: $rest" false; n=$((n + 1)) ;;
                DIAG) diag "guest: $rest" ;;
                esac
        done <<<"$out"
        check "the guest reported its checks ($n)" [ "$n" -ge "$min" ]
}

# ---- A guest script run as guest root by the real moat (mac-policies.sh, selinux.sh,
# apparmor-userns.sh, vm-quota.sh): one boot of the test driver, then the host side's checks.

# guest_checks_return: check and check_all that also return 1 when the check failed (for
# `check ... || show STEP`).
guest_checks_return() {
        check() {
                local d=$1
                shift
                if "$@"; then tap_ok "$d"; else tap_not_ok "$d"; return 1; fi
        }
        check_all() {
                if eval "$2"; then tap_ok "$1"; else tap_not_ok "$1"; return 1; fi
        }
}

# guest_setup SCRIPT [-b SRC:TARGET:MODE]...: u and d (the last user and its part of $T), the
# work directory owned by QEMU's uid with SCRIPT in it as guest.sh (and guest-lib.sh beside it);
# GUEST_BINDS: the source tree read-only at its own path, the given binds, then the build and
# data directories where they are outside the source tree.
guest_setup() {
        local script=$1 dir
        shift
        u=${USERS[-1]}
        d=$(user_dir "$u")
        chown "$(qemu_uid "$u")" "$d/work"
        cp "$(dirname "$0")/$script" "$d/work/guest.sh"
        cp "$(dirname "$0")/guest-lib.sh" "$d/work/guest-lib.sh"
        chmod a+r "$d/work/guest.sh" "$d/work/guest-lib.sh"
        GUEST_BINDS=(-b "$MOAT_SOURCE_DIR:$MOAT_SOURCE_DIR:ro" "$@")
        for dir in "$MOAT_BUILD_DIR" "$MOAT_DATA_DIR"; do
                case "$dir/" in "$MOAT_SOURCE_DIR"/*) ;; *) GUEST_BINDS+=(-b "$dir:$dir:ro") ;; esac
        done
}

# guest_boot KERNEL_ARGS MEMORY_MIB TIMEOUT_MS COMMAND...: boots the guest as u (guest root,
# GUEST_BINDS, the work directory at /t; -K KERNEL_ARGS unless empty) and runs COMMAND there
# under `env MOAT_DATA_DIR PATH LANG=C`. Sets out (its stdout), rc (the driver's status) and
# secs (milliseconds).
guest_boot() {
        local kargs=$1 mem=$2 timeout=$3 t0
        shift 3
        t0=$(date +%s%N)
        out=$(as_user "$u" "$DRIVER" -r -m "$mem" -t "$timeout" ${kargs:+-K "$kargs"} \
                "${GUEST_BINDS[@]}" -w /t -- \
                env MOAT_DATA_DIR="$MOAT_DATA_DIR" PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C \
                "$@" </dev/null 2>"$T/guest.err" 3>"$T/guest.res")
        rc=$?
        secs=$((($(date +%s%N) - t0) / 1000000))
}

# guest_ran DESCRIPTION [DIAG_PREFIX]: after guest_boot, for a guest script that leaves its
# results in the work directory's out/: the guest's DIAG lines and how the driver ended
# (diagnostics, the latter after DIAG_PREFIX), the check that the
# script ran to its DONE line, o (that directory; the script ends here without it) and the
# helpers rc_of STEP, jqt JQ_ARGS..., show STEP.
guest_ran() {
        sed -n 's/^DIAG //p' <<<"$out" | while read -r l; do diag "$l"; done
        diag "${2:-}driver rc=$rc in ${secs} ms; err='$(head -c 300 "$T/guest.err")'"
        check_all "the guest ($1) ran to the end" '[ "$rc" = 0 ] && grep -qx DONE <<<"$out"'
        o=$d/work/out
        [ -d "$o" ] || { tap_end; exit 1; }
        rc_of() { cat "$o/$1.rc" 2>/dev/null; }
        jqt() { jq -e "$@" >/dev/null 2>&1; }
        show() { diag "$1: rc=$(rc_of "$1") out: $(head -c 600 "$o/$1.out") err: $(head -c 600 "$o/$1.err")"; }
}
