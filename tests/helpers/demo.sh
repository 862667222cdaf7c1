#!/bin/bash
# SPDX-License-Identifier: MIT
# From a fresh Debian 12 machine, as root:   bash tests/helpers/demo.sh
# Installs the build dependencies (and the vm tier's guest kernel), builds moat, installs it
# under /usr/local, and runs its main job once: a small untrusted workload under the
# ci-untrusted profile, then the plan it ran under and the audit record it left.
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$src"
say() { printf '\n==> %s\n' "$*"; }

if (($(id -u) != 0)); then
        echo "demo.sh installs packages and moat itself: run it as root (bash $0 as root)" >&2
        exit 1
fi
export DEBIAN_FRONTEND=noninteractive

say "installing build dependencies"
bash tests/helpers/install-deps.sh
if [[ -f launcher/vm/guest/moat-guest-kernel.sh ]]; then
        say "installing the guest kernel for the vm tier"
        bash launcher/vm/guest/moat-guest-kernel.sh
fi

say "building moat"
if [[ -d build-demo ]]; then
        meson setup --reconfigure build-demo >/dev/null
else
        meson setup build-demo >/dev/null
fi
ninja -C build-demo -j"$(nproc)"
say "installing moat (prefix /usr/local)"
meson install -C build-demo --quiet
moat=/usr/local/bin/moat
"$moat" --version

# The sample workload: what a third-party pull request's build step might do, including
# things it should not be able to do.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/build.sh" <<'SAMPLE'
echo "inside: uid $(id -u), hostname $(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status
echo "compiled" >/work/artifact.txt && echo "wrote /work/artifact.txt (the work directory is read-write)"
if (echo owned >/etc/moat-demo) 2>/dev/null; then echo "WROTE /etc on the host"; else echo "cannot write /etc (the host is read-only)"; fi
echo "network interfaces: $(awk -F: 'NR > 2 { gsub(/ /, "", $1); printf "%s ", $1 }' /proc/net/dev)"
SAMPLE
cd "$work"
export MOAT_AUDIT_LOG=$work/audit.jsonl

if "$moat" run --help 2>&1 | grep -q "is not built into this binary"; then
        say "moat run is not built yet: showing the plan instead (moat explain -p ci-untrusted)"
        "$moat" explain -p ci-untrusted
        exit 0
fi

say "moat run -p ci-untrusted -- sh build.sh"
rc=0
"$moat" run -p ci-untrusted -- sh build.sh || rc=$?
echo "exit status: $rc"
[[ -f $work/artifact.txt ]] && echo "on the host: $(cat "$work/artifact.txt") in $work/artifact.txt"

say "the plan it ran under (moat explain -p ci-untrusted)"
"$moat" explain -p ci-untrusted

say "the audit record (moat audit show, then moat audit verify)"
"$moat" audit show "$MOAT_AUDIT_LOG"
"$moat" audit verify "$MOAT_AUDIT_LOG"
exit "$rc"
