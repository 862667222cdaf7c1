#!/bin/bash
# Runs inside a vm-tier guest as guest root (driven by ia32.sh): the i386 ABI (int 0x80 from
# 64-bit code) on a kernel that accepts it, which this host's kernel does not. Prints
# "PASS name", "FAIL name" and "DIAG text" lines for the host side, then DONE.
#   ia32-guest.sh TEST_SYS_SECCOMP MOAT MOAT_PROBE
set -u
seccomp_test=$1 moat=$2 probe=$3

source "$(dirname "$0")/guest-lib.sh"
diag "guest kernel $(uname -r)"

# The i386 unit tests of the build, by name. Each probes int 0x80 first and skips where the
# kernel refuses it: here only "ok N - NAME" counts, a skip ("not ok N # SKIP NAME") fails.
# With them the notify test without i386, for this older kernel's listener, which does not hang
# up while the filtered child is unreaped.
tests=(test_i386_denied test_foreign_abi_killed_i386 test_notify_i386)
out=$(CMOCKA_MESSAGE_OUTPUT=TAP timeout 60 "$seccomp_test" "${tests[@]}" \
        test_notify_same_errno_and_recorded 2>&1)
rc=$?
while IFS= read -r line; do diag "test-sys-seccomp: $line"; done <<<"$out"
check "test-sys-seccomp exits 0 (exit $rc)" [ "$rc" = 0 ]
for t in "${tests[@]}"; do
        check "$t ran int 0x80 and passed" grep -qx "ok [0-9]* - $t" <<<"$out"
done
check "test_notify_same_errno_and_recorded passed" \
        grep -qx "ok [0-9]* - test_notify_same_errno_and_recorded" <<<"$out"

# The real moat: an i386 keyctl from the workload gets the deny rule's EPERM, while i386
# getpid goes through (the ABI is filtered, not killed). Without moat the same keyctl is not
# EPERM, so the EPERM is the filter's.
mkdir -p /tmp/home
export HOME=/tmp/home XDG_CACHE_HOME=/tmp/home/.cache XDG_STATE_HOME=/tmp/home/.state
# The language's default syscall filter (x86_64, x32 and i386), run from the probe's directory:
# the work directory (".") is the one bind that may hold executables.
cat >/tmp/ia32.yaml <<YAML
moat: 1
name: ia32
isolation: sandbox
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: ro}
network: none
YAML
errno_of() { # JSON ARG: the errno of that try, "ok" if it succeeded, "-" if absent
        jq -r --arg a "$2" '[.tries[] | select(.arg == $a)][0] // {} |
                if .ok == true then "ok" else (.errno // "-") end' <<<"$1" 2>/dev/null
}
bare=$("$probe" --try-syscall keyctl-i386 --try-syscall getpid-i386 2>&1)
diag "unconfined: keyctl-i386 $(errno_of "$bare" keyctl-i386), getpid-i386 $(errno_of "$bare" getpid-i386)"
check "unconfined, i386 keyctl is not EPERM" \
        bash -c '[ -n "$0" ] && [ "$0" != - ] && [ "$0" != 1 ]' "$(errno_of "$bare" keyctl-i386)"
out=$(cd "$(dirname "$probe")" && env MOAT_AUDIT_LOG=/tmp/audit.jsonl "$moat" run -p /tmp/ia32.yaml -- \
        /work/"$(basename "$probe")" --try-syscall keyctl-i386 --try-syscall getpid-i386 --try-syscall keyctl \
        </dev/null 2>/tmp/moat.err)
rc=$?
diag "moat run: exit $rc, err '$(head -c 300 /tmp/moat.err)'"
check "moat run of the probe exits 0 (exit $rc)" [ "$rc" = 0 ]
check "under moat, i386 keyctl is EPERM ($(errno_of "$out" keyctl-i386))" \
        [ "$(errno_of "$out" keyctl-i386)" = 1 ]
check "under moat, i386 getpid works ($(errno_of "$out" getpid-i386))" \
        [ "$(errno_of "$out" getpid-i386)" = ok ]
check "under moat, x86_64 keyctl is EPERM too ($(errno_of "$out" keyctl))" \
        [ "$(errno_of "$out" keyctl)" = 1 ]
echo DONE
