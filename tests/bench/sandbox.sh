#!/bin/bash
# SPDX-License-Identifier: MIT
# The sandbox tier against bubblewrap, in one run with the pairs alternated so both see the same
# machine load (the targets are those of #17):
#   0. figures that do not depend on the load: user-space instructions of parse + resolve
#      (callgrind, profile_load + policy_load + plan_resolve for `-p minimal` on this host's
#      recorded facts), of a whole `moat explain -p minimal` and of `moat run` up to its clone3
#      (run_context_load + sandbox_execute); system calls per launch of moat
#      and of bwrap (strace -f -c), with the kinds moat makes most of. A regression shows here
#      on a busy machine where wall times are noise. Skipped (not failed) without valgrind or
#      strace;
#   1. launch: wall and CPU time of `moat run -p minimal -- /bin/true` vs an equivalent bwrap
#      (median, p90, ratio moat/bwrap; target <= 0.8; the CPU of each whole process tree, and
#      beside it the wall until every process of the run is gone: bwrap exits before its pid 1
#      has ended), with what `moat --version` alone and the
#      audit record's fdatasync (a run with MOAT_AUDIT_FSYNC=0 beside it) take of it: the sync
#      waits for the disk and its journal, so it grows with the machine's other writes;
#   2. the same with cgroup limits on (root: cgroup v1 memory + pids + cpu; target <= 1.0);
#   3. memory per sandbox with N concurrent `sleep` sandboxes: user-space PSS and RSS of moat +
#      its init, bwrap + its child; and whole system (drop in MemAvailable, minus a plain sleep's,
#      with the kernel's share), beside the floor of the namespaces alone (ns-floor.c): the
#      figure is the cost above that floor, moat's against bwrap's (target <= 0.7 at N=1000);
#   4. a getppid/stat loop inside the sandbox vs bare (target <= 1.03x).
# Prints figures; never fails on time (exit 1 only if a tool is missing or a run fails).
#
#   bash tests/bench/sandbox.sh      MOAT=path/to/moat  MOAT_BENCH_RUNS=200  MOAT_BENCH_CONCURRENT=1000
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MOAT=${MOAT:-$src/build/moat}
runs=${MOAT_BENCH_RUNS:-200}
concurrent=${MOAT_BENCH_CONCURRENT:-1000}

for tool in bwrap python3 cc; do
        command -v $tool >/dev/null || { echo "sandbox bench: $tool is not installed" >&2; exit 1; }
done
if [[ ! -x $MOAT ]]; then
        echo "sandbox bench: no moat binary at $MOAT (build it, or set MOAT=)" >&2
        exit 1
fi
tmp=$(mktemp -d)
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
export MOAT_DATA_DIR=${MOAT_DATA_DIR:-$src}
export HOME=$tmp XDG_CONFIG_HOME=$tmp/config XDG_CACHE_HOME=$tmp/cache XDG_STATE_HOME=$tmp/state
export MOAT_AUDIT_LOG=$tmp/audit.jsonl
mkdir -p "$tmp/work"
cd "$tmp/work" || exit 1

BWRAP=(bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/lib /lib
        --symlink usr/lib64 /lib64 --symlink usr/bin /bin --proc /proc --dev /dev --tmpfs /tmp)

# Root gets cgroups here; an unprivileged user on a host without a delegated cgroup gets
# rlimits, which only a best-effort profile accepts (required would escalate to the vm tier).
enforce=required
[ "$(id -u)" = 0 ] || enforce=best-effort
cat >"$tmp/limits.yaml" <<YAML
moat: 1
name: bench-limits
extends: minimal
resources:
  memory: 512MiB
  pids: 256
  cpus: 1
  enforce: $enforce
YAML

for p in minimal "$tmp/limits.yaml"; do
        if ! "$MOAT" run -p "$p" -- /bin/true 2>"$tmp/err"; then
                echo "sandbox bench: moat run -p $p fails:" >&2
                cat "$tmp/err" >&2
                exit 1
        fi
done
"${BWRAP[@]}" /bin/true || { echo "sandbox bench: bwrap fails" >&2; exit 1; }

