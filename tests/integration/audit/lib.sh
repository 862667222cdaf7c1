#!/bin/bash
# Shared by the audit integration tests (sourced): TAP helpers, a private temp dir with a
# hermetic HOME/XDG/MOAT_AUDIT_LOG, and the audit-writer helper.
#
# Environment (tests/meson.build): MOAT, MOAT_BUILD_DIR, MOAT_DATA_DIR, MOAT_SOURCE_DIR.
set -u

source "$(dirname "${BASH_SOURCE[0]}")/../tap.sh"

for tool in jq python3; do
        if ! command -v $tool >/dev/null; then
                echo "1..0 # SKIP $tool is not installed"
                exit 77
        fi
done
WRITER=${AUDIT_WRITER:-${MOAT_BUILD_DIR:-}/tests/integration/audit/audit-writer}
if [ ! -x "${MOAT:-}" ] || [ ! -x "$WRITER" ]; then
        echo "1..0 # SKIP moat or audit-writer not built (MOAT=${MOAT:-}, writer=$WRITER)"
        exit 77
fi

T=$(mktemp -d /tmp/moat-audit-test.XXXXXX)
chmod 0755 "$T"
cleanup() {
        local p
        for p in ${BG_PIDS:-}; do kill -9 "$p" 2>/dev/null; done
        rm -rf "$T"
}
trap cleanup EXIT
export HOME=$T/home XDG_STATE_HOME=$T/home/.local/state XDG_CONFIG_HOME=$T/home/.config
export XDG_CACHE_HOME=$T/home/.cache XDG_RUNTIME_DIR=$T/run
export MOAT_AUDIT_LOG=$T/audit.jsonl
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"

# run_moat ARGS...: runs moat; $out, $err, $rc hold the result.
run_moat() {
        "$MOAT" "$@" >"$T/out" 2>"$T/err"
        rc=$?
        out=$(cat "$T/out")
        err=$(cat "$T/err")
}

# expect_rc DESCRIPTION RC [STDERR_WORD|-] -- ARGS...
expect_rc() {
        local d=$1 want=$2 word=$3
        shift 4
        run_moat "$@"
        if [ "$rc" -ne "$want" ]; then
                tap_not_ok "$d" "exit $rc, expected $want; stdout: ${out:0:400}; stderr: ${err:0:400}"
        elif [ "$word" != - ] && ! grep -qF -- "$word" <<<"$out$err"; then
                tap_not_ok "$d" "output does not mention '$word': ${out:0:400} ${err:0:400}"
        else
                tap_ok "$d"
        fi
}

# edit_line FILE N PYTHON_EXPR: replace line N (1-based, without its newline) by the value of
# PYTHON_EXPR over `l` (bytes).
edit_line() {
        python3 - "$1" "$2" "$3" <<'PY'
import sys
path, n, expr = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lines = open(path, 'rb').read().split(b'\n')
l = lines[n - 1]
lines[n - 1] = eval(expr)
open(path, 'wb').write(b'\n'.join(lines))
PY
}
