#!/bin/bash
# Records written by the real `moat run`, as root and as the unprivileged test user: a
# successful run, a refusal, a failed start, a timeout and a run with seccomp denials (names
# and counts), the per-user default log location and modes, a symlinked log refused, and a
# few real runs in parallel giving one intact chain, a log the record would be refused from
# (a symlink, group-writable, another user's, read-only) refusing the run before it starts, and
# a site policy that moves the log and keys the chain.
source "$(dirname "$0")/lib.sh"

if [ ! -x "${MOAT_PROBE:-}" ]; then
        echo "1..0 # SKIP moat-probe not built (MOAT_PROBE=${MOAT_PROBE:-})"
        exit 77
fi
USERS=("$(id -un)")
if [ "$(id -u)" -eq 0 ]; then
        if command -v setpriv >/dev/null && "$MOAT_SOURCE_DIR/tests/helpers/setup-test-user.sh" >/dev/null; then
                USERS+=(moatuser)
        else
                tap_skip "runs as moatuser" "setpriv or setup-test-user.sh unavailable" present
        fi
fi

# as_user USER [VAR=VALUE...] -- COMMAND...: hermetic environment inside $T/USER, run as USER.
as_user() {
        local u=$1 d=$T/$1
        shift
        local envv=(HOME="$d/home" XDG_CONFIG_HOME="$d/home/.config" XDG_STATE_HOME="$d/home/.local/state"
                XDG_CACHE_HOME="$d/home/.cache" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
                MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_AUDIT_LOG="$d/audit.jsonl")
        while [ "$1" != -- ]; do envv+=("$1"); shift; done
        shift
        if [ "$u" = "$(id -un)" ]; then
                (cd "$d/work" && env -i "${envv[@]}" "$@")
        else
                (cd "$d/work" && setpriv --reuid="$u" --regid="$u" --init-groups --reset-env \
                        env -i "${envv[@]}" "$@")
        fi
}

profile() {
        printf 'moat: 1\nname: %s\n' "$2" >"$T/$1.yaml"
        cat >>"$T/$1.yaml"
        chmod 0644 "$T/$1.yaml"
}
profile run run <<'YAML'
isolation: sandbox
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
network: none
YAML
profile refuse refuse <<'YAML'
trust: hostile
max_tier: sandbox
YAML
profile badbind badbind <<'YAML'
isolation: sandbox
filesystem:
  root: host-readonly
  bind:
    - {source: /nonexistent/moat-audit-test, target: /x, mode: ro}
YAML
profile slow slow <<'YAML'
isolation: sandbox
resources: {timeout: 1s}
YAML

# rec USER N: the Nth record (1-based) of the user's log, or the last one for N = last.
rec() { if [ "$2" = last ]; then tail -n 1 "$T/$1/audit.jsonl"; else sed -n "$2p" "$T/$1/audit.jsonl"; fi; }
q() { jq -r "$2" <<<"$1"; }