echo "sandbox bench: $(uname -r), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg), uid $(id -u)"

# 0: deterministic figures (instruction and system call counts), stable under load
echo
echo "0. counts that do not depend on the machine's load"
if command -v valgrind >/dev/null; then
        # On this host's recorded facts: under valgrind the live probe would see no Landlock
        # (valgrind does not know the call), and the plan would not be this host's.
        if "$MOAT" host --json >"$tmp/host.json" 2>"$tmp/err"; then
                ir() { # LABEL OUTFILE VALGRIND-ARGS... -- COMMAND...: the Ir total of the dump
                        local label=$1 out=$2
                        shift 2
                        if valgrind --tool=callgrind --callgrind-out-file="$out" "$@" \
                                >/dev/null 2>"$tmp/vg.err"; then
                                printf "  %-54s %10s instructions\n" "$label" \
                                        "$(sed -n 's/^summary: //p' "$out")"
                        else
                                echo "  $label: callgrind failed: $(tail -1 "$tmp/vg.err")"
                        fi
                }
                ir "parse + resolve (profile, policy, plan; callgrind)" "$tmp/cg.resolve" \
                        --toggle-collect=profile_load --toggle-collect=policy_load \
                        --toggle-collect=plan_resolve \
                        "$MOAT" explain --host-facts "$tmp/host.json" -p minimal
                ir "moat explain -p minimal, whole process (callgrind)" "$tmp/cg.explain" \
                        "$MOAT" explain --host-facts "$tmp/host.json" -p minimal
                # The launcher's own work before the sandbox exists (inputs, plan, seccomp
                # program, the executor's set-up up to clone3, which valgrind does not emulate:
                # the run stops there, so its exit status is not looked at).
                valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.run" \
                        --toggle-collect=run_context_load --toggle-collect=sandbox_execute \
                        "$MOAT" run --audit-log "$tmp/vg-audit.jsonl" --host-facts "$tmp/host.json" \
                        -p minimal -- /bin/true >/dev/null 2>"$tmp/vg.err"
                if [[ -s $tmp/cg.run ]]; then
                        printf "  %-54s %10s instructions\n" "moat run up to its clone3 (callgrind)" \
                                "$(sed -n 's/^summary: //p' "$tmp/cg.run")"
                fi
        else
                echo "  (instruction counts left out: moat host --json failed: $(head -c 200 "$tmp/err"))"
        fi
else
        echo "  (instruction counts left out: valgrind is not installed)"
fi
if command -v strace >/dev/null; then
        syscalls() { # COMMAND...: "total kind:count ..." of strace -f -c
                strace -f -c -o "$tmp/strace.out" "$@" >/dev/null 2>&1 || return 1
                awk '$1 ~ /^[0-9.]+$/ && NF >= 5 { n[$NF] = $4 }
                        END { printf "%s", n["total"]; for (k in n) if (k != "total") printf " %s:%s", k, n[k]; print "" }' "$tmp/strace.out"
        }
        m=$(syscalls "$MOAT" run -p minimal -- /bin/true) && b=$(syscalls "${BWRAP[@]}" /bin/true) &&
                python3 - "$m" "$b" <<'PY'
import sys
def parse(s):
    f = s.split()
    return int(f[0]), {k: int(v) for k, v in (x.rsplit(":", 1) for x in f[1:])}
