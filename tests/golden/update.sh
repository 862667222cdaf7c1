#!/bin/bash
# SPDX-License-Identifier: MIT
# Regenerate the golden plans after a deliberate change; review the diff (tiers.md first).
#   tests/golden/update.sh [BUILD_DIR]      (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${1:-$src/build}
export MOAT=${MOAT:-$build/moat}
export MOAT_SOURCE_DIR=$src
rm -rf "$here/expected"
python3 "$here/golden.py" update "$here/expected"
git -C "$src" status --short -- tests/golden/expected | head -20
