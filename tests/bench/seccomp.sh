#!/bin/bash
# seccomp benchmark: compile time of the default-shaped rule set on three ABIs and the
# per-syscall overhead of the loaded filter (getpid and stat loops, filtered / bare).
# Prints figures, never fails on time. Usage: tests/bench/seccomp.sh [calls-per-round]
set -euo pipefail

src=${MOAT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

${CC:-cc} -std=gnu17 -O2 -D_GNU_SOURCE \
        -I"$src" -I"$src/launcher" -I"$src/tests/unit/sys" \
        "$src/tests/bench/bench-seccomp.c" "$src/launcher/sys/seccomp.c" "$src/launcher/basic/sha256.c" \
        $(pkg-config --cflags --libs libseccomp libcrypto) -o "$tmp/bench-seccomp"

echo "# kernel $(uname -r), $(nproc) cpus, libseccomp $(pkg-config --modversion libseccomp)"
"$tmp/bench-seccomp" "${1:-40000}"
