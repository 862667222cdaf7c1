#!/bin/bash
# SPDX-License-Identifier: MIT
# Cost of probing the host: in process (host_facts_probe() alone, from the unit test that
# loops over it) and end to end (`moat host --json`: exec, dynamic linking, probe, JSON).
# Prints figures; never fails on time.
#   MOAT_BUILD_DIR=build tests/bench/host-probe.sh [RUNS]
set -eu

build=${MOAT_BUILD_DIR:-build}
moat=${MOAT:-$build/moat}
runs=${1:-50}

probe_test=$build/tests/unit/host/test-host-probe
if [ -x "$probe_test" ]; then
        "$probe_test" 2>&1 | grep '^host_facts_probe:' || echo "in process: no figure printed"
else
        echo "in process: $probe_test not built"
fi

if [ ! -x "$moat" ]; then
        echo "end to end: $moat not built"
        exit 0
fi
# `moat --version` is the baseline: process start and dynamic linking, no probe.
for args in "--version" "host --json"; do
        start=$(date +%s%N)
        for _ in $(seq "$runs"); do
                # shellcheck disable=SC2086
                "$moat" $args >/dev/null
        done
        end=$(date +%s%N)
        echo "moat $args: mean $(( (end - start) / runs / 1000 )) us per run over $runs runs (uid $(id -u))"
done
