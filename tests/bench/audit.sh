#!/bin/bash
# SPDX-License-Identifier: MIT
# What the audit trail costs.
#  1. one append alone (audit_log_run through audit-writer): fdatasync on (default) and off
#     (MOAT_AUDIT_FSYNC=0), plain and HMAC-keyed chain;
#  2. a whole sandbox launch (`moat run -- true`) with the audit fsync on and off: the
#     difference is what the fsync adds to every launch;
#  3. a denied syscall: a keyctl loop inside the sandbox with denials reported to moat's
#     supervisor (seccomp user notification, what the audit counts) against plain
#     SECCOMP_RET_ERRNO (the same run with host facts saying user_notif is unavailable);
#  4. moat audit verify over the appended log.
# Prints figures; never fails on time (exit 1 only when something does not work at all).
#
#   MOAT_BUILD_DIR=build bash tests/bench/audit.sh [RUNS]
set -uo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${MOAT_BUILD_DIR:-$src/build}
MOAT=${MOAT:-$build/moat}
WRITER=${AUDIT_WRITER:-$build/tests/integration/audit/audit-writer}
runs=${1:-20}
appends=${MOAT_BENCH_APPENDS:-500}
calls=${MOAT_BENCH_CALLS:-20000}

for f in "$MOAT" "$WRITER"; do
        if [[ ! -x $f ]]; then
                echo "audit bench: $f is not built" >&2
                exit 1
        fi
done
tmp=$(mktemp -d)
chmod 0755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
export MOAT_DATA_DIR=${MOAT_DATA_DIR:-$src}
export HOME=$tmp XDG_CONFIG_HOME=$tmp/config XDG_CACHE_HOME=$tmp/cache XDG_STATE_HOME=$tmp/state
export MOAT_AUDIT_LOG=$tmp/audit.jsonl
now() { date +%s%N; }

echo "# kernel $(uname -r), $(nproc) cpus, log on $(df -T "$tmp" | awk 'NR == 2 {print $2}')"

# 1. append alone
per_append() { # LABEL ENV... : µs per record over $appends appends
        local label=$1 t0 t1
        shift
        rm -f "$tmp/append.jsonl"
        t0=$(now)
        env "$@" "$WRITER" ${KEYARG:-} "$tmp/append.jsonl" "$appends" || { echo "audit-writer failed" >&2; exit 1; }
        t1=$(now)
        printf '%-44s %8.1f us/record\n' "$label" "$(echo "($t1 - $t0) / 1000 / $appends" | bc -l)"
}
head -c 32 /dev/urandom >"$tmp/key"
chmod 0600 "$tmp/key"
echo "## append one record ($appends records, one process)"
per_append "append, fdatasync (default)" MOAT_AUDIT_FSYNC=1
per_append "append, no fsync (MOAT_AUDIT_FSYNC=0)" MOAT_AUDIT_FSYNC=0
KEYARG="--key $tmp/key" per_append "append, HMAC-keyed, fdatasync" MOAT_AUDIT_FSYNC=1
KEYARG="--key $tmp/key" per_append "append, HMAC-keyed, no fsync" MOAT_AUDIT_FSYNC=0

# 4. verify (on the last log written above)
t0=$(now)
"$MOAT" audit verify --key "$tmp/key" "$tmp/append.jsonl" >/dev/null || echo "verify failed" >&2
t1=$(now)
printf '%-44s %8.2f ms for %d records (%s bytes)\n' "moat audit verify (keyed)" \
        "$(echo "($t1 - $t0) / 1000000" | bc -l)" "$appends" "$(stat -c %s "$tmp/append.jsonl")"

# 2. launch
cat >"$tmp/bench.yaml" <<'YAML'
moat: 1
name: audit-bench
isolation: sandbox
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
network: none
YAML
mkdir -p "$tmp/work"
cd "$tmp/work" || exit 1
if ! "$MOAT" run -p "$tmp/bench.yaml" -- true 2>"$tmp/err"; then
        echo "## sandbox launch: moat run does not work here: $(cat "$tmp/err")"
        exit 1
fi
launch() { # LABEL ENV... : median ms per `moat run -- true`
        local label=$1 i t0 t1
        shift
        for i in $(seq "$runs"); do
                t0=$(now)
                env "$@" "$MOAT" run -p "$tmp/bench.yaml" -- true
                t1=$(now)
                echo $(((t1 - t0) / 1000))
        done | sort -n | awk -v l="$label" '{a[NR] = $1} END {printf "%-44s %8.2f ms median (min %.2f, max %.2f)\n", l, a[int((NR + 1) / 2)] / 1000, a[1] / 1000, a[NR] / 1000}'
}
echo "## sandbox launch, moat run -- true ($runs runs each, interleaved cost includes exec of moat)"
launch "launch, audit with fdatasync (default)" MOAT_AUDIT_FSYNC=1
launch "launch, audit without fsync" MOAT_AUDIT_FSYNC=0
launch "launch, audit with fdatasync (again)" MOAT_AUDIT_FSYNC=1

# 3. denied syscall
cat >"$tmp/work/keyctl-loop.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
int main(int argc, char **argv) {
        long n = atol(argv[1]);
        double t0 = now();
        for (long i = 0; i < n; i++)
                syscall(SYS_keyctl, 0, -3, 0);
        double t1 = now();
        for (long i = 0; i < n; i++)
                syscall(SYS_getpid);
        double t2 = now();
        printf("%.0f %.0f\n", (t1 - t0) / n, (t2 - t1) / n);
        return 0;
}
C
if ! cc -O2 -static -o "$tmp/work/keyctl-loop" "$tmp/work/keyctl-loop.c" 2>/dev/null &&
        ! cc -O2 -o "$tmp/work/keyctl-loop" "$tmp/work/keyctl-loop.c"; then
        echo "## denied syscall: no C compiler"
        exit 0
fi
"$MOAT" host --json >"$tmp/host.json" 2>/dev/null
jq '.seccomp_user_notif = false' "$tmp/host.json" >"$tmp/host-errno.json" 2>/dev/null
echo "## denied keyctl inside the sandbox ($calls calls), ns per call"
set -- $("$MOAT" run -p "$tmp/bench.yaml" -- /work/keyctl-loop "$calls")
notif_ns=${1:-?}
allowed_ns=${2:-?}
counted=$(tail -n 1 "$MOAT_AUDIT_LOG" | jq -r '[.denials[] | select(.syscall == "keyctl") | .count] | add // 0')
if [[ -s $tmp/host-errno.json ]] &&
        out=$("$MOAT" run --host-facts "$tmp/host-errno.json" -p "$tmp/bench.yaml" -- /work/keyctl-loop "$calls" 2>"$tmp/err"); then
        set -- $out
        errno_ns=$1
        errno_counted=$(tail -n 1 "$MOAT_AUDIT_LOG" | jq -r '[.denials[] | select(.syscall == "keyctl") | .count] | add // 0')
else
        errno_ns="n/a ($(head -c 200 "$tmp/err"))"
        errno_counted=n/a
fi
printf '%-44s %8s ns/call (audit counted %s)\n' "keyctl denied, user notification (audited)" "$notif_ns" "$counted"
printf '%-44s %8s ns/call (audit counted %s)\n' "keyctl denied, plain SECCOMP_RET_ERRNO" "$errno_ns" "$errno_counted"
printf '%-44s %8s ns/call\n' "getpid, allowed (filter present)" "$allowed_ns"
