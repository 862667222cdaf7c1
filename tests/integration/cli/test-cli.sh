#!/bin/bash
# SPDX-License-Identifier: MIT
# The command line contract (DESIGN.md "Exit status", launcher/commands.h): every subcommand
# has --help on stdout with exit 0 that names its options; an unknown command, an unknown
# flag or a missing argument exits 125 with a message naming what was wrong; --version
# prints the project version. TAP output. A subcommand that is not built into the binary is
# skipped with the reason, or fails when MOAT_MUST_WORK=1.
set -uo pipefail

: "${MOAT:?MOAT must name the moat binary (meson test sets it)}"
: "${MOAT_SOURCE_DIR:?MOAT_SOURCE_DIR must name the source tree}"

MOAT=$(realpath -- "$MOAT") || exit 1
if [[ ! -x $MOAT ]]; then
        echo "Bail out! $MOAT is not an executable"
        exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp/home XDG_CONFIG_HOME=$tmp/config XDG_STATE_HOME=$tmp/state
export XDG_CACHE_HOME=$tmp/cache XDG_DATA_HOME=$tmp/data XDG_RUNTIME_DIR=$tmp/run
export MOAT_AUDIT_LOG=$tmp/audit.jsonl
mkdir -p "$HOME" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME" "$XDG_DATA_HOME"
mkdir -m 0700 "$XDG_RUNTIME_DIR"
cd "$tmp" || exit 1

must_work=${MOAT_MUST_WORK:-0}
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() {
        n=$((n + 1))
        failed=1
        echo "not ok $n - $1"
        shift
        local l
        for l in "$@"; do
                while IFS= read -r line; do echo "#   $line"; done <<<"$l"
        done
}
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

# run ARGS... : sets rc, out, err
run() {
        "$MOAT" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
        rc=$?
        out=$(cat "$tmp/out")
        err=$(cat "$tmp/err")
}

