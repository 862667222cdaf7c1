#!/bin/bash
# Shared by the system-tier integration tests (sourced). TAP output, one private temp dir per
# script, moat run as root and as the unprivileged test user `moatuser`, each with an image
# store of its own inside that dir.
#
# Images: the busybox test image (tests/helpers/make-busybox-image.sh) is made once per CI run
# into $MOAT_SYSTEM_IMAGE_CACHE (default /tmp/moat-system-images) and imported per user and
# test (an import of 2 MB takes some 30 ms).
#
# Environment (tests/meson.build): MOAT, MOAT_PROBE, MOAT_DATA_DIR, MOAT_SOURCE_DIR.
set -u

source "$(dirname "${BASH_SOURCE[0]}")/../tap.sh"

for tool in jq setpriv sha256sum; do
        if ! command -v $tool >/dev/null; then
                echo "1..0 # SKIP $tool is not installed"
                exit 77
        fi
done
if [ ! -x "${MOAT:-}" ]; then
        echo "1..0 # SKIP moat is not built (MOAT=${MOAT:-})"
        exit 77
fi

T=$(mktemp -d /tmp/moat-system-test.XXXXXX)
chmod 0755 "$T"
cleanup() { chmod -R u+rwX "$T" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

USERS=("$(id -un)")
if [ "$(id -u)" -eq 0 ]; then
        if "$MOAT_SOURCE_DIR/tests/helpers/setup-test-user.sh" >/dev/null; then
                USERS=(root moatuser)
        else
                tap_skip "create moatuser" "setup-test-user.sh failed" present
        fi
fi

CACHE=${MOAT_SYSTEM_IMAGE_CACHE:-/tmp/moat-system-images}
# busybox_tarball: path of the cached busybox test image, made on first use.
busybox_tarball() {
        local f="$CACHE/busybox.tar"
        if [ ! -s "$f" ]; then
                mkdir -p "$CACHE" && chmod 0755 "$CACHE"
                "$MOAT_SOURCE_DIR/tests/helpers/make-busybox-image.sh" "$f.tmp.$$" >&2 &&
                        mv "$f.tmp.$$" "$f" && chmod 0644 "$f" || return 1
        fi
        echo "$f"
}

user_dir() {
        local d="$T/$1"
        if [ ! -d "$d" ]; then
                mkdir -p "$d/home" "$d/work" "$d/store"
                [ -x "${MOAT_PROBE:-}" ] && cp "$MOAT_PROBE" "$d/work/moat-probe"
                if [ "$1" != "$(id -un)" ]; then chown -R "$1:" "$d"; fi
        fi
        echo "$d"
}

# run_dirs USER: the run directories that user's runs could leave, wherever moat puts them
# (launcher/lxc/lxc-execute.c, run_dir_base()): /run/moat/system or /dev/shm/moat-system-0
# for root; the runtime directory as_user gives, else /dev/shm, else /tmp for another user.
ROOT_RUN_BASES="/run/moat/system /dev/shm/moat-system-0"
run_dirs() {
        if [ "$1" = root ]; then
                local b
                for b in $ROOT_RUN_BASES; do ls -A "$b" 2>/dev/null; done
        else
                local i
                i=$(id -u "$1")
                for b in "$(user_dir "$1")/home/run/moat-system" "/dev/shm/moat-system-$i" "/tmp/moat-system-$i"; do
                        ls -A "$b" 2>/dev/null
                done
        fi | grep -E '^[0-9a-f]{32}$'
}

# as_user USER COMMAND...: a clean, hermetic environment (HOME, XDG_*, the image store, the
# audit log all inside the user's part of $T), as root or via setpriv as the test user.
as_user() {
        local u=$1 d
        shift
        d=$(user_dir "$u")
        local envv=(HOME="$d/home" XDG_CONFIG_HOME="$d/home/.config" XDG_STATE_HOME="$d/home/.local/state"
                XDG_DATA_HOME="$d/home/.local/share" XDG_CACHE_HOME="$d/home/.cache"
                XDG_RUNTIME_DIR="$d/home/run" MOAT_IMAGE_DIR="$d/store"
                PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8
                MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_AUDIT_LOG="$d/audit.jsonl" ${EXTRA_ENV:-})
        if [ "$u" = "$(id -un)" ]; then
                (cd "$d/work" && env -i "${envv[@]}" "$@")
        else
                (cd "$d/work" && setpriv --reuid="$u" --regid="$u" --init-groups --reset-env \
                        env -i "${envv[@]}" "$@")
        fi
}

# write_profile FILE NAME IMAGE [EXTRA YAML...]: a system-tier profile in command mode (a full
# OS, no init) on image IMAGE (- : the extra YAML has its own filesystem section); extra
# top-level YAML appended as given.
write_profile() {
        local f=$1 name=$2 image=$3
        shift 3
        {
                printf 'moat: 1\nname: %s\nisolation: system\nmax_tier: system\n' "$name"
                [ "$image" = - ] || printf 'filesystem:\n  root: {image: %s}\n' "$image"
                printf 'os: {full_os: true, init: none}\n'
                printf '%s\n' "$@"
        } >"$f"
        chmod 0644 "$f"
}

last_audit() { tail -n 1 "$T/$1/audit.jsonl"; }

# tree_digest DIR: one digest over names, modes, owners, sizes, times and contents of a tree.
tree_digest() {
        (cd "$1" && find . -printf '%p %m %U %G %s %T@ %l\n' | LC_ALL=C sort &&
                find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum
}

# debian_tarball NAME PACKAGES: path of the cached Debian image NAME (bookworm minbase + the
# comma-separated PACKAGES, built by `moat image build` from the Debian archive, ~20-120 s),
# made once per CI run into $CACHE (as an uncompressed tar of the store's tree, $CACHE/NAME.tar)
# and reused by every test that needs it. Root only (mmdebstrap); fails when the archive cannot
# be reached.
debian_tarball() {
        local f="$CACHE/$1.tar" s
        if [ ! -s "$f" ]; then
                [ "$(id -u)" = 0 ] && command -v mmdebstrap >/dev/null || return 1
                mkdir -p "$CACHE" && chmod 0755 "$CACHE"
                s=$(mktemp -d "$CACHE/build.XXXXXX")
                MOAT_IMAGE_DIR=$s MOAT_DATA_DIR=$MOAT_DATA_DIR "$MOAT" image build -q deb \
                        --include "$2" >&2 &&
                        tar --numeric-owner -C "$s/names/deb/rootfs" -cf "$f.tmp.$$" . &&
                        mv "$f.tmp.$$" "$f" && chmod 0644 "$f"
                local rc=$?
                chmod -R u+rwX "$s" 2>/dev/null
                rm -rf "$s" "$f.tmp.$$"
                [ $rc = 0 ] || return 1
        fi
        echo "$f"
}

# debian_systemd_tarball: the Debian image with systemd (systemd-sysv), for the tests that boot it.
debian_systemd_tarball() { debian_tarball debian-systemd systemd-sysv; }