(mt, m), (bt, b) = parse(sys.argv[1]), parse(sys.argv[2])
print(f"  system calls per launch (strace -f -c): moat {mt}, bwrap {bt} ({mt / bt:.2f}x)")
top = sorted(m, key=lambda k: -m[k])[:8]
print("    moat's most: " + ", ".join(f"{k} {m[k]}" for k in top))
print("    bwrap's:     " + ", ".join(f"{k} {b.get(k, 0)}" for k in top))
PY
        [[ -n ${m:-} && -n ${b:-} ]] || echo "  (system call counts left out: strace failed)"
        # who makes them: moat itself (profile, policy, host probe, audit; its scratch threads
        # counted with it), its init (the sandbox's setup), the workload (/bin/true's own start)
        if strace -f -qq -o "$tmp/strace.ff" "$MOAT" run -p minimal -- /bin/true >/dev/null 2>&1; then
                # a thread (clone3 with CLONE_THREAD, its result on this line or on the resumed
                # one) is counted with the process that made it: its owners are read in a
                # first pass, since strace may print a thread's first call before its creator's
                # clone3 returns
                awk 'function group(p) { while (p in owner) p = owner[p]; return p }
                        NR == FNR { if (/clone3\(.*CLONE_THREAD/) pending[$1] = 1
                                    if (pending[$1] && / = [0-9]+$/ && /clone3/) {
                                            owner[$NF] = $1; delete pending[$1] }
                                    next }
                        $2 !~ /^(<\.\.\.|\+\+\+|---)/ { g = group($1); if (!(g in n)) order[k++] = g; n[g]++ }
                        END { printf "    of moat'"'"'s: moat itself %d, its init %d, the workload %d\n",
                                n[order[0]], n[order[1]], n[order[2]] }' "$tmp/strace.ff" "$tmp/strace.ff"
        fi
else
        echo "  (system call counts left out: strace is not installed)"
fi

# 1 + 2: alternated pairs, wall from a monotonic clock until the launcher exits (the target's
# figure), CPU from wait4's rusage of the whole tree, and the wall until every process of the
# run is gone. This harness is a child subreaper: bwrap's parent exits once its pid 1 reports
# the workload's status, without waiting for pid 1's own end (the sandbox's mounts torn down,
# the pid namespace's other processes killed), so pid 1 is reparented here and reaped here,
# its CPU (and that of the workload it reaped) counted with bwrap's. moat reaps its init before
# it exits: nothing of its run is left to reap.
python3 - "$runs" "$MOAT" "$tmp/limits.yaml" "${BWRAP[@]}" <<'PY'
import ctypes, os, sys, time
runs = int(sys.argv[1]); moat = sys.argv[2]; limits = sys.argv[3]; bwrap = sys.argv[4:]
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("sandbox bench: cannot become a child subreaper")

def one(argv, env=None):
    t0 = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, env or os.environ)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter_ns() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"sandbox bench: {argv[:4]} failed")
    cpu = ru.ru_utime + ru.ru_stime
    while True:  # what the launcher left to its subreaper
        try:
            _, _, ru = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu += ru.ru_utime + ru.ru_stime
    gone = time.perf_counter_ns() - t0
    return wall / 1e6, cpu * 1e3, gone / 1e6

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def report(title, a_name, a, b_name, b, target):
    print(f"\n{title} (n={runs} alternated pairs)")
    print(f"  {'':28} {'wall median':>12} {'wall p90':>10} {'cpu median':>11} {'cpu p90':>9}")
    for name, v in ((a_name, a), (b_name, b)):
        w = [x[0] for x in v]; c = [x[1] for x in v]
        print(f"  {name:28} {pct(w,50):10.2f}ms {pct(w,90):8.2f}ms {pct(c,50):9.2f}ms {pct(c,90):7.2f}ms")
    ratio_w = pct([x[0] for x in a], 50) / pct([x[0] for x in b], 50)
    ratio_c = pct([x[1] for x in a], 50) / max(pct([x[1] for x in b], 50), 1e-9)
    print(f"  ratio moat/bwrap (medians): wall {ratio_w:.2f}, cpu {ratio_c:.2f}   (target <= {target})")
    ga, gb = pct([x[2] for x in a], 50), pct([x[2] for x in b], 50)
    print(f"  wall until every process of the run is gone (medians): moat {ga:.2f}ms, bwrap {gb:.2f}ms:"
          f" {ga / gb:.2f}x")

