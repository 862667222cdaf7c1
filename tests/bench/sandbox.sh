#!/bin/bash
# SPDX-License-Identifier: MIT
# The sandbox tier against bubblewrap, in one run with the pairs alternated so both see the same
# machine load:
#   1. launch: wall and CPU time of `moat run -p minimal -- /bin/true` vs an equivalent bwrap
#      (median, p90, ratio moat/bwrap; target <= 1.0, aim 0.8);
#   2. the same with cgroup limits on (root: cgroup v1 memory + pids + cpu);
#   3. memory per sandbox with N concurrent `sleep` sandboxes (PSS and RSS of moat + its init,
#      bwrap + its child), per sandbox;
#   4. a getpid/stat loop inside the sandbox vs bare (target <= 1.03x).
# Prints figures; never fails on time (exit 1 only if a tool is missing or a run fails).
#
#   bash tests/bench/sandbox.sh      MOAT=path/to/moat  MOAT_BENCH_RUNS=200  MOAT_BENCH_CONCURRENT=200
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MOAT=${MOAT:-$src/build/moat}
runs=${MOAT_BENCH_RUNS:-200}
concurrent=${MOAT_BENCH_CONCURRENT:-200}

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

cat >"$tmp/limits.yaml" <<'YAML'
moat: 1
name: bench-limits
extends: minimal
resources:
  memory: 512MiB
  pids: 256
  cpus: 1
  enforce: required
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

# 1 + 2: alternated pairs, wall from a monotonic clock, CPU from wait4's rusage (the process
# and everything it reaped: moat's init and the workload; bwrap's child and the workload).
python3 - "$runs" "$MOAT" "$tmp/limits.yaml" "${BWRAP[@]}" <<'PY'
import os, sys, time
runs = int(sys.argv[1]); moat = sys.argv[2]; limits = sys.argv[3]; bwrap = sys.argv[4:]

def one(argv):
    t0 = time.perf_counter_ns()
    pid = os.posix_spawnp(argv[0], argv, os.environ)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter_ns() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"sandbox bench: {argv[:4]} failed")
    return wall / 1e6, (ru.ru_utime + ru.ru_stime) * 1e3

def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]

def report(title, a_name, a, b_name, b):
    print(f"\n{title} (n={runs} alternated pairs)")
    print(f"  {'':28} {'wall median':>12} {'wall p90':>10} {'cpu median':>11} {'cpu p90':>9}")
    for name, v in ((a_name, a), (b_name, b)):
        w = [x[0] for x in v]; c = [x[1] for x in v]
        print(f"  {name:28} {pct(w,50):10.2f}ms {pct(w,90):8.2f}ms {pct(c,50):9.2f}ms {pct(c,90):7.2f}ms")
    ratio_w = pct([x[0] for x in a], 50) / pct([x[0] for x in b], 50)
    ratio_c = pct([x[1] for x in a], 50) / max(pct([x[1] for x in b], 50), 1e-9)
    print(f"  ratio moat/bwrap (medians): wall {ratio_w:.2f}, cpu {ratio_c:.2f}   (target <= 1.0, aim 0.8)")

moat_true = [moat, "run", "-p", "minimal", "--", "/bin/true"]
moat_version = [moat, "--version"]
moat_lim = [moat, "run", "-p", limits, "--", "/bin/true"]
bw = [*bwrap, "/bin/true"]
m, l, b, v = [], [], [], []
devnull = os.open(os.devnull, os.O_WRONLY)
saved = os.dup(1)
for i in range(runs):
    # rotate the order so no variant always runs first
    order = [(m, moat_true), (l, moat_lim), (b, bw), (v, moat_version)]
    order = order[i % 4:] + order[:i % 4]
    os.dup2(devnull, 1)
    for acc, argv in order:
        acc.append(one(argv))
    os.dup2(saved, 1)
report("1. launch: /bin/true", "moat run -p minimal", m, "bwrap --unshare-all", b)
w = sorted(x[0] for x in v); cp = sorted(x[1] for x in v)
print(f"  of which binary start-up alone (moat --version): wall median {pct(w,50):.2f}ms, cpu median {pct(cp,50):.2f}ms")
if os.getuid() == 0:
    report("2. launch with cgroup limits (memory, pids, cpu)", "moat run (limits)", l, "bwrap --unshare-all", b)
else:
    report("2. launch with resource limits (mechanism per plan)", "moat run (limits)", l, "bwrap --unshare-all", b)
PY

# 3: memory per sandbox, N concurrent sleepers of each kind in turn.
measure_memory() { # NAME COMM COMMAND...
        local name=$1 comm=$2
        shift 2
        local pids=() i marker="777.$$"
        for ((i = 0; i < concurrent; i++)); do
                "$@" sleep "$marker" </dev/null >/dev/null 2>&1 &
                pids+=($!)
        done
        # wait until every sandbox runs its sleep
        for _ in $(seq 600); do
                [ "$(pgrep -xfc "sleep $marker")" -ge "$concurrent" ] && break
                sleep 0.2
        done
        python3 - "$comm" "$concurrent" "$name" "${pids[@]}" <<'PY'
import os, sys
comm, n, name, roots = sys.argv[1], int(sys.argv[2]), sys.argv[3], [int(p) for p in sys.argv[4:]]
children = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d))
        except OSError:
            pass
pss = rss = procs = 0
stack = list(roots)
while stack:
    p = stack.pop()
    stack += children.get(p, [])
    try:
        if open(f"/proc/{p}/comm").read().strip() != comm:
            continue
        for line in open(f"/proc/{p}/smaps_rollup"):
            k, v = line.split(":", 1)[0], line.split()[1] if ":" in line else None
            if k == "Pss":
                pss += int(v)
            elif k == "Rss":
                rss += int(v)
        procs += 1
    except OSError:
        pass
print(f"  {name:28} {procs:4d} {comm} processes  PSS {pss/n/1024:6.2f} MiB/sandbox  RSS {rss/n/1024:6.2f} MiB/sandbox")
PY
        kill -TERM "${pids[@]}" 2>/dev/null
        wait "${pids[@]}" 2>/dev/null
}
echo
echo "3. memory per sandbox, $concurrent concurrent 'sleep' sandboxes (launcher + its init)"
measure_memory "moat run -p minimal" "$(basename "$MOAT" | cut -c1-15)" "$MOAT" run -p minimal --
measure_memory "bwrap --unshare-all" bwrap "${BWRAP[@]}"

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
