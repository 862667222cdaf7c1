#!/bin/bash
# SPDX-License-Identifier: MIT
# `moat check`: output, exit status and flags, on the shipped profiles, the parser's corpus
# and the schema's wrong profiles (which the parser must refuse as well). Prints TAP.
set -u
: "${MOAT:?}" "${MOAT_SOURCE_DIR:?}"
here="$MOAT_SOURCE_DIR/tests/unit/profile"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME="$tmp" XDG_CONFIG_HOME="$tmp/xdg" MOAT_AUDIT_LOG="$tmp/audit.jsonl"
export MOAT_PROFILE_PATH="$MOAT_SOURCE_DIR/profiles"
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else not_ok "$1"; fi; }

shipped=(minimal ci-untrusted build network-client hostile kernel-lab system-container pod-host-network)
out=$("$MOAT" check "${shipped[@]}" 2>"$tmp/err"); rc=$?
check "shipped profiles check ok (exit $rc)" '[ $rc -eq 0 ] && [ ! -s "$tmp/err" ]'
check "one 'PATH: ok' line per profile" \
        '[ "$(grep -c ": ok$" <<<"$out")" -eq ${#shipped[@]} ] && grep -qx "$MOAT_SOURCE_DIR/profiles/ci-untrusted.yaml: ok" <<<"$out"'

cd "$here/corpus" || exit 1
out=$("$MOAT" check good-full.yaml bad-size-gb.yaml good-defaults.yaml 2>"$tmp/err"); rc=$?
check "a bad profile among good ones exits 125 (got $rc)" '[ $rc -eq 125 ]'
check "good ones are still reported ok" '[ "$(grep -c ": ok$" <<<"$out")" -eq 2 ]'
check "the bad one is reported with its location" \
        '[ "$(cat "$tmp/err")" = "$(cat bad-size-gb.expect)" ]'

out=$("$MOAT" check --json good-defaults.yaml bad-unknown-key.yaml 2>/dev/null); rc=$?
check "--json exits 125 on an invalid profile (got $rc)" '[ $rc -eq 125 ]'
check "--json reports file, line, column and message" \
        'jq -e ".[0].ok == true and (.[0].digest | length) == 64 and .[1].ok == false and .[1].error.file == \"bad-unknown-key.yaml\" and .[1].error.line == 5 and .[1].error.column == 3" <<<"$out" >/dev/null'

"$MOAT" check >/dev/null 2>"$tmp/err"; rc=$?
check "no PROFILE is a usage error (exit $rc)" '[ $rc -eq 125 ] && grep -q "no PROFILE given" "$tmp/err"'
"$MOAT" check --frobnicate minimal >/dev/null 2>"$tmp/err"; rc=$?
check "an unknown flag is a usage error naming it (exit $rc)" '[ $rc -eq 125 ] && grep -q -- "--frobnicate" "$tmp/err"'
"$MOAT" check --help >"$tmp/out"; rc=$?
check "--help exits 0 and shows usage" '[ $rc -eq 0 ] && grep -q "^Usage: moat check" "$tmp/out"'
"$MOAT" check no-such-profile >/dev/null 2>"$tmp/err"; rc=$?
check "an unknown profile name exits 125 (got $rc)" '[ $rc -eq 125 ] && grep -q "not found" "$tmp/err"'

# Everything the JSON Schema refuses, the parser refuses too.
for f in "$here"/schema-bad/*.yaml; do
        "$MOAT" check "$f" >/dev/null 2>"$tmp/err"; rc=$?
        check "parser refuses schema-bad/$(basename "$f") (exit $rc): $(head -c 100 "$tmp/err")" '[ $rc -eq 125 ]'
done

# Every per-key example of the language reference is a valid profile (with "moat: 1" added).
mkdir -p "$tmp/readme"
printf 'moat: 1\n' >"$tmp/readme/base.yaml"
python3 - "$MOAT_SOURCE_DIR/profiles/README.md" "$tmp/readme" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
for i, section in enumerate(re.split(r"^### ", text, flags=re.M)[1:]):
    block = re.search(r"\n\n((?:    .*\n|\n)+)", section).group(1)
    body = "".join(line[4:] + "\n" for line in block.rstrip("\n").split("\n"))
    if not body.startswith("moat:"):
        body = "moat: 1\n" + body
    open(f"{sys.argv[2]}/example-{i:02d}.yaml", "w", encoding="utf-8").write(body)
PY
examples=("$tmp"/readme/example-*.yaml)
check "the language reference has an example per section (${#examples[@]})" '[ ${#examples[@]} -ge 14 ]'
for f in "${examples[@]}"; do
        MOAT_PROFILE_PATH="$tmp/readme" "$MOAT" check "$f" >/dev/null 2>"$tmp/err"; rc=$?
        check "README example $(basename "$f") is valid $(head -c 150 "$tmp/err")" '[ $rc -eq 0 ]'
done

echo "1..$n"
[ "$fails" -eq 0 ]
