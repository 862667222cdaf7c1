#!/bin/bash
# moat audit verify/show/tail/path through the real binary, on logs written by audit_log_run()
# (audit-writer): every kind of tampering is reported with its line and exit 1, an untouched
# log exits 0; filters, JSON output, following, the log path, and usage errors (exit 125).
source "$(dirname "$0")/lib.sh"

L=$T/log.jsonl
"$WRITER" "$L" 6 || exit 1
"$WRITER" --profile build "$L" 2 || exit 1
cp "$L" "$T/pristine"

expect_rc "an untouched log verifies (exit 0)" 0 "intact: 8 run records" -- audit verify "$L"
run_moat audit verify --json "$L"
check "verify --json reports 8 intact records" \
        test "$(jq -r '[.intact, .records, .bad_line] | join(",")' <<<"$out")" = "true,8,0"
check "verify --json last_hash is the SHA-256 of the last line" \
        test "$(jq -r .last_hash <<<"$out")" = "$(tail -n 1 "$L" | tr -d '\n' | sha256sum | cut -d' ' -f1)"

# tamper NAME EXPECTED_WORD SCRIPT: apply SCRIPT to a fresh copy, expect exit 1 and the word.
tamper() {
        local name=$1 word=$2
        cp "$T/pristine" "$L"
        eval "$3"
        expect_rc "verify detects: $name" 1 "$word" -- audit verify "$L"
}
tamper "one byte of the exit status edited (line 3)" "line 3:" \
        "edit_line '$L' 3 \"l.replace(b'\\\"status\\\":0', b'\\\"status\\\":1', 1)\""
tamper "one byte of the argv edited (line 4)" "line 4:" \
        "edit_line '$L' 4 \"l.replace(b'\\\"true\\\"', b'\\\"trux\\\"', 1)\""
tamper "one byte of the user name edited (line 2)" "line 2:" \
        "edit_line '$L' 2 \"l.replace(b'\\\"name\\\":\\\"', b'\\\"name\\\":\\\"X', 1)\""
tamper "one byte of the hash edited (line 5)" "line 5:" \
        "edit_line '$L' 5 \"l[:-5] + (b'0' if l[-5:-4] != b'0' else b'1') + l[-4:]\""
tamper "one byte of prev edited (line 6)" "line 6:" \
        "edit_line '$L' 6 \"(lambda i: l[:i] + (b'0' if l[i:i + 1] != b'0' else b'1') + l[i + 1:])(l.index(b'\\\"prev\\\":\\\"') + 8)\""
tamper "line 4 deleted" "line 4:" "sed -i '4d' '$L'"
tamper "the first line deleted" "line 1:" "sed -i '1d' '$L'"
tamper "lines 3 and 4 swapped" "line 3:" "sed -i '3{h;d};4{G}' '$L'"
tamper "a copy of line 2 inserted after line 5" "line 6:" "sed -i '5r /dev/stdin' '$L' < <(sed -n 2p '$T/pristine')"
tamper "truncated in the middle of the last line" "torn tail at line 8" \
        "truncate -s \$((\$(stat -c %s '$L') - 100)) '$L'"
tamper "the last newline removed" "torn tail at line 8" "truncate -s -1 '$L'"
tamper "a JSON line that is no record appended" "line 9: record lacks" "echo '{\"not\": \"a record\"}' >> '$L'"
tamper "half a record and a newline appended" "torn tail at line 9" "echo '{\"schema\":1,\"ty' >> '$L'"
# A forger without a key can re-seal one record, but the next record's prev gives it away.
tamper "a record re-sealed after an edit" "line 4:" "python3 - '$L' <<'PY'
import hashlib, json, sys
p = sys.argv[1]
lines = open(p, 'rb').read().split(b'\n')
r = json.loads(lines[2])
r['exit']['status'] = 99
del r['hash']
dump = lambda o: json.dumps(o, sort_keys=True, separators=(',', ':'), ensure_ascii=True).encode()
r['hash'] = hashlib.sha256(dump(r)).hexdigest()
lines[2] = dump(r)
open(p, 'wb').write(b'\n'.join(lines))
PY"
cp "$T/pristine" "$L"

# --- keyed chain -------------------------------------------------------------------------
K=$T/key
head -c 32 /dev/urandom >"$K"
chmod 0600 "$K"
"$WRITER" --key "$K" "$T/keyed.jsonl" 3 || exit 1
expect_rc "keyed log verifies with --key" 0 "(keyed)" -- audit verify --key "$K" "$T/keyed.jsonl"
expect_rc "keyed log without --key fails" 1 "--key" -- audit verify "$T/keyed.jsonl"
head -c 32 /dev/urandom >"$T/other-key"
chmod 0600 "$T/other-key"
expect_rc "keyed log with another key fails" 1 "another key" -- audit verify --key "$T/other-key" "$T/keyed.jsonl"
"$WRITER" "$T/keyed.jsonl" 1
expect_rc "an unkeyed record appended to a keyed log fails" 1 "line 4:" -- audit verify --key "$K" "$T/keyed.jsonl"
chmod 0644 "$K"
expect_rc "a world-readable key is refused (125)" 125 "readable by others" -- audit verify --key "$K" "$T/keyed.jsonl"

# --- recovery of a torn tail ------------------------------------------------------------
cp "$T/pristine" "$L"
printf '{"chain":"sha256","comm' >>"$L"
expect_rc "an unrecovered torn tail fails" 1 "torn tail at line 9" -- audit verify "$L"
"$WRITER" "$L" 1
expect_rc "the next writer recovers it: verify exits 0 with a notice" 0 "notice: lines 9-9: torn write" -- audit verify "$L"
expect_rc "verify --strict fails on a recovered torn write" 1 "1 torn write(s) recovered" -- audit verify --strict "$L"
cp "$T/pristine" "$L"