for u in "${USERS[@]}"; do
        d=$T/$u
        mkdir -p "$d/home" "$d/work"
        cp "$MOAT_PROBE" "$d/work/moat-probe"
        [ "$u" = "$(id -un)" ] || chown -R "$u:" "$d"
        uid=$(id -u "$u")

        as_user "$u" -- "$MOAT" run -p "$T/run.yaml" -- sh -c 'exit 3' 2>/dev/null
        r=$(rec "$u" last)
        check "[$u] success: exit 3 passed through and recorded" \
                test "$(q "$r" '[.result, .exit.code, .exit.status] | join(",")')" = "exited,3,3"
        check "[$u] success: the invoking uid and user" \
                test "$(q "$r" '[.user.uid, .user.name] | join(",")')" = "$uid,$u"
        check "[$u] success: argv, workdir, tier, profile" \
                test "$(q "$r" '[.command.argv[0], .command.workdir, .tier, .profile.name] | join(",")')" = "sh,$d/work,sandbox,run"
        check "[$u] success: profile and policy digests" \
                test "$(q "$r" '[.profile.sha256, .policy.sha256] | map(test("^[0-9a-f]{64}$") and . != ("0" * 64)) | all')" = true
        check "[$u] success: every control applied or not applicable" \
                test "$(q "$r" '[.controls[].outcome] | unique | map(select(. != "applied" and . != "not-applicable")) | length')" = 0
        check "[$u] success: decisions carry rule ids" test "$(q "$r" '[.decisions[].rule | length > 0] | all')" = true
        check "[$u] success: wall time and host facts" \
                test "$(q "$r" '(.usage.wall_ns > 0) and (.host_facts.kernel | length > 0) and (.host | length > 0)')" = true
        check "[$u] success: time is RFC 3339 UTC with fractional seconds" \
                grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]+Z$' <<<"$(q "$r" .time)"

        as_user "$u" -- "$MOAT" run -p "$T/refuse.yaml" -- true 2>/dev/null
        rc=$?
        r=$(rec "$u" last)
        check "[$u] refusal: exit 125, result refused" test "$rc/$(q "$r" .result)" = "125/refused"
        check "[$u] refusal: every control not-reached" \
                test "$(q "$r" '[.controls[].outcome] | unique | join(",")')" = not-reached
        check "[$u] refusal: the reason and the refusing rule" \
                test "$(q "$r" '(.error.message | test("trust-hostile")) and ([.decisions[].rule] | index("trust-hostile") != null)')" = true

        as_user "$u" -- "$MOAT" run -p "$T/badbind.yaml" -- true 2>/dev/null
        rc=$?
        r=$(rec "$u" last)
        check "[$u] failed start: exit 125, result failed-to-start" test "$rc/$(q "$r" .result)" = "125/failed-to-start"
        check "[$u] failed start: step and errno" \
                test "$(q "$r" '[.error.step, .error.errno_name] | join(",")')" = "mount /x,ENOENT"
        check "[$u] failed start: a control marked failed" \
                test "$(q "$r" '[.controls[].outcome] | index("failed") != null')" = true

        as_user "$u" -- "$MOAT" run -p "$T/slow.yaml" -- sleep 30 2>/dev/null
        rc=$?
        r=$(rec "$u" last)
        check "[$u] timeout: result timeout, timed_out, signal recorded" \
                test "$(q "$r" '[.result, .exit.timed_out, (.exit.signal > 0)] | join(",")')" = "timeout,true,true"
        check "[$u] timeout: exit status 128+signal ($rc)" test "$(q "$r" '.exit.status')" = "$rc"

        as_user "$u" -- "$MOAT" run -p "$T/run.yaml" -- /work/moat-probe --try-syscall keyctl \
                --try-syscall keyctl --try-syscall keyctl --try-syscall ptrace >/dev/null 2>&1
        r=$(rec "$u" last)
        if [ "$(q "$r" '.denials | length')" -gt 0 ]; then
                check "[$u] denials: keyctl x3 from the keys group, with its origin" \
                        test "$(q "$r" '.denials[] | select(.syscall == "keyctl") | [.count, .arch, .group, (.origin | test("^policies/seccomp/default.yaml:[0-9]+$"))] | join(",")')" = "3,x86_64,keys,true"
                check "[$u] denials: ptrace x1" \
                        test "$(q "$r" '.denials[] | select(.syscall == "ptrace") | .count')" = 1
                check "[$u] denials: first_seen is RFC 3339" \
                        test "$(q "$r" '[.denials[].first_seen | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]+Z$")] | all')" = true
                run_moat audit show --denied "$d/audit.jsonl"
                check "[$u] show --denied prints the denials line" \
                        grep -qE "denied keyctl \(x86_64\) x3 — policies/seccomp/default.yaml:[0-9]+ group keys" <<<"$out"
        else
                tap_skip "[$u] denials recorded" "this run reported no denials (no seccomp user notification?)" \
                        "$(grep -q user_notif /proc/sys/kernel/seccomp/actions_avail && echo present)"
        fi
        expect_rc "[$u] the user's log verifies" 0 "intact: 5 run records" -- audit verify "$d/audit.jsonl"

        # Parallel real runs append to one chain.
        for i in 1 2 3 4 5 6; do
                as_user "$u" -- "$MOAT" run -p "$T/run.yaml" -- true 2>/dev/null &
        done
        wait
        expect_rc "[$u] 6 parallel moat runs: 11 intact records" 0 "intact: 11 run records" -- audit verify "$d/audit.jsonl"

        # A symlink planted where the log goes is refused, and its target left alone.
        echo precious >"$d/target"
        ln -s "$d/target" "$d/link.jsonl"
        [ "$u" = "$(id -un)" ] || chown -h "$u:" "$d/target" "$d/link.jsonl"
        rm -f "$d/work/ran"
        as_user "$u" MOAT_AUDIT_LOG="$d/link.jsonl" -- "$MOAT" run -p "$T/run.yaml" -- touch ran 2>"$T/err"
        rc=$?
        check "[$u] symlinked log: the run reports the audit failure" grep -qi "audit" "$T/err"
        check "[$u] symlinked log: its target is untouched" test "$(cat "$d/target")" = precious
        check_all "[$u] symlinked log: the command was not started (125), saying why" \
                '[ $rc -eq 125 ] && [ ! -e "$d/work/ran" ] && grep -q "the run was not started" "$T/err" && grep -q "symbolic link" "$T/err"' ||
                diag "rc=$rc $(cat "$T/err")"

        # A log the record would be refused from (writable by the group; not the caller's;
        # not writable by its owner, who is not root) refuses the run before it starts: a run
        # without its record does not happen. The log is left as it was.
        for bad in group-writable foreign read-only; do
                f=$d/$bad.jsonl
                printf 'keep\n' >"$f"
                case $bad in
                group-writable) chmod 0620 "$f"; [ "$u" = "$(id -un)" ] || chown "$u:" "$f" ;;
                foreign) [ "$u" = root ] && chown moatuser: "$f" 2>/dev/null; chmod 0600 "$f" ;;
                read-only) chmod 0400 "$f"; [ "$u" = "$(id -un)" ] || chown "$u:" "$f" ;;
                esac
                [ $bad = foreign ] && [ "$u" = root ] && ! id moatuser >/dev/null 2>&1 && continue
                [ $bad = read-only ] && [ "$u" = root ] && continue # root writes it anyway
                rm -f "$d/work/ran"
                as_user "$u" MOAT_AUDIT_LOG="$f" -- "$MOAT" run -p "$T/run.yaml" -- touch ran 2>"$T/err"
                rc=$?
                check_all "[$u] $bad log: the command was not started (125), the log unchanged" \
                        '[ $rc -eq 125 ] && [ ! -e "$d/work/ran" ] && [ "$(cat "$f")" = keep ] && grep -q "the run was not started" "$T/err"' ||
                        diag "rc=$rc $(cat "$T/err")"
        done

        # A site policy that moves the log and keys the chain.
        head -c 32 /dev/urandom >"$d/key"
        chmod 0600 "$d/key"
        printf 'moat: 1\naudit:\n  log: %s\n  hmac_key_file: %s\n' "$d/site/audit.jsonl" "$d/key" >"$d/site.yaml"
        [ "$u" = "$(id -un)" ] || chown "$u:" "$d/key" "$d/site.yaml"
        as_user "$u" MOAT_AUDIT_LOG= -- "$MOAT" run --policy "$d/site.yaml" -p "$T/run.yaml" -- true 2>/dev/null
        check "[$u] site policy: the record goes to the policy's audit.log" test -s "$d/site/audit.jsonl"
        check "[$u] site policy: the record is keyed" test "$(jq -r .chain "$d/site/audit.jsonl")" = hmac-sha256
        check "[$u] audit path --policy names the policy's log" \
                test "$(as_user "$u" MOAT_AUDIT_LOG= -- "$MOAT" audit path --policy "$d/site.yaml")" = "$d/site/audit.jsonl"
        as_user "$u" MOAT_AUDIT_LOG= -- "$MOAT" audit verify --policy "$d/site.yaml" >"$T/out" 2>&1
        check "[$u] audit verify --policy uses the policy's key" test $? -eq 0
        as_user "$u" MOAT_AUDIT_LOG= -- "$MOAT" audit verify "$d/site/audit.jsonl" >"$T/out" 2>&1
        check "[$u] without the key the keyed log does not verify" test $? -eq 1
        chmod 0644 "$d/key"
        as_user "$u" MOAT_AUDIT_LOG= -- "$MOAT" run --policy "$d/site.yaml" -p "$T/run.yaml" -- true 2>"$T/err"
        check "[$u] a key readable by others: the run reports the audit failure" grep -qi "audit" "$T/err"
        check "[$u] ... and no unkeyed record is written instead" test "$(wc -l <"$d/site/audit.jsonl")" -eq 1
