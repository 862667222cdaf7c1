#!/bin/bash
# SPDX-License-Identifier: MIT
# The system tier's network: outbound at launch: `moat run -p <command-mode profile> -- /bin/true`
# on the busybox test image with network: outbound (the listener made in the container's
# network namespace, the proxy forked) vs the same profile with network: none, alternated
# (A B A B ...), as the calling user (root: range map, else single-uid map). Nothing is sent:
# /bin/true opens no connection, so no test bed is needed; the proxy needs a nameserver in
# /etc/resolv.conf to start. Prints median, p90, min of each (wall) and the median CPU time of
# moat and its waited children, and the median of the per-pair differences. Never fails on
# time; exits non-zero only when a run does not work at all.
#   MOAT_BUILD_DIR (build), MOAT_DATA_DIR (source tree), MOAT_BENCH_RUNS (30)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${MOAT_BUILD_DIR:-$src/build}
moat=$build/moat
runs=${MOAT_BENCH_RUNS:-30}
export MOAT_DATA_DIR=${MOAT_DATA_DIR:-$src}
[ -x "$build/moat-system-run" ] || { echo "system-network.sh: moat-system-run is not built" >&2; exit 1; }
t=$(mktemp -d)
chmod 0755 "$t"
trap 'chmod -R u+rwX "$t"; rm -rf "$t"' EXIT
export MOAT_IMAGE_DIR=$t/store MOAT_AUDIT_LOG=$t/audit.jsonl
"$src/tests/helpers/make-busybox-image.sh" "$t/bb.tar" >/dev/null
"$moat" image import -q bb "$t/bb.tar" >/dev/null
base='moat: 1\nname: %s\nisolation: system\nmax_tier: system\nfilesystem: {root: {image: bb}}\nos: {full_os: true, init: none}\n'
printf "$base"'network: none\n' benchnone >"$t/none.yaml"
printf "$base"'network:\n  outbound:\n    allow: [pkg.example.org]\n' benchout >"$t/out.yaml"
for p in none out; do "$moat" run -q -p "$t/$p.yaml" -- /bin/true; done # warm (image copy)
# alternated pairs; wall time and the CPU time of moat and every child it waited for (wait4's
# rusage, microseconds: less swayed by the load of a shared machine than wall time)
python3 - "$moat" "$t/none.yaml" "$t/out.yaml" "$runs" "$(id -un)" <<'PY'
import os, statistics, sys, time
moat, none_p, out_p, runs, who = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
def run(prof):
    t = time.monotonic()
    pid = os.fork()
    if pid == 0:
        fd = os.open("/dev/null", os.O_RDWR)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.execv(moat, [moat, "run", "-q", "-p", prof, "--", "/bin/true"])
    _, st, ru = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(st) != 0:
        sys.exit("system-network.sh: moat run -p %s -- /bin/true failed" % prof)
    return (time.monotonic() - t) * 1000, (ru.ru_utime + ru.ru_stime) * 1000
wall = {"none": [], "out": []}
cpu = {"none": [], "out": []}
for _ in range(runs):
    for k, prof in (("none", none_p), ("out", out_p)):
        w, c = run(prof)
        wall[k].append(w)
        cpu[k].append(c)
def q(v, p): s = sorted(v); return s[min(len(s) - 1, int(p * len(s)))]
load = open("/proc/loadavg").read().split()[0]
print("system tier, command mode, /bin/true, %s, n=%d alternated pairs, load %s" % (who, runs, load))
for k, name in (("none", "network: none"), ("out", "network: outbound")):
    print("  %-18s wall median %6.2f ms  p90 %6.2f  min %6.2f; CPU median %6.2f ms" %
          (name, statistics.median(wall[k]), q(wall[k], 0.9), min(wall[k]), statistics.median(cpu[k])))
dw = [b - a for a, b in zip(wall["none"], wall["out"])]
dc = [b - a for a, b in zip(cpu["none"], cpu["out"])]
print("  outbound - none:   wall %+.2f ms (medians), %+.2f ms (median per pair); CPU %+.2f ms (median per pair)" %
      (statistics.median(wall["out"]) - statistics.median(wall["none"]), statistics.median(dw), statistics.median(dc)))
PY
