#!/bin/bash
# SPDX-License-Identifier: MIT
# TAP output for the integration tests (sourced by each area's lib.sh).
# MOAT_MUST_WORK=1 turns a skip of something this machine has into a failure.

TAP_N=0
TAP_FAILED=0

tap_ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $*"; }
# tap_not_ok DESCRIPTION [DETAIL]: DETAIL is printed as TAP diagnostics.
tap_not_ok() {
        TAP_N=$((TAP_N + 1))
        echo "not ok $TAP_N - $1"
        [ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2"
        TAP_FAILED=$((TAP_FAILED + 1))
}
# tap_skip DESCRIPTION REASON [present]: with MOAT_MUST_WORK=1 a skip is a failure when the
# third argument is "present" (the machine has what the test needs).
tap_skip() {
        if [ "${MOAT_MUST_WORK:-0}" = 1 ] && [ "${3:-}" = present ]; then
                tap_not_ok "$1 (skipped although MOAT_MUST_WORK=1: $2)"
        else
                TAP_N=$((TAP_N + 1))
                echo "ok $TAP_N - $1 # SKIP $2"
        fi
}
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds. One command: for a compound
# condition use check_all, or `check D A && B` would run B outside the check, untested.
# Both return 1 on failure, so that `check_all ... || diag ...` prints its diagnostics then.
# What the command prints goes to stderr: stdout is the TAP stream (a pid from pgrep, a
# "true" from jq there is a line the harness cannot parse).
check() {
        local d=$1
        shift
        if "$@" >&2; then tap_ok "$d"; else tap_not_ok "$d"; return 1; fi
}
# check_all DESCRIPTION 'SHELL CONDITION': ok when the whole condition (evaluated here, in the
# caller's variables) succeeds.
check_all() {
        # No local variables: the condition sees the caller's (a local "d" would hide theirs).
        if eval "$2" >&2; then tap_ok "$1"; else tap_not_ok "$1"; return 1; fi
}
diag() { sed 's/^/# /' <<<"$*"; }
tap_end() {
        echo "1..$TAP_N"
        [ "$TAP_FAILED" -eq 0 ]
}