moat_true = [moat, "run", "-p", "minimal", "--", "/bin/true"]
moat_version = [moat, "--version"]
moat_lim = [moat, "run", "-p", limits, "--", "/bin/true"]
bw = [*bwrap, "/bin/true"]
nosync = dict(os.environ, MOAT_AUDIT_FSYNC="0")
m, l, b, v, ns = [], [], [], [], []
devnull = os.open(os.devnull, os.O_WRONLY)
saved = os.dup(1)
for i in range(runs):
    # rotate the order so no variant always runs first
    order = [(m, moat_true, None), (l, moat_lim, None), (b, bw, None), (v, moat_version, None),
             (ns, moat_true, nosync)]
    order = order[i % 5:] + order[:i % 5]
    os.dup2(devnull, 1)
    for acc, argv, env in order:
        acc.append(one(argv, env))
    os.dup2(saved, 1)
report("1. launch: /bin/true", "moat run -p minimal", m, "bwrap --unshare-all", b, 0.8)
w = sorted(x[0] for x in v); cp = sorted(x[1] for x in v)
print(f"  of which binary start-up alone (moat --version): wall median {pct(w,50):.2f}ms, cpu median {pct(cp,50):.2f}ms")
w = sorted(x[0] for x in ns)
print(f"  without the audit record's fdatasync (MOAT_AUDIT_FSYNC=0): wall median {pct(w,50):.2f}ms;"
      f" the sync: {pct([x[0] for x in m],50) - pct(w,50):.2f}ms here")
if os.getuid() == 0:
    report("2. launch with cgroup limits (memory, pids, cpu)", "moat run (limits)", l, "bwrap --unshare-all", b, 1.0)
else:
    report("2. launch with resource limits (mechanism per plan)", "moat run (limits)", l, "bwrap --unshare-all", b, 1.0)
PY

# 3: memory per sandbox. N concurrent sleepers of each kind in turn: N plain `sleep`s (the
# baseline), then N moat sandboxes, then N bwrap sandboxes, each round started only once the
# previous one is entirely gone. Per sandbox:
#   a. user space: PSS and RSS (smaps_rollup) of the launcher tree without the workload;
#   b. whole system: the drop in MemAvailable from just before starting the N to when all N
#      run, minus the same for a plain sleep, so what the sandboxing adds, kernel included
#      (page tables, kernel stacks, namespaces, mounts, task structs); with the /proc/meminfo
#      deltas that show where it goes. Each reading is the median of 3 samples a second apart
#      (caches are not dropped).
mem_fields=(MemAvailable AnonPages Slab SUnreclaim KernelStack PageTables Percpu)
meminfo_samples() { # FILE: 3 lines of mem_fields values (KiB), a second apart
        local i k v rest line
        local -A m
        for i in 1 2 3; do
                ((i > 1)) && sleep 1
                while read -r k v rest; do m[${k%:}]=$v; done </proc/meminfo
                line=()
                for k in "${mem_fields[@]}"; do line+=("${m[$k]:-0}"); done
                echo "${line[*]}" >>"$1"
        done
}
kernel_settle() { # until the kernel's own memory stops shrinking (namespaces, notably network
        # ones, are torn down asynchronously after their last process): at most 60 s
        local i k v rest now last=-1
        for ((i = 0; i < 60; i++)); do
                now=0
                while read -r k v rest; do
                        case $k in SUnreclaim: | Percpu: | KernelStack: | PageTables:) now=$((now + v)) ;; esac
                done </proc/meminfo
                ((last >= 0 && last - now < 1024)) && return 0
                last=$now
                sleep 1
        done
}
round_pids=() # launchers (or plain sleeps) of the running round, ended on any exit
trap 'kill -TERM "${round_pids[@]}" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mem_round() { # KEY MARKER COMM COMMAND... (no COMMAND: plain sleep)
        local key=$1 marker=$2 comm=$3 i up=0 alive t0 t left
        shift 3
        : >"$tmp/err.$key"
        kernel_settle
        meminfo_samples "$tmp/mem.$key.before"
        round_pids=()
        t0=$EPOCHREALTIME
        for ((i = 0; i < concurrent; i++)); do
                "$@" sleep "$marker" </dev/null >/dev/null 2>>"$tmp/err.$key" &
                round_pids+=($!)
        done
        # wait until every sleeper runs: stop early if launchers exited and all the others are
        # up, give up after a generous timeout (2 min + 1/4 s per sleeper)
        while :; do
                up=$(pgrep -xfc -- "sleep $marker")
                ((up >= concurrent)) && break
                alive=$(jobs -rp | wc -l)
                ((alive < concurrent && up >= alive)) && break
                t=$((${EPOCHREALTIME/./} - ${t0/./}))
                ((t >= (120 + concurrent / 4) * 1000000)) && break
                sleep 0.5
        done
        t=$(((${EPOCHREALTIME/./} - ${t0/./}) / 100000))
        t=$((t / 10)).$((t % 10))
        echo "$up $t" >"$tmp/up.$key"
        meminfo_samples "$tmp/mem.$key.after"
        python3 - "$comm" "$tmp/tree.$key" "${round_pids[@]}" >"$tmp/pss.$key" <<'PY'
