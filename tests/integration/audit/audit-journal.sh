#!/bin/bash
# The journal mirror (policy audit_journal): each record appended to the file is also sent to
# journald with MESSAGE_ID and structured fields. A private mount namespace puts a stand-in
# for journald's socket (journal-sink.py) at /run/systemd/journal/socket; the host's /run is
# untouched. Without a journal to send to, the writer reports the failure.
source "$(dirname "$0")/lib.sh"

here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -eq 0 ]; then
        ns=(unshare -m --propagation private)
elif unshare -Urm true 2>/dev/null; then
        ns=(unshare -Urm)
else
        tap_skip "journal mirror" "cannot create a mount namespace (needed to stand in for journald)"
        tap_end
        exit
fi
if ! grep -q "sd_journal_send" "$WRITER" 2>/dev/null; then
        tap_skip "journal mirror" "built without libsystemd"
        tap_end
        exit
fi

export WRITER T here
"${ns[@]}" bash -c '
        mount -t tmpfs -o mode=0755 tmpfs /run || exit 2
        mkdir -p /run/systemd/journal
        # No journal yet: the record reaches the file and the failure is reported.
        "$WRITER" --journal "$T/nojournal.jsonl" 1 2>"$T/nojournal.err"
        echo $? >"$T/nojournal.rc"
        python3 "$here/journal-sink.py" /run/systemd/journal/socket 3 "$T/journal.json" &
        sink=$!
        for _ in $(seq 100); do [ -e /run/systemd/journal/socket.ready ] && break; sleep 0.05; done
        "$WRITER" --journal "$T/j.jsonl" 2 && "$WRITER" --journal --profile "big" --pad 250000 "$T/j.jsonl" 1
        echo $? >"$T/writer.rc"
        wait $sink
'
check "without a journal the writer fails" test "$(cat "$T/nojournal.rc")" -ne 0
check "without a journal the record is still in the file" test "$(wc -l <"$T/nojournal.jsonl")" -eq 1
check "with a journal the writer succeeds" test "$(cat "$T/writer.rc" 2>/dev/null)" = 0
check "three journal messages received" test "$(wc -l <"$T/journal.json" 2>/dev/null)" = 3
check "MESSAGE_ID is moat's audit id" \
        test "$(jq -r .MESSAGE_ID "$T/journal.json" | sort -u)" = a5eae028d288486d90676c05d6d050e4
check "MOAT_RECORD is the appended line, MOAT_RECORD_HASH its hash" \
        test "$(jq -r .MOAT_RECORD "$T/journal.json")" = "$(cat "$T/j.jsonl")" -a \
        "$(jq -r .MOAT_RECORD_HASH "$T/journal.json")" = "$(jq -r .hash "$T/j.jsonl")"
check "structured fields: result, profile, tier, exit status, denials" \
        test "$(jq -r '[.MOAT_RESULT, .MOAT_PROFILE, .MOAT_TIER, .MOAT_EXIT_STATUS, .MOAT_DENIALS] | join(",")' "$T/journal.json" | head -1)" = "exited,ci-untrusted,sandbox,0,1"
check "a large record (250 KB) arrives whole" \
        test "$(jq -r 'select(.MOAT_PROFILE == "big") | .MOAT_RECORD | length' "$T/journal.json")" -gt 240000

tap_end
