#!/bin/bash
# Many writers at once, and writers killed with SIGKILL in the middle of their writes.
#  - 20 concurrent writers x 50 records (audit_log_run through audit-writer) give exactly 1000
#    chained records, none lost, none interleaved;
#  - a log renamed away under its lock while writers run loses no record;
#  - looped (bounded) kill -9 of writers with large records never leaves a log that fails
#    verification for any reason other than a torn tail, and the next append always recovers
#    it (verify exits 0, reporting the recovered tear).
source "$(dirname "$0")/lib.sh"

L=$T/concurrent.jsonl
pids=()
for w in $(seq 20); do
        "$WRITER" --profile "writer-$w" "$L" 50 &
        pids+=($!)
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
check "20 writers x 50 records: every writer succeeded" test "$failed" -eq 0
check "the log has 1000 lines" test "$(wc -l <"$L")" -eq 1000
run_moat audit verify --json "$L"
check "verify: 1000 intact records, no recovery" \
        test "$(jq -r '[.intact, .records, .recovered] | join(",")' <<<"$out")" = "true,1000,0"
check "each writer's 50 records are all there" \
        test "$(jq -r .profile.name "$L" | sort | uniq -c | awk '$1 == 50' | wc -l)" -eq 20

# Rotation under load: rename the log away while holding its lock (flock(1)); writers that
# opened the old file re-check the path under the lock and move to the new file.
R=$T/rotate.jsonl
pids=()
for w in 1 2 3 4; do
        "$WRITER" "$R" 50 &
        pids+=($!)
done
for n in 1 2; do
        sleep 0.2
        [ -e "$R" ] && flock "$R" mv "$R" "$R.$n"
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
total=0
broken=0
for f in "$R" "$R".*; do
        [ -e "$f" ] || continue
        "$MOAT" audit verify --json "$f" >"$T/v.json" || broken=$((broken + 1))
        total=$((total + $(jq -r .records "$T/v.json")))
done
check "rotation under load: every file verifies, no writer failed" test "$broken/$failed" = 0/0
check "rotation under load: 200 records across the files ($total)" test "$total" -eq 200

check "rotation under load: the log was rotated" test -s "$R.1"
# A writer that opened the log and then waited for the lock while it was renamed away writes
# to the new file, never into the rotated one.
S=$T/held.jsonl
"$WRITER" "$S" 3
flock "$S" sh -c "sleep 0.6; mv '$S' '$S.old'" &
rot=$!
sleep 0.2
"$WRITER" --profile late "$S" 1
wait $rot
check "a writer waiting during the rename writes to the new file" \
        test "$(wc -l <"$S.old")/$(jq -r .profile.name "$S" 2>/dev/null)" = "3/late"

# Crash loop. Records padded to ~200 KiB so a SIGKILL lands inside write(2) often enough.
C=$T/crash.jsonl
"$WRITER" "$C" 1
rounds=${AUDIT_CRASH_ROUNDS:-15}
torn=0
bad=0
for round in $(seq "$rounds"); do
        kp=()
        for _ in 1 2 3 4; do
                "$WRITER" --pad 200000 "$C" 1000 &
                kp+=($!)
        done
        sleep "0.0$((RANDOM % 9 + 1))"
        kill -9 "${kp[@]}" 2>/dev/null
        wait "${kp[@]}" 2>/dev/null
        "$MOAT" audit verify --json "$C" >"$T/v.json" 2>"$T/v.err"
        vrc=$?
        if [ $vrc -eq 1 ] && [ "$(jq -r .torn_tail "$T/v.json")" = true ]; then
                torn=$((torn + 1))
        elif [ $vrc -ne 0 ]; then
                bad=$((bad + 1))
                diag "round $round: verify exit $vrc: $(cat "$T/v.json" "$T/v.err")"
        fi
        # The next writer continues the chain whatever the crash left.
        if ! "$WRITER" "$C" 1 2>"$T/w.err"; then
                bad=$((bad + 1))
                diag "round $round: append after the crash failed: $(cat "$T/w.err")"
        fi
        "$MOAT" audit verify --json "$C" >"$T/v.json" 2>"$T/v.err"
        if [ $? -ne 0 ]; then
                bad=$((bad + 1))
                diag "round $round: verify after recovery failed: $(cat "$T/v.json" "$T/v.err")"
        fi
done
# Deterministic tears: a file size limit (RLIMIT_FSIZE) that ends inside the next record makes
# write(2) return short, exactly what a writer killed mid-write or a full disk leaves behind.
fsize_rounds=5
for round in $(seq "$fsize_rounds"); do
        size=$(stat -c %s "$C")
        ( ulimit -f $((size / 1024 + 1)) && "$WRITER" --pad 100000 "$C" 1 ) 2>/dev/null
        if [ $? -eq 0 ] || [ "$(stat -c %s "$C")" -le "$size" ]; then
                bad=$((bad + 1))
                diag "fsize round $round: the limited writer did not leave a partial record"
        fi
        "$MOAT" audit verify --json "$C" >"$T/v.json" 2>"$T/v.err"
        if [ $? -eq 1 ] && [ "$(jq -r .torn_tail "$T/v.json")" = true ]; then
                torn=$((torn + 1))
        else
                bad=$((bad + 1))
                diag "fsize round $round: expected a torn tail: $(cat "$T/v.json" "$T/v.err")"
        fi
        "$WRITER" "$C" 1 || bad=$((bad + 1))
        "$MOAT" audit verify --json "$C" >"$T/v.json" 2>"$T/v.err" || {
                bad=$((bad + 1))
                diag "fsize round $round: verify after recovery failed: $(cat "$T/v.json" "$T/v.err")"
        }
done
recovered=$(jq -r .recovered "$T/v.json")
diag "crash loop: $rounds kill rounds + $fsize_rounds short-write rounds, $torn left a torn tail, $recovered torn writes recovered, $(jq -r .records "$T/v.json") records"
check "kill -9 during writes: only torn tails, always recovered by the next append" test "$bad" -eq 0
check "recovered tears are counted by verify ($recovered) and match the torn tails seen ($torn)" \
        test "$recovered" -eq "$torn"
check "at least the $fsize_rounds short writes left torn tails" test "$torn" -ge "$fsize_rounds"

tap_end
