#!/bin/bash
# Runs as the command of a vm-tier run (guest-controls.sh): observes, from inside the guest,
# each control of the sandbox tier that moat-init applies there, and reports PASS/FAIL lines.
# Usage: guest-controls-guest.sh PROBE PIDS_MAX MEMORY_MIB
source "$(dirname "$0")/guest-lib.sh"
P=$1 pids_max=$2 mem_mib=$3

j=$("$P" --try-syscall keyctl --try-syscall add_key --try-syscall ptrace --try-syscall mount \
        --try-syscall userns --try-syscall setns --try-syscall bpf --try-syscall personality \
        --try-syscall getpid-i386 --try-syscall keyctl-i386)
diag "probe: $(jq -c '{caps, no_new_privs, seccomp, landlock, cgroup, rlimits, tries}' <<<"$j")"
# tried NAME: the try's "ok" and errno, as "true 0" / "false 1"
tried() { jq -r --arg a "$1" '.tries[] | select(.arg == $a) | "\(.ok) \(.errno)"' <<<"$j"; }
denied() { local r; r=$(tried "$1"); [ "${r%% *}" = false ]; }

check "seccomp: Seccomp 2 (a filter) in the guest command" [ "$(jq .seccomp <<<"$j")" = 2 ]
check_all "caps: CapBnd, CapEff, CapPrm, CapInh, CapAmb are all 0" \
        '[ "$(jq -r "[.caps[]] | unique | join(\",\")" <<<"$j")" = 0000000000000000 ]'
check "no_new_privs: NoNewPrivs 1" [ "$(jq .no_new_privs <<<"$j")" = 1 ]
check_all "landlock: enforced, a write to /proc/self/comm (outside the allowed paths) is EACCES" \
        '[ "$(jq .landlock.restricted <<<"$j")" = true ]'
for s in keyctl add_key ptrace personality; do
        check "seccomp: $s is denied ($(tried $s))" denied "$s"
done
# Denied by the filter, and also to any unprivileged uid: these hold without the filter too.
for s in bpf setns mount; do
        check "$s is denied (the filter; no capability either) ($(tried $s))" denied "$s"
done
check "nested user namespaces: unshare(CLONE_NEWUSER) is denied ($(tried userns))" denied userns
check "nested user namespaces: user.max_user_namespaces is 0 in the guest" \
        [ "$(cat /proc/sys/user/max_user_namespaces)" = 0 ]
# The Debian guest kernel accepts int 0x80 (CONFIG_IA32_EMULATION): the filter covers i386.
check "i386: int 0x80 reaches the guest kernel (getpid through it: $(tried getpid-i386))" \
        [ "$(tried getpid-i386)" = "true 0" ]
check "i386: keyctl through int 0x80 is denied ($(tried keyctl-i386))" denied keyctl-i386
check "rlimits: RLIMIT_NOFILE is the profile's (256)" [ "$(ulimit -Hn)" = 256 ]
check "rlimits: RLIMIT_CORE is 0" [ "$(ulimit -Hc)" = 0 ]
check "cgroup: the command runs in its own guest cgroup" [ "$(cat /proc/self/cgroup)" = "0::/command" ]

# pids.max: a fork loop ends well before 2x the limit (without it, every fork succeeds).
n=$(python3 -c '
import os, signal, sys, time
kids = []
while len(kids) < 2 * int(sys.argv[1]):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    kids.append(pid)
print(len(kids), flush=True)
for k in kids:
    os.kill(k, signal.SIGKILL)
    os.waitpid(k, 0)
' "$pids_max" 2>/dev/null)
diag "fork loop: $n processes started (pids.max $pids_max)"
check_all "cgroup.pids: a fork loop is stopped below pids.max ($pids_max; started '$n')" \
        '[ -n "$n" ] && [ "$n" -lt "$pids_max" ]'

# memory.max: touching more than the limit (and less than the guest's RAM) is OOM-killed.
grep -E "MemTotal|MemAvailable" /proc/meminfo | tr -s ' ' | while read -r l; do diag "$l"; done
want=$((mem_mib + mem_mib / 8))
python3 -c "x = b'a' * ($want << 20)" 2>/dev/null
rc=$?
check "cgroup.memory: touching ${want} MiB with memory.max ${mem_mib} MiB is OOM-killed (rc $rc)" \
        [ "$rc" = 137 ]

echo "MID $(cat /etc/machine-id)"
echo "BOOTID $(cat /proc/sys/kernel/random/boot_id)"
echo DONE
