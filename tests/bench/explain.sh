#!/bin/bash
# SPDX-License-Identifier: MIT
# How long `moat explain -p ci-untrusted` takes: parse the profile and its extends chain,
# load the policy, probe the host, resolve the plan, print it. This is moat's fixed cost
# before every run. Median of 200 runs (hyperfine if installed, else a date +%s%N loop).
# Target: < 5 ms. Prints figures; never fails on time (exit 1 only if explain itself fails).
#
#   bash tests/bench/explain.sh [PROFILE]          MOAT=path/to/moat to pick a binary
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MOAT=${MOAT:-$src/build/moat}
profile=${1:-ci-untrusted}
runs=${MOAT_BENCH_RUNS:-200}
target_ms=5

if [[ ! -x $MOAT ]]; then
        echo "explain bench: no moat binary at $MOAT (build it, or set MOAT=)" >&2
        exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MOAT_DATA_DIR=${MOAT_DATA_DIR:-$src}
export HOME=$tmp XDG_CONFIG_HOME=$tmp/config XDG_CACHE_HOME=$tmp/cache XDG_STATE_HOME=$tmp/state
export MOAT_AUDIT_LOG=$tmp/audit.jsonl

if ! "$MOAT" explain -p "$profile" >"$tmp/plan.txt" 2>&1; then
        echo "explain bench: moat explain -p $profile fails:" >&2
        cat "$tmp/plan.txt" >&2
        exit 1
fi

# median_ms OUT_VAR COMMAND... : median wall time in ms over $runs runs.
# shellcheck disable=SC2034,SC2154 # ret is a nameref to the caller's variable
median_ms() {
        local -n ret=$1
        shift
        if command -v hyperfine >/dev/null; then
                tool=hyperfine
                hyperfine -N --warmup 10 --runs "$runs" --export-json "$tmp/h.json" "$*" \
                        >/dev/null 2>&1
                read -r ret mean min max stddev < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"][0]
print(*(f"{r[k] * 1000:.3f}" for k in ("median", "mean", "min", "max", "stddev")))
' "$tmp/h.json")
        else
                tool="date +%s%N loop"
                for ((i = 0; i < runs; i++)); do
                        t0=$(date +%s%N)
                        "$@" >/dev/null 2>&1
                        t1=$(date +%s%N)
                        echo $(((t1 - t0) / 1000))
                done >"$tmp/us.txt"
                read -r ret mean min max stddev < <(python3 -c '
import statistics, sys
v = [int(x) / 1000 for x in open(sys.argv[1])]
print(*(f"{x:.3f}" for x in (statistics.median(v), statistics.mean(v), min(v), max(v),
                              statistics.pstdev(v))))
' "$tmp/us.txt")
        fi
}

# Process start alone (exec, dynamic linking of every library moat links, constructors):
# the floor under every moat command, measured so the explain work itself shows.
start_median="" median=""
median_ms start_median "$MOAT" --version
median_ms median "$MOAT" explain -p "$profile"

# shellcheck disable=SC2154 # set through median_ms's nameref
verdict=$(python3 -c "import sys; print('within' if float(sys.argv[1]) < $target_ms else 'ABOVE')" "$median")
echo "explain bench: moat explain -p $profile, $runs runs ($tool)"
echo "  median ${median} ms  mean ${mean} ms  min ${min} ms  max ${max} ms  stddev ${stddev} ms"
echo "  process start alone (moat --version, median): ${start_median} ms;" \
        "$(ldd "$MOAT" 2>/dev/null | grep -c '=>') shared libraries"
echo "  target < ${target_ms} ms: ${verdict} target"
exit 0
