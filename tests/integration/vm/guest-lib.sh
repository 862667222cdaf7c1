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
