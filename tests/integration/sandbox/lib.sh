#!/bin/bash
# Shared by the sandbox integration tests (sourced). TAP output, one private temp dir per
# test script, and running moat as root or as the unprivileged test user `moatuser`.
#
# Environment (tests/meson.build): MOAT, MOAT_PROBE, MOAT_DATA_DIR, MOAT_SOURCE_DIR.
# MOAT_MUST_WORK=1 turns a skip for something this machine can do into a failure.
set -u

source "$(dirname "${BASH_SOURCE[0]}")/../tap.sh"

for tool in jq setpriv; do
        if ! command -v $tool >/dev/null; then
                echo "1..0 # SKIP $tool is not installed"
                exit 77
        fi
done
if [ ! -x "${MOAT:-}" ] || [ ! -x "${MOAT_PROBE:-}" ]; then
        echo "1..0 # SKIP moat or moat-probe not built (MOAT=${MOAT:-}, MOAT_PROBE=${MOAT_PROBE:-})"
        exit 77
fi

T=$(mktemp -d /tmp/moat-sandbox-test.XXXXXX)
chmod 0755 "$T"
cleanup() { rm -rf "$T"; }
trap cleanup EXIT

# The test user exists (root creates it); without root only the current user is tested.
USERS=("$(id -un)")
if [ "$(id -u)" -eq 0 ]; then
        if "$MOAT_SOURCE_DIR/tests/helpers/setup-test-user.sh" >/dev/null; then
                USERS=(root moatuser)
        else
                tap_skip "create moatuser" "setup-test-user.sh failed" present
        fi
fi

# user_dir USER: that user's private part of $T: home/, work/ (the work directory, with a copy
# of the probe in it: the work directory is where a sandbox may execute from).
user_dir() {
        local d="$T/$1"
        if [ ! -d "$d" ]; then
                mkdir -p "$d/home" "$d/work"
                cp "$MOAT_PROBE" "$d/work/moat-probe"
                if [ "$1" != "$(id -un)" ]; then chown -R "$1:" "$d"; fi
        fi
        echo "$d"
}

# as_user USER COMMAND...: run with a clean, hermetic environment (HOME, XDG_*, the audit log
# all inside the user's part of $T), as root or via setpriv as the test user.
as_user() {
        local u=$1 d
        shift
        d=$(user_dir "$u")
        local envv=(HOME="$d/home" XDG_CONFIG_HOME="$d/home/.config" XDG_STATE_HOME="$d/home/.local/state"
                XDG_CACHE_HOME="$d/home/.cache" XDG_RUNTIME_DIR="$d/home/run"
                PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8
                MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_AUDIT_LOG="$d/audit.jsonl" ${EXTRA_ENV:-})
        if [ "$u" = "$(id -un)" ]; then
                (cd "$d/work" && env -i "${envv[@]}" "$@")
        else
                (cd "$d/work" && setpriv --reuid="$u" --regid="$u" --init-groups --reset-env \
                        env -i "${envv[@]}" "$@")
        fi
}

# moat_run USER PROFILE COMMAND...: moat run in the user's work directory.
moat_run() {
        local u=$1 p=$2
        shift 2
        as_user "$u" "$MOAT" run -p "$p" -- "$@"
}

# write_profile FILE NAME [EXTRA YAML...]: a sandbox-tier profile binding the work directory
# read-write at /work; extra top-level YAML appended as given.
write_profile() {
        local f=$1 name=$2
        shift 2
        {
                printf 'moat: 1\nname: %s\nisolation: sandbox\n' "$name"
                printf '%s\n' "$@"
        } >"$f"
        chmod 0644 "$f"
}

# last_audit USER: the last audit record that user's runs wrote.
last_audit() { tail -n 1 "$T/$1/audit.jsonl"; }

# moat_pid_by_arg STRING: pid of the running moat process whose command line contains STRING.
moat_pid_by_arg() {
        local f p
        for f in $(grep -lF -- "$1" /proc/[0-9]*/cmdline 2>/dev/null); do
                p=${f#/proc/}
                p=${p%/cmdline}
                if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = moat ]; then
                        echo "$p"
                        return 0
                fi
        done
        return 1
}
