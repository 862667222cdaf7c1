#!/bin/bash
# SPDX-License-Identifier: MIT
# The system tier's network: outbound at launch: `moat run -p <command-mode profile> -- /bin/true`
# on the busybox test image with network: outbound (the listener made in the container's
# network namespace, the proxy forked) vs the same profile with network: none, alternated
# (A B A B ...), as the calling user (root: range map, else single-uid map). Nothing is sent:
# /bin/true opens no connection, so no test bed is needed; the proxy needs a nameserver in
# /etc/resolv.conf to start. Prints median, p90, min of each and the median of the per-pair
# differences. Never fails on time; exits non-zero only when a run does not work at all.
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
ms() { local a b; a=$(date +%s%N); "$moat" run -q -p "$1" -- /bin/true; b=$(date +%s%N); echo $(((b - a) / 1000)); }
: >"$t/none.us"
: >"$t/out.us"
for _ in $(seq "$runs"); do
        ms "$t/none.yaml" >>"$t/none.us"
        ms "$t/out.yaml" >>"$t/out.us"
done
python3 - "$t/none.us" "$t/out.us" "$runs" "$(id -un)" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import statistics, sys
none = [int(x) / 1000 for x in open(sys.argv[1])]
out = [int(x) / 1000 for x in open(sys.argv[2])]
def q(v, p): s = sorted(v); return s[min(len(s) - 1, int(p * len(s)))]
print("system tier, command mode, /bin/true, %s, n=%s alternated pairs, load %s" % (sys.argv[4], sys.argv[3], sys.argv[5]))
for name, v in (("network: none", none), ("network: outbound", out)):
    print("  %-18s median %6.2f ms  p90 %6.2f  min %6.2f" % (name, statistics.median(v), q(v, 0.9), min(v)))
d = [b - a for a, b in zip(none, out)]
print("  outbound - none:   %+.2f ms (medians), %+.2f ms (median of the per-pair differences)" %
      (statistics.median(out) - statistics.median(none), statistics.median(d)))
PY