# --- show ---------------------------------------------------------------------------------
run_moat audit show "$L"
check "show prints one line per record" test "$(wc -l <<<"$out")" -eq 8
check "show names the denial with its origin" \
        grep -qF "denied keyctl (x86_64) x3 — policies/seccomp/default.yaml:41 group keys" <<<"$out"
run_moat audit show "$L" --profile build
check "show --profile filters (after FILE, too)" test "$(wc -l <<<"$out")" -eq 2
run_moat audit show --tier vm "$L"
check "show --tier vm: no sandbox records" test -z "$out" -a "$rc" -eq 0
run_moat audit show --denied --json "$L"
check "show --json prints the stored records" \
        test "$(jq -s 'map(.denials[0].syscall) | unique | join(",")' -r <<<"$out")" = keyctl
check "show --json output is byte-identical to the log" test "$out" = "$(cat "$L")"
run_moat audit show --since 1h "$L"
check "show --since 1h: every record" test "$(wc -l <<<"$out")" -eq 8
run_moat audit show --since 2999-01-01 "$L"
check "show --since in the future: none" test -z "$out" -a "$rc" -eq 0
# Terminal control sequences in argv are shown escaped.
python3 - "$L" <<'PY'
import sys
open(sys.argv[1], 'ab').write(b'{"type":"run","time":"2026-01-01T00:00:00Z","command":{"argv":["\\u001b]0;pwned\\u0007"]}}\n')
PY
run_moat audit show "$L"
check "show escapes ESC/BEL from argv" grep -qF '\x1b]0;pwned\x07' <<<"$out"
check "show writes no raw ESC byte" test "$(grep -c $'\x1b' "$T/out")" -eq 0
cp "$T/pristine" "$L"

# --- tail -----------------------------------------------------------------------------------
run_moat audit tail -n 3 "$L"
check "tail -n 3 prints 3 records" test "$(wc -l <<<"$out")" -eq 3
run_moat audit tail --json "$L"
check "tail prints the last 8 (fewer than 10)" test "$(wc -l <<<"$out")" -eq 8
"$MOAT" audit tail -f -n 0 --json "$L" >"$T/follow" 2>"$T/follow.err" &
tail_pid=$!
BG_PIDS="$tail_pid"
sleep 0.3
"$WRITER" --profile followed "$L" 3
for _ in $(seq 50); do
        [ "$(wc -l <"$T/follow")" -ge 3 ] && break
        sleep 0.1
done
check "tail -f prints records appended later" \
        test "$(jq -r .profile.name "$T/follow" 2>/dev/null | sort -u)" = followed
check "tail -f printed exactly the 3 new records" test "$(wc -l <"$T/follow")" -eq 3
mv "$L" "$L.rotated"
"$WRITER" --profile rotated "$L" 2
for _ in $(seq 50); do
        [ "$(wc -l <"$T/follow")" -ge 5 ] && break
        sleep 0.1
done
check "tail -f follows the log to its new file after a rotation" \
        test "$(jq -r .profile.name "$T/follow" 2>/dev/null | tail -n 2 | sort -u)" = rotated
check "tail -f says that the log was rotated" grep -q "rotated" "$T/follow.err"
kill "$tail_pid" 2>/dev/null
wait "$tail_pid" 2>/dev/null
BG_PIDS=
cp "$T/pristine" "$L"

# --- path ----------------------------------------------------------------------------------
expect_rc "path prints \$MOAT_AUDIT_LOG" 0 "$MOAT_AUDIT_LOG" -- audit path
if [ "$(id -u)" -eq 0 ]; then
        run_moat audit path
        rc_env=$rc
        out_env=$out
        MOAT_AUDIT_LOG= run_moat audit path
        check "path as root without an override: /var/log/moat/audit.jsonl" \
                test "$out" = /var/log/moat/audit.jsonl -a "$rc" -eq 0
fi

# --- usage ----------------------------------------------------------------------------------
for c in verify show tail path; do
        expect_rc "audit $c --help exits 0" 0 "Usage: moat audit $c" -- audit "$c" --help
done
expect_rc "audit --help exits 0" 0 "verify" -- audit --help
expect_rc "audit without a command: 125" 125 "Usage" -- audit
expect_rc "audit frob: 125 naming it" 125 "frob" -- audit frob
expect_rc "show --bogus: 125 naming it" 125 "--bogus" -- audit show --bogus
expect_rc "show --tier bad: 125 naming --tier" 125 "--tier" -- audit show --tier cloud "$L"
expect_rc "show --since bad: 125 naming --since" 125 "--since" -- audit show --since yesterday "$L"
expect_rc "show --since without a value: 125" 125 "--since" -- audit show --since
expect_rc "tail -n bad: 125 naming --lines" 125 "--lines" -- audit tail -n many "$L"
expect_rc "verify --key without a value: 125" 125 "--key" -- audit verify --key
expect_rc "verify with two files: 125" 125 "unexpected argument" -- audit verify "$L" "$L"
expect_rc "verify of a missing file: 125" 125 "cannot read" -- audit verify "$T/missing.jsonl"
MOAT_AUDIT_LOG= expect_rc "path with a missing --policy file: 125" 125 "policy" -- audit path --policy "$T/no-policy.yaml"
expect_rc "verify with a missing --policy file: 125" 125 "policy" -- audit verify --policy "$T/no-policy.yaml" "$L"

tap_end