import os, sys
comm, tree, roots = sys.argv[1], open(sys.argv[2], "w"), [int(p) for p in sys.argv[3:]]
children, start = {}, {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            stat = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
            children.setdefault(int(stat[1]), []).append(int(d))
            start[int(d)] = stat[19]
        except OSError:
            pass
# moat's init runs in moat's own address space (CLONE_VM): smaps of either process shows the
# whole of it, so an address space is counted once, through its first process (kcmp KCMP_VM).
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def same_vm(a, b):
    return libc.syscall(312, a, b, 1, 0, 0) == 0  # kcmp(a, b, KCMP_VM)
pss = rss = procs = unreadable = 0
counted = []
stack = list(roots)
while stack:
    p = stack.pop()
    kids = children.get(p, [])
    stack += kids
    print(p, start.get(p, "?"), file=tree)  # the whole tree, for the settling below
    try:
        if open(f"/proc/{p}/comm").read().strip() != comm:
            continue
    except OSError:
        continue
    if any(same_vm(q, p) for q in counted[-4:]):
        continue
    counted.append(p)
    try:
        for line in open(f"/proc/{p}/smaps_rollup"):
            f = line.split()
            if f[0] == "Pss:":
                pss += int(f[1])
            elif f[0] == "Rss:":
                rss += int(f[1])
        procs += 1
    except PermissionError:  # a non-dumpable process, unless we are root
        unreadable += 1
    except (OSError, IndexError):
        pass
print(procs, pss, rss, unreadable)
PY
        if ((up < concurrent)); then
                echo "  $key: only $up of $concurrent sleepers came up (after ${t}s); measuring those" >&2
                sort "$tmp/err.$key" | uniq -c | sort -rn | head -5 | sed 's/^/    /' >&2
                echo "    limits: pid_max $(cat /proc/sys/kernel/pid_max), threads-max $(cat /proc/sys/kernel/threads-max)," \
                        "ulimit -u $(ulimit -u), max_user_namespaces $(cat /proc/sys/user/max_user_namespaces 2>/dev/null)," \
                        "max_mnt_namespaces $(cat /proc/sys/user/max_mnt_namespaces 2>/dev/null)," \
                        "max_pid_namespaces $(cat /proc/sys/user/max_pid_namespaces 2>/dev/null)," \
                        "max_net_namespaces $(cat /proc/sys/user/max_net_namespaces 2>/dev/null)" >&2
        fi
        # end the round: SIGTERM to the launchers only (moat forwards it to the workload; bwrap's
        # child has --die-with-parent), SIGKILL to any still there after 60 s, then reap them
        kill -TERM "${round_pids[@]}" 2>/dev/null
        for ((i = 0; i < 600; i++)); do
                [[ -z $(jobs -rp) ]] && break
                sleep 0.1
        done
        left=$(jobs -rp)
        if [[ -n $left ]]; then
                echo "  $key: $(wc -w <<<"$left") launchers still there 60 s after SIGTERM; SIGKILL" >&2
                kill -KILL $left 2>/dev/null
        fi
        wait "${round_pids[@]}" 2>/dev/null
        round_pids=()
        # settle: every process of the round gone, zombies included (a namespace's pid 1 is
        # reaped by the host's init once the launcher is gone), and no sleeper left
        python3 - "$tmp/tree.$key" "$key" <<'PY'
import sys, time
tree = [l.split() for l in open(sys.argv[1])]
def alive(pid, start):
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[19] == start
    except (OSError, IndexError):
        return False
deadline = time.monotonic() + 60
while True:
    left = [p for p, st in tree if alive(p, st)]
    if not left:
        break
    if time.monotonic() > deadline:
        print(f"  {sys.argv[2]}: {len(left)} processes of the round still there 60 s after its end",
              file=sys.stderr)
        break
    time.sleep(0.1)
PY
        for ((i = 0; i < 600; i++)); do
                pgrep -f -- "$marker" >/dev/null || break
                sleep 0.1
        done
        if pgrep -f -- "$marker" >/dev/null; then
                echo "  $key: $(pgrep -fc -- "$marker") processes of the round still there 60 s after its end" >&2
        fi
}
echo
echo "3. memory per sandbox, $concurrent concurrent 'sleep' sandboxes (baseline: $concurrent plain sleeps)"
t3=$SECONDS
running=(/proc/[0-9]*)
if ((3 * concurrent + ${#running[@]} > $(cat /proc/sys/kernel/pid_max))); then
        echo "  warning: $((3 * concurrent)) processes may exceed pid_max $(cat /proc/sys/kernel/pid_max)" >&2
fi
floor=()
if cc -O2 -static -o "$tmp/ns-floor" "$src/tests/bench/ns-floor.c" 2>"$tmp/floor.err" &&
        "$tmp/ns-floor" /bin/true 2>>"$tmp/floor.err"; then
        floor=("$tmp/ns-floor")
else
        echo "  (the namespace floor is left out: $(head -c 200 "$tmp/floor.err"))" >&2
fi
mem_round sleep "86401.$$" sleep
mem_round moat "86402.$$" "$(basename "$MOAT" | cut -c1-15)" "$MOAT" run -p minimal --
mem_round bwrap "86403.$$" bwrap "${BWRAP[@]}"
((${#floor[@]})) && mem_round floor "86404.$$" ns-floor "${floor[@]}"
trap 'rm -rf "$tmp"' EXIT
trap - INT TERM
python3 - "$tmp" "$concurrent" $((SECONDS - t3)) "${mem_fields[@]}" <<'PY'
import statistics, sys
tmp, n, took, fields = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
names = {"sleep": "plain sleep", "moat": "moat run -p minimal", "bwrap": "bwrap --unshare-all"}
import os
if os.path.exists(f"{tmp}/up.floor"):
    names["floor"] = "namespaces alone (floor)"

def readings(key, when):
    rows = [[int(x) for x in l.split()] for l in open(f"{tmp}/mem.{key}.{when}") if l.strip()]
    med = {f: statistics.median(r[i] for r in rows) for i, f in enumerate(fields)}
    spread = max(r[0] for r in rows) - min(r[0] for r in rows)  # MemAvailable
    return med, spread

r = {}
for key in names:
    up, secs = open(f"{tmp}/up.{key}").read().split()
    procs, pss, rss, unreadable = (int(x) for x in open(f"{tmp}/pss.{key}").read().split())
    (b, sb), (a, sa) = readings(key, "before"), readings(key, "after")
    up = int(up)
    d = {f: (b[f] - a[f]) if f == "MemAvailable" else (a[f] - b[f]) for f in fields}
    per = {f: d[f] / up if up else float("nan") for f in fields}
    r[key] = dict(up=up, secs=secs, procs=procs, pss=pss, rss=rss, unreadable=unreadable, per=per,
                  noise=(sb + sa) / up if up else float("nan"))

print("  started: " + ", ".join(f"{names[k]} {r[k]['up']}/{n} up in {r[k]['secs']} s" for k in names))
print("  a. user space, launcher tree without the workload (smaps_rollup), per sandbox")
print(f"     {'':26} {'processes':>9} {'PSS':>10} {'RSS':>10}")
for k in ("moat", "bwrap"):
    x = r[k]; u = max(x["up"], 1)
    if x["unreadable"]:
        print(f"     {names[k]:26} {x['procs']:9d}  n/a: {x['unreadable']} processes are non-dumpable,"
              " their smaps_rollup is for root only")
    else:
        print(f"     {names[k]:26} {x['procs']:9d} {x['pss']/u:6.0f} KiB {x['rss']/u:6.0f} KiB")
print("  b. whole system, per sandbox: /proc/meminfo deltas from before the start to all up,")
print("     minus a plain sleep's (median of 3 samples 1 s apart; MemAvailable = the drop; noise =")
print("     the spread of those MemAvailable samples, per sandbox)")
short = {"MemAvailable": "MemAvail", "AnonPages": "Anon", "Slab": "Slab", "SUnreclaim": "(unrecl)",
         "KernelStack": "KStack", "PageTables": "PgTables", "Percpu": "Percpu"}
print(f"     {'':26} " + " ".join(f"{short[f]:>8}" for f in fields) + "    noise")
s = r["sleep"]["per"]
for k in [k for k in ("moat", "bwrap", "floor") if k in r]:
    x = r[k]
    print(f"     {names[k]:26} " + " ".join(f"{x['per'][f] - s[f]:8.0f}" for f in fields)
          + f"  +-{x['noise'] + r['sleep']['noise']:4.0f}   KiB")
x = r["sleep"]
print(f"     {'plain sleep itself (raw)':26} " + " ".join(f"{s[f]:8.0f}" for f in fields)
      + f"  +-{x['noise']:4.0f}   KiB")
if "floor" in r:
    fl = r["floor"]["per"]["MemAvailable"]
    above = {k: r[k]["per"]["MemAvailable"] - fl for k in ("moat", "bwrap")}
    ratio = above["moat"] / above["bwrap"] if above["bwrap"] > 0 else float("nan")
    print(f"  above the namespace floor (MemAvail): moat {above['moat']:.0f} KiB, bwrap"
          f" {above['bwrap']:.0f} KiB per sandbox: {ratio:.2f}x   (target <= 0.7 at N=1000)")
else:
    print("  (no floor: the cost above the namespace floor cannot be given)")
print(f"  section took {took} s")
if "floor" in r:
    print("  floor: tests/bench/ns-floor.c, a static launcher that makes moat's namespaces and its two")
    print("  tasks sharing one address space, and nothing else: the kernel's price, which any launcher")
    print("  of this layout pays before its mounts, filters and own memory")
PY

# 3c: the same per sandbox as charged to a memory cgroup (user pages, page tables, kernel
# stacks, slab: namespaces, mounts, filters), N of each kind in a fresh child cgroup of our own.
# Unlike MemAvailable, this does not move with what the rest of the machine does, so it is the
# figure to follow on a busy machine. Root with a memory controller (v1, or v2 delegated) only.
memcg_n=$((concurrent < 50 ? concurrent : 50))
memcg_parent=
if [ "$(id -u)" = 0 ]; then
        own=$(sed -n 's/^[0-9]*:memory://p' /proc/self/cgroup)
        if [[ -n $own && -f /sys/fs/cgroup/memory$own/memory.usage_in_bytes ]]; then
                memcg_parent=/sys/fs/cgroup/memory$own memcg_usage=memory.usage_in_bytes
        else
                own=$(sed -n 's/^0:://p' /proc/self/cgroup)
                [[ -n $own && -f /sys/fs/cgroup$own/memory.current ]] &&
                        memcg_parent=/sys/fs/cgroup$own memcg_usage=memory.current
        fi
        # v2 lets no process sit in a cgroup with children: only a leaf of our own would do
        [[ $memcg_usage == memory.current ]] && memcg_parent=
fi
memcg_round() { # KIND COMMAND...: KiB per sandbox charged to a fresh cgroup, or nothing
        local kind=$1 cg marker=$((86500 + RANDOM)) i up used
        shift
        cg=$memcg_parent/moat-bench-$kind-$$
        mkdir "$cg" 2>/dev/null || return 1
        (
                echo "$BASHPID" >"$cg/cgroup.procs" || exit 1
                for ((i = 0; i < memcg_n; i++)); do
                        "$@" sleep "$marker.$$" </dev/null >/dev/null 2>&1 &
                done
                wait
        ) &
        for ((i = 0; i < 240; i++)); do
                up=$(pgrep -xfc -- "sleep $marker.$$")
                ((up >= memcg_n)) && break
                sleep 0.5
        done
        sleep 1 # past moat's 200 ms trim
        used=$(cat "$cg/$memcg_usage")
        # end: every process of the cgroup is one we started
        kill -KILL $(cat "$cg/cgroup.procs") 2>/dev/null
        wait
        for ((i = 0; i < 100; i++)); do
                [[ -z $(cat "$cg/cgroup.procs") ]] && break
                sleep 0.2
        done
        rmdir "$cg" 2>/dev/null || { sleep 2; rmdir "$cg"; }
        echo "$up $((used / 1024 / memcg_n))"
}
if [[ -n $memcg_parent ]]; then
        echo "  c. charged to a memory cgroup of our own, per sandbox ($memcg_n of each, stable under load)"
        declare -A memcg=()
        for kind in sleep floor moat bwrap; do
                case $kind in
                sleep) cmd=() ;;
                floor) ((${#floor[@]})) || continue; cmd=("${floor[@]}") ;;
                moat) cmd=("$MOAT" run -p minimal --) ;;
                bwrap) cmd=("${BWRAP[@]}") ;;
                esac
                res=$(memcg_round "$kind" "${cmd[@]}") || continue
                memcg[$kind]=${res#* }
                printf "     %-26s %6d KiB   (%s up)\n" "$kind" "${memcg[$kind]}" "${res% *}/$memcg_n"
        done
        if [[ -n ${memcg[floor]:-} && -n ${memcg[moat]:-} && -n ${memcg[bwrap]:-} ]]; then
                python3 - "${memcg[floor]}" "${memcg[moat]}" "${memcg[bwrap]}" <<'PY'
import sys
f, m, b = (int(x) for x in sys.argv[1:])
print(f"     above the floor: moat {m - f} KiB, bwrap {b - f} KiB: {(m - f) / max(b - f, 1):.2f}x"
      "   (target <= 0.7)")
PY
        fi
else
        echo "  (c. the memory cgroup figure is left out: needs root and a cgroup v1 memory controller)"
fi

# 4: syscall cost inside vs bare
cat >"$tmp/loop.c" <<'C'
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
int main(void) {
        struct timespec a, b;
        struct stat st;
        double best = 1e9;
        for (int round = 0; round < 5; round++) {
                clock_gettime(CLOCK_MONOTONIC, &a);
                for (int i = 0; i < 200000; i++) {
                        (void) getppid();
                        (void) stat("/usr", &st);
                }
                clock_gettime(CLOCK_MONOTONIC, &b);
                double ns = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 200000.0;
                if (ns < best)
                        best = ns;
        }
        printf("%.1f\n", best);
        return 0;
}
C
cc -O2 -static -o "$tmp/work/loop" "$tmp/loop.c" 2>/dev/null || cc -O2 -o "$tmp/work/loop" "$tmp/loop.c"
cat >"$tmp/loop.yaml" <<'YAML'
moat: 1
name: bench-loop
extends: minimal
filesystem:
  bind:
    - {source: ., target: /work, mode: ro}
YAML
bare=() inside=()
for i in 1 2 3 4 5; do
        bare+=("$("$tmp/work/loop")")
        inside+=("$("$MOAT" run -p "$tmp/loop.yaml" -- /work/loop)")
done
python3 - "${bare[*]}" "${inside[*]}" <<'PY'
import sys, statistics
bare = [float(x) for x in sys.argv[1].split()]; inside = [float(x) for x in sys.argv[2].split()]
b, i = statistics.median(bare), statistics.median(inside)
print(f"\n4. getppid()+stat() per iteration (best of 5x200k, median of 5 runs)")
print(f"  bare {b:.1f} ns, in moat sandbox {i:.1f} ns: {i/b:.3f}x   (target <= 1.03x; seccomp filter + Landlock)")
PY
