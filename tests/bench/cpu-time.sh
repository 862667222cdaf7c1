#!/bin/bash
# SPDX-License-Identifier: MIT
# How far past resources.cpu_time a tree gets before the watcher's SIGKILL ends it: the CPU
# time the --result file reports minus the limit, for a 1 s and a 200 ms limit, one busy
# process and two (one per core of a 2-core host), through each mechanism this caller has
# (root here: cgroup v2 for cpu_time alone, v1 cpuacct with a pids limit beside it).
# Prints min / median / max over RUNS runs; never fails on time.
#
#   MOAT_BUILD_DIR=build bash tests/bench/cpu-time.sh [RUNS]
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MOAT_BUILD_DIR:-$src/build}
MOAT=${MOAT:-$build/moat}
RUNS=${1:-10}
T=$(mktemp -d /tmp/moat-bench-cpu.XXXXXX)
trap 'rm -rf "$T"' EXIT
export MOAT_DATA_DIR=$src MOAT_AUDIT_LOG=$T/audit.jsonl

profile() { # FILE CPU_TIME [EXTRA]
        printf 'moat: 1\nname: bench\nisolation: sandbox\nfilesystem:\n  root: host-readonly\nresources:\n  cpu_time: %s\n  timeout: 30s\n%s' "$2" "${3:-}" >"$1"
}

printf '%-9s %-10s %-6s %8s %8s %8s   (overshoot, ms of CPU past the limit; wall median)\n' limit mechanism procs min median max
for extra in "" "  pids: 64"; do
        for lim in 1000 200; do
                profile "$T/p.yaml" "${lim}ms" "$extra"
                mech=$("$MOAT" explain --json -p "$T/p.yaml" | jq -r .resources.mechanism)
                for procs in 1 2; do
                        if [ $procs = 1 ]; then cmd='while :; do :; done'; else cmd='sh -c "while :; do :; done" & while :; do :; done'; fi
                        : >"$T/over"
                        : >"$T/wall"
                        for _ in $(seq "$RUNS"); do
                                "$MOAT" run -q --result "$T/r.json" -p "$T/p.yaml" -- sh -c "$cmd" >/dev/null 2>&1
                                jq -r "((.cpu_user_ns + .cpu_sys_ns) / 1000000 - $lim) | floor" "$T/r.json" >>"$T/over"
                                jq -r '.wall_ns / 1000000 | floor' "$T/r.json" >>"$T/wall"
                        done
                        sort -n "$T/over" -o "$T/over"
                        sort -n "$T/wall" -o "$T/wall"
                        printf '%-9s %-10s %-6s %8s %8s %8s   wall %s ms\n' "${lim} ms" "$mech" $procs \
                                "$(head -1 "$T/over")" "$(sed -n "$(((RUNS + 1) / 2))p" "$T/over")" \
                                "$(tail -1 "$T/over")" "$(sed -n "$(((RUNS + 1) / 2))p" "$T/wall")"
                done
        done
done
