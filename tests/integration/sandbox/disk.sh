#!/bin/bash
# resources.disk through the real binary, as root and as moatuser: a writer into the
# read-write work bind stops at `disk` (RLIMIT_FSIZE, best-effort, degraded; verdict disk from
# SIGXFSZ), one that ignores SIGXFSZ gets EFBIG and stops there too, a write under the bound
# is untouched, a required disk with a writable bind is refused before anything runs, and a
# required disk without a writable bind runs. Sizes are checked on the host's side of the
# bind, after the run.
source "$(dirname "$0")/lib.sh"

LIMIT=$((8 << 20))

# disk_profile FILE ENFORCE MODE
disk_profile() {
        write_profile "$1" disk 'filesystem:' '  root: host-readonly' \
                '  bind:' "    - {source: ., target: /work, mode: $3}" \
                '  tmpfs:' '    - {target: /tmp, size: 32MiB}' \
                'resources:' '  disk: 8MiB' '  timeout: 30s' "  enforce: $2"
}

# run_result USER PROFILE COMMAND...: sets RC and RES (the --result document, {} if none).
run_result() {
        local u=$1 p=$2 d
        shift 2
        d=$(user_dir "$u")
        rm -f "$d/result.json"
        as_user "$u" "$MOAT" run -q --result "$d/result.json" -p "$p" -- "$@" >/dev/null 2>"$T/err-$u"
        RC=$?
        RES=$(cat "$d/result.json" 2>/dev/null || echo '{}')
}
field() { jq -r "$1" <<<"$RES"; }
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        disk_profile "$T/be-$u.yaml" best-effort rw
        disk_profile "$T/req-$u.yaml" required rw
        disk_profile "$T/req-ro-$u.yaml" required ro

        plan=$(as_user "$u" "$MOAT" explain --json -p "$T/be-$u.yaml" 2>/dev/null)
        mech=$(jq -r '.resources.disk_mechanism // empty' <<<"$plan")
        diag "[$u] disk mechanism: ${mech:-unknown}"
        check "[$u] the plan names the mechanism: rlimit-fsize (got ${mech:-none})" test "$mech" = rlimit-fsize
        check "[$u] ... as degraded" \
                test "$(jq -r '.controls[] | select(.name == "disk") | .status' <<<"$plan")" = degraded

        # the writer: 64 MiB into the work bind, one file
        rm -f "$d/work/big"
        run_result "$u" "$T/be-$u.yaml" dd if=/dev/zero of=/work/big bs=1M count=64
        s=$(size_of "$d/work/big")
        diag "[$u] dd of 64 MiB: $s bytes on the host, exit $RC, verdict $(field .verdict) $(field .signal_name)"
        check "[$u] a writer into the rw work bind stops at disk ($s <= $LIMIT bytes on the host)" \
                test "$s" -le "$LIMIT"
        check "[$u] ... it wrote up to the bound ($s >= $((LIMIT - (1 << 20))))" test "$s" -ge $((LIMIT - (1 << 20)))
        check "[$u] ... verdict disk, SIGXFSZ, exit 153 (got $(field .verdict) $(field .signal_name) $RC)" \
                test "$(field .verdict)/$(field .signal_name)/$RC" = disk/SIGXFSZ/153
        check "[$u] ... the result lists disk as degraded and its limit" \
                test "$(field '(.degraded | index("disk") != null) and .limits.disk_bytes == 8388608')" = true
        check "[$u] ... the audit record has the same verdict" \
                test "$(last_audit "$u" | jq -r .verdict)" = disk

        # a writer that ignores SIGXFSZ gets EFBIG at the same size and exits on its own
        rm -f "$d/work/big"
        run_result "$u" "$T/be-$u.yaml" sh -c 'trap "" XFSZ; exec dd if=/dev/zero of=/work/big bs=1M count=64'
        s=$(size_of "$d/work/big")
        check "[$u] SIGXFSZ ignored: stops at disk too ($s <= $LIMIT bytes)" test "$s" -le "$LIMIT"
        check "[$u] ... EFBIG, the program's own failure: verdict exited, non-zero (got $(field .verdict) $(field .exit_code))" \
                test "$(field .verdict)" = exited -a "$(field .exit_code)" != 0
        check "[$u] ... dd says why" grep -q "File too large" "$T/err-$u"

        # under the bound: untouched
        rm -f "$d/work/big"
        run_result "$u" "$T/be-$u.yaml" dd if=/dev/zero of=/work/small bs=1M count=4
        check "[$u] 4 MiB under an 8 MiB disk: exited 0, all written (got $(field .verdict) $(field .exit_code), $(size_of "$d/work/small"))" \
                test "$(field .verdict)/$(field .exit_code)/$(size_of "$d/work/small")" = "exited/0/$((4 << 20))"

        # fallocate --keep-size reserves blocks past the end, where RLIMIT_FSIZE does not look:
        # every mode but 0 is denied (EOPNOTSUPP) while disk is in force
        rm -f "$d/work/small"
        run_result "$u" "$T/be-$u.yaml" sh -c ': >/work/fa && fallocate -n -l 64M /work/fa'
        a=$(($(stat -c %b "$d/work/fa" 2>/dev/null || echo 0) * $(stat -c %B "$d/work/fa" 2>/dev/null || echo 512)))
        check "[$u] fallocate --keep-size of 64 MiB: refused, $a bytes allocated on the host" \
                test "$a" -le "$LIMIT" -a "$(field .exit_code)" != 0
        rm -f "$d/work/fa"

        # What the per-file bound does not cover (SECURITY.md): two files under it each.
        rm -f "$d/work/small" "$d/work/a" "$d/work/b"
        run_result "$u" "$T/be-$u.yaml" sh -c 'dd if=/dev/zero of=/work/a bs=1M count=6 && dd if=/dev/zero of=/work/b bs=1M count=6'
        diag "[$u] per file, not the total: two 6 MiB files wrote $(($(size_of "$d/work/a") + $(size_of "$d/work/b"))) bytes (verdict $(field .verdict))"
        rm -f "$d/work/a" "$d/work/b"

        # required with a writable bind: refused before anything runs
        run_result "$u" "$T/req-$u.yaml" touch /work/ran
        check "[$u] required disk with a rw bind: refused, exit 125 (got $(field .verdict), $RC)" \
                test "$(field .verdict)/$RC" = refused/125
        check "[$u] ... the reason names resources.disk" grep -q "resources.disk" "$T/err-$u"
        check "[$u] ... and the command did not run" test ! -e "$d/work/ran"

        # required without a writable bind: nothing reaches the host, it runs
        run_result "$u" "$T/req-ro-$u.yaml" sh -c 'dd if=/dev/zero of=/tmp/t bs=1M count=4 2>/dev/null && ! touch /work/x 2>/dev/null'
        check "[$u] required disk, read-only work bind: runs, exit 0 (got $(field .verdict) $RC)" \
                test "$(field .verdict)/$RC" = exited/0
done

tap_end
