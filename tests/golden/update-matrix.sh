#!/bin/bash
# SPDX-License-Identifier: MIT
# Regenerate the host matrix tables (tests/golden/matrix/ROW.txt) after a deliberate change:
# boots one guest per row (tests/integration/vm/host-matrix.sh) and writes what it observed.
# Review the diff. As root (the vm tier and the test user moatuser).
#   tests/golden/update-matrix.sh [BUILD_DIR]      (default: build; MOAT_MATRIX_ROWS=... for some rows)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
MOAT=$build/moat MOAT_BUILD_DIR=$build MOAT_SOURCE_DIR=$src MOAT_DATA_DIR=$src \
        MOAT_PROBE=$build/tests/helpers/moat-probe MOAT_MATRIX_UPDATE=1 \
        bash "$src/tests/integration/vm/host-matrix.sh" | grep -E '^not ok|wrote|seconds' || true
git -C "$src" status --short -- tests/golden/matrix