# expect DESC WANT_RC [GREP_IN_STDOUT|-] [GREP_IN_STDERR|-] -- ARGS...
expect() {
        local desc=$1 want=$2 in_out=$3 in_err=$4
        shift 5
        run "$@"
        local why=()
        ((rc == want)) || why+=("exit $rc, want $want")
        if [[ $in_out != - ]] && ! grep -qF -- "$in_out" <<<"$out"; then
                why+=("stdout does not mention '$in_out'")
        fi
        if [[ $in_err != - ]] && ! grep -qF -- "$in_err" <<<"$err"; then
                why+=("stderr does not mention '$in_err'")
        fi
        if ((${#why[@]})); then
                not_ok "$desc" "${why[@]}" "command: moat $*" "stdout: ${out:0:600}" "stderr: ${err:0:600}"
        else
                ok "$desc"
        fi
}

version=$(sed -n "s/^[[:space:]]*version:[[:space:]]*'\([^']*\)'.*/\1/p" "$MOAT_SOURCE_DIR/meson.build" | head -n1)

# --- the dispatcher ---------------------------------------------------------------------
expect "moat --version prints the project version" 0 "moat $version" - -- --version
expect "moat --help exits 0 and lists the commands" 0 "Commands:" - -- --help
for c in run explain check host audit; do
        if grep -qE "^[[:space:]]+${c}[[:space:]]" "$tmp/out"; then
                ok "moat --help lists '$c'"
        else
                not_ok "moat --help lists '$c'" "stdout: $(cat "$tmp/out")"
        fi
done
expect "moat without a command exits 125" 125 - "Usage" --
expect "an unknown command exits 125 and is named" 125 - "frobnicate" -- frobnicate
expect "an unknown top-level flag exits 125 and is named" 125 - "--frobnicate" -- --frobnicate

# --- each subcommand ------------------------------------------------------------------
# Options each --help must name (DESIGN.md and each command's contract).
declare -A help_flags=(
        [run]="--profile --workdir --host-facts --policy --audit-log --quiet"
        [explain]="--profile --json --host-facts --policy"
        [check]="--json"
        [host]="--json --host-facts"
        [audit]="verify show tail path --key --since --json"
)
# Usage errors that must name the flag or argument at fault: "ARGS|WORD" — WORD must appear
# on stderr. Short and long spellings of a flag that takes a value, a missing input.
declare -A usage_errors=(
        [run]="--profile|--profile;-p|-p;-p ci-untrusted|command"
        [explain]="--profile|--profile;-p|-p;--json|profile"
        [check]="|PROFILE"
        [host]="--host-facts|--host-facts"
        [audit]="frobnicate|frobnicate;verify --key|--key;show --since|--since;show --no-such-flag|--no-such-flag"
)
# Second-level commands whose own --help must work.
declare -A sub_help=(
        [audit]="verify show tail path"
)

built() {
        run "$1" --help
        ! grep -q "is not built into this binary" <<<"$err"
}

for c in run explain check host audit; do
        if ! built "$c"; then
                if [[ $must_work == 1 ]]; then
                        not_ok "moat $c is built into the binary" "MOAT_MUST_WORK=1 and: $err"
                else
                        skip "moat $c" "subcommand not built into this binary yet"
                fi
                continue
        fi

        expect "moat $c --help exits 0 on stdout" 0 "moat $c" - -- "$c" --help
        if [[ -s $tmp/err ]]; then
                not_ok "moat $c --help writes nothing to stderr" "stderr: $(cat "$tmp/err")"
        else
                ok "moat $c --help writes nothing to stderr"
        fi
        help_text=$out
        for f in ${help_flags[$c]}; do
                if grep -qF -- "$f" <<<"$help_text"; then
                        ok "moat $c --help mentions $f"
                else
                        not_ok "moat $c --help mentions $f" "help: ${help_text:0:800}"
                fi
        done

        expect "moat $c with an unknown flag exits 125 naming it" 125 - "--no-such-flag" -- \
                "$c" --no-such-flag

        IFS=';' read -r -a specs <<<"${usage_errors[$c]}"
        for spec in "${specs[@]}"; do
                read -r -a args <<<"${spec%%|*}"
                expect "moat $c ${spec%%|*} exits 125 naming '${spec##*|}'" 125 - \
                        "${spec##*|}" -- "$c" "${args[@]}"
        done

        for sub in ${sub_help[$c]:-}; do
                expect "moat $c $sub --help exits 0" 0 "$sub" - -- "$c" "$sub" --help
        done
done

# moat(1): built from the binary's --help texts, a section for every command `moat --help`
# lists, each with that command's own usage line; it renders without a warning.
page=${MOAT_BUILD_DIR:-$(dirname "$MOAT")}/moat.1
if [[ ! -s $page ]]; then
        not_ok "moat.1 is built next to moat" "$page is missing or empty"
else
        ok "moat.1 is built next to moat"
        rendered=$(MANWIDTH=100 man -l "$page" 2>"$tmp/man-err")
        if [[ $? -ne 0 || -s $tmp/man-err ]] || ! grep -q '^NAME' <<<"$rendered"; then
                not_ok "moat.1 renders with man -l, no warning" "$(head -5 "$tmp/man-err")"
        else
                ok "moat.1 renders with man -l, no warning"
        fi
        MANWIDTH=100 man --warnings -l "$page" >/dev/null 2>"$tmp/man-warn"
        if [[ -s $tmp/man-warn ]]; then
                not_ok "moat.1 has no groff warning" "$(head -5 "$tmp/man-warn")"
        else
                ok "moat.1 has no groff warning"
        fi
        for c in $("$MOAT" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'); do
                usage=$("$MOAT" "$c" --help | head -1)
                if grep -qxF "   moat $c" <<<"$rendered" && grep -qF -- "$usage" <<<"$rendered"; then
                        ok "moat.1 has a section for moat $c with its usage line"
                else
                        not_ok "moat.1 has a section for moat $c with its usage line" "usage: $usage"
                fi
        done
fi

echo "1..$n"
exit $failed
