#!/bin/bash
# resources.output through the real binary, as root and as moatuser: a chatty command stops at
# `output` with exactly the cap passed on (stdout and stderr counted together), exit 137
# (SIGKILL of the tree, 128+9) and the verdict in the --result file and the audit record; a
# command at or under the cap is unaffected. From inside, the workload's stdout and stderr are
# the relay's pipes, whatever moat's own are.
source "$(dirname "$0")/lib.sh"

CAP=1048576

# output_profile FILE OUTPUT
output_profile() {
        write_profile "$1" output 'filesystem:' '  root: host-readonly' \
                '  bind:' '    - {source: ., target: /work, mode: rw}' \
                'resources:' "  output: $2" '  timeout: 30s'
}

# run_out USER PROFILE COMMAND...: moat run --result, stdout and stderr into files; sets RC,
# RES (the result document), OUT and ERR (bytes received on each), MS (wall time of moat).
run_out() {
        local u=$1 p=$2 d t0
        shift 2
        d=$(user_dir "$u")
        rm -f "$d/work/result.json" "$T/out-$u" "$T/err-$u"
        t0=$(date +%s%N)
        as_user "$u" "$MOAT" run -q --result "$d/work/result.json" -p "$p" -- "$@" \
                >"$T/out-$u" 2>"$T/err-$u"
        RC=$?
        MS=$((($(date +%s%N) - t0) / 1000000))
        RES=$(cat "$d/work/result.json" 2>/dev/null || echo '{}')
        OUT=$(stat -c %s "$T/out-$u")
        ERR=$(stat -c %s "$T/err-$u")
}
field() { jq -r "$1" <<<"$RES"; }

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        output_profile "$T/out-$u.yaml" 1MiB

        ctl=$(as_user "$u" "$MOAT" explain --json -p "$T/out-$u.yaml" 2>/dev/null |
                jq -r '.controls[] | select(.name == "output") | .status + " " + .detail')
        check "[$u] the plan has a required output control ($ctl)" \
                grep -q '^required .*killed past 1 MiB' <<<"$ctl"

        # a chatty command: exactly the cap is passed on, then the tree is killed
        run_out "$u" "$T/out-$u.yaml" sh -c 'yes | head -c 10M'
        diag "[$u] yes | head -c 10M: exit $RC, $OUT bytes out, verdict $(field .verdict), ${MS} ms"
        check "[$u] chatty: verdict output (got $(field .verdict))" test "$(field .verdict)" = output
        check "[$u] ... exit 137, SIGKILL (got $RC, $(field .signal_name))" \
                test "$RC/$(field .status)/$(field .signal_name)" = 137/137/SIGKILL
        check "[$u] ... exactly $CAP bytes reached moat's stdout (got $OUT)" test "$OUT" -eq $CAP
        check "[$u] ... limits.output_bytes is the cap ($(field .limits.output_bytes))" \
                test "$(field .limits.output_bytes)" = $CAP
        rec=$(last_audit "$u")
        check "[$u] ... the audit record: verdict output, the output control applied" \
                test "$(jq -r '.verdict + " " + (.controls[] | select(.name == "output") | .outcome)' <<<"$rec")" = "output applied"

        # stderr counts together with stdout; killed before the sleep
        run_out "$u" "$T/out-$u.yaml" sh -c 'head -c 600K /dev/zero; head -c 600K /dev/zero >&2; sleep 20'
        diag "[$u] 600 KiB + 600 KiB: $OUT + $ERR bytes, verdict $(field .verdict), ${MS} ms"
        check "[$u] stdout + stderr: verdict output, exit 137 (got $(field .verdict), $RC)" \
                test "$(field .verdict)/$RC" = output/137
        check "[$u] ... $CAP bytes in all ($OUT + $ERR), all of stdout first" \
                test $((OUT + ERR)) -eq $CAP -a "$OUT" -eq 614400
        check "[$u] ... stopped then, not at the 20 s sleep (${MS} ms)" test "$MS" -lt 15000

        # at the cap and under it: the command's own end, its output intact
        run_out "$u" "$T/out-$u.yaml" head -c $CAP /dev/zero
        check "[$u] exactly the cap: exited 0, $CAP bytes (got $(field .verdict) $RC, $OUT)" \
                test "$(field .verdict)/$RC/$OUT" = exited/0/$CAP
        run_out "$u" "$T/out-$u.yaml" sh -c 'echo out; echo err >&2; exit 3'
        check "[$u] under the cap: exited 3, both streams intact" \
                test "$(field .verdict)/$RC/$(cat "$T/out-$u")/$(cat "$T/err-$u")" = exited/3/out/err

        # moat's stdout a pipe: the same cap through it
        n=$(as_user "$u" "$MOAT" run -q -p "$T/out-$u.yaml" -- sh -c 'yes | head -c 10M' 2>/dev/null | wc -c)
        check "[$u] into a pipe: $CAP bytes (got $n)" test "$n" -eq $CAP

        # from inside: the workload writes into the relay's pipes
        run_out "$u" "$T/out-$u.yaml" sh -c 'stat -L -c %F /proc/self/fd/1 /proc/self/fd/2'
        check "[$u] inside, stdout and stderr are pipes ($(tr '\n' ' ' <"$T/out-$u"))" \
                test "$(sort -u "$T/out-$u")" = fifo
        # moat's stdout and stderr the same open file: one pipe, the interleaving kept
        as_user "$u" "$MOAT" run -q -p "$T/out-$u.yaml" -- \
                sh -c 'echo 1; echo 2 >&2; echo 3; echo 4 >&2' >"$T/both-$u" 2>&1
        check "[$u] 2>&1: the order of stdout and stderr kept ($(tr '\n' ' ' <"$T/both-$u"))" \
                test "$(tr -d '\n' <"$T/both-$u")" = 1234
done

tap_end