done

# Durability: moat overlaps the record's sync with the sandbox's teardown, but exits only after
# an fdatasync of the log that follows the record's write (audit/README.md, fsync policy), and
# the --result file appears only after it too. Read from the system calls moat makes: the write
# of the record to the log's fd, then an fdatasync of that fd, then the rename of the result
# file into place and moat's exit_group.
if command -v strace >/dev/null; then
        strace -f -qq -e trace=openat,write,fdatasync,rename,exit_group -o "$T/strace" \
                "$MOAT" run --result "$T/durable.json" -p "$T/run.yaml" -- true >/dev/null 2>&1
        python3 "$MOAT_DATA_DIR/tests/helpers/durable-order.py" "$T/strace" "$MOAT_AUDIT_LOG" \
                "$T/durable.json" >"$T/order" 2>&1
        check "moat exits only after the record's write and an fdatasync of the log" \
                grep -qx exit:synced "$T/order"
        check "... and the --result file is put in place only after that fdatasync" \
                test "$(grep ^result: "$T/order")" = result:synced
else
        tap_skip "moat exits only after the record's write and an fdatasync of the log" \
                "strace is not installed"
        tap_skip "... and the --result file is put in place only after that fdatasync" \
                "strace is not installed"
fi

# The per-user default location (no MOAT_AUDIT_LOG), only for the unprivileged user: root's
# default is /var/log/moat, which a hermetic test must not touch.
if [[ " ${USERS[*]} " == *" moatuser "* ]]; then
        d=$T/moatuser
        as_user moatuser MOAT_AUDIT_LOG= -- "$MOAT" run -p "$T/run.yaml" -- true 2>/dev/null
        f=$d/home/.local/state/moat/audit.jsonl
        check "[moatuser] default log under \$XDG_STATE_HOME/moat" test -f "$f"
        check "[moatuser] default log is 0600 and owned by the user" test "$(stat -c %a:%U "$f")" = "600:moatuser"
        check "[moatuser] its directory is 0700" test "$(stat -c %a "$(dirname "$f")")" = 700
        check "[moatuser] moat audit path names it" \
                test "$(as_user moatuser MOAT_AUDIT_LOG= -- "$MOAT" audit path)" = "$f"
fi

tap_end
