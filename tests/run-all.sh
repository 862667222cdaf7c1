#!/bin/bash
# SPDX-License-Identifier: MIT
# The whole test suite, from a fresh Debian 12 machine, as root:
#
#     bash tests/run-all.sh
#
# Steps: install build dependencies, install the vm tier's guest kernel, create the
# unprivileged test user, build every feature with -Dwerror=true and run every meson suite
# with MOAT_MUST_WORK=1 (a skip for a capability this machine has is a failure), rebuild
# with AddressSanitizer+UndefinedBehaviorSanitizer and run the unit suite, fuzz each
# libFuzzer harness briefly on its kept corpus, and check formatting. It prints one line
# per step and ends with exactly one line "N passed, M failed[, K skipped]" counting
# individual tests (each TAP subtest, each cmocka test) plus one per non-test step. Exit
# status 0 only when nothing failed. Safe to run again on the same machine: build
# directories are wiped and every helper it calls is idempotent.
#
# Logs: build-logs/<step>.log under the source tree (ignored by git).
set -uo pipefail

# Whether a clang-format difference fails the run (1) or is only reported, counted as
# skipped (0). The formatting check covers launcher/, audit/ and tests/ *.c and *.h.
FORMAT_GATES=1

# Seconds of fuzzing shared by all harnesses.
FUZZ_SECONDS=${MOAT_FUZZ_SECONDS:-30}
# Parallel jobs for ninja and meson test.
JOBS=${MOAT_JOBS:-$(nproc)}
# Every suite must run what this machine can run.
export MOAT_MUST_WORK=1
# The system tier's real image build (mmdebstrap from the Debian archive the deps step already
# uses; ~20-120 s), not only the busybox image the other system tests use.
export MOAT_SYSTEM_IMAGE_BUILD=1
# cmocka reports each test as a TAP line, so each one is counted (see count_testlog).
export CMOCKA_MESSAGE_OUTPUT=TAP

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
logs=$src/build-logs

features=(-Dapparmor=enabled -Dselinux=enabled -Dlxc=enabled -Dlibvirt=enabled)
passed=0
failed=0
skipped=0
summary=()
run_start=$(date +%s)

say() { printf '==> %s\n' "$*"; }

# record STEP RESULT SECONDS DETAIL
record() {
        summary+=("$(printf '%-22s %-5s %5ss  %s' "$1" "$2" "$3" "$4")")
}

# step NAME TIMEOUT COMMAND... : one counted step; output to build-logs/NAME.log.
step() {
        local name=$1 limit=$2
        shift 2
        local t0 rc
        say "$name"
        t0=$(date +%s)
        printf '+ %q ' "$@" >"$logs/$name.log"
        echo >>"$logs/$name.log"
        timeout --kill-after=30 "$limit" "$@" </dev/null >>"$logs/$name.log" 2>&1
        rc=$?
        local dt=$(($(date +%s) - t0))
        if ((rc == 0)); then
                passed=$((passed + 1))
                record "$name" ok "$dt" ""
        else
                failed=$((failed + 1))
                local why="exit $rc"
                ((rc == 124)) && why="timed out after ${limit}s"
                record "$name" FAIL "$dt" "$why, see build-logs/$name.log"
                tail -n 30 "$logs/$name.log" | sed 's/^/    /'
        fi
        return $rc
}

# skip_step NAME REASON
skip_step() {
        skipped=$((skipped + 1))
        record "$1" skip 0 "$2"
        say "$1: skipped: $2"
}

# count_testlog LABEL BUILDDIR : add meson's per-test results (from testlog.json) to the
# totals. A TAP test counts each subtest ("ok", "ok # SKIP", "not ok"); cmocka binaries
# print TAP too (CMOCKA_MESSAGE_OUTPUT=TAP). A test whose overall result is a failure but
# that printed no failing subtest (crash, timeout, bad plan) adds one failure; a test with
# no subtests counts once by its result.
count_testlog() {
        local label=$1 dir=$2
        local out
        out=$(python3 - "$dir/meson-logs/testlog.json" "$logs/$label-failures.txt" <<'EOF'
import json, re, sys

ok_re = re.compile(r'^\s*ok\b(.*)$')
notok_re = re.compile(r'^\s*not ok\b(.*)$')
skip_re = re.compile(r'#\s*skip', re.I)
todo_re = re.compile(r'#\s*todo', re.I)
passed = failed = skipped = 0
failures = []
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError as e:
    print(f"0 1 0 cannot read {sys.argv[1]}: {e.strerror}")
    sys.exit(0)
for line in lines:
    if not line.strip():
        continue
    t = json.loads(line)
    name, result = t['name'], t['result']
    p = f = s = 0
    for out in (t.get('stdout') or '').splitlines():
        m = notok_re.match(out)
        if m:
            if todo_re.search(m.group(1)) or skip_re.search(m.group(1)):
                s += 1
            else:
                f += 1
                failures.append(f"{name}: not ok{m.group(1)}")
            continue
        m = ok_re.match(out)
        if m:
            if skip_re.search(m.group(1)):
                s += 1
            else:
                p += 1
    bad = result not in ('OK', 'SKIP', 'EXPECTEDFAIL')
    if p + f + s == 0:
        if result == 'SKIP':
            s = 1
        elif bad:
            f = 1
        else:
            p = 1
    elif bad and f == 0:
        f = 1
    if bad:
        failures.append(f"{name}: {result}")
    passed += p
    failed += f
    skipped += s
with open(sys.argv[2], 'w') as fh:
    fh.write('\n'.join(failures) + ('\n' if failures else ''))
print(passed, failed, skipped, f"{len(lines)} meson tests")
EOF
)
        local p f s rest
        read -r p f s rest <<<"$out"
        passed=$((passed + p))
        failed=$((failed + f))
        skipped=$((skipped + s))
        record "$label" "$( ((f == 0)) && echo ok || echo FAIL)" "${3:-0}" \
                "$p passed, $f failed, $s skipped ($rest)"
        if ((f > 0)); then
                say "$label: failures:"
                sed 's/^/    /' "$logs/$label-failures.txt" | head -n 40
                local n_lines
                n_lines=$(wc -l <"$logs/$label-failures.txt")
                ((n_lines > 40)) && echo "    ... $((n_lines - 40)) more in build-logs/$label-failures.txt"
        fi
}

# meson_tests LABEL BUILDDIR [meson test args...]
meson_tests() {
        local label=$1 dir=$2
        shift 2
        local t0 rc
        say "$label: meson test -C $dir $*"
        t0=$(date +%s)
        rm -f "$dir/meson-logs/testlog.json"
        meson test -C "$dir" --num-processes "$JOBS" --print-errorlogs "$@" </dev/null \
                >"$logs/$label.log" 2>&1
        rc=$?
        grep -E '^(Ok|Fail|Skipped|Timeout|Expected Fail|Unexpected Pass):' "$logs/$label.log" |
                tr -s ' ' | paste -sd' ' | sed 's/^/    /'
        count_testlog "$label" "$dir" "$(($(date +%s) - t0))"
        # meson itself failing without a test log (a build error) is a failure of its own.
        if ((rc != 0)) && [[ ! -s $dir/meson-logs/testlog.json ]]; then
                failed=$((failed + 1))
                tail -n 30 "$logs/$label.log" | sed 's/^/    /'
        fi
}

# setup_build DIR [meson setup args...] : a fresh build directory every time.
setup_build() {
        local dir=$1
        shift
        rm -rf "$dir"
        meson setup "$dir" "$@"
}

main() {
        cd "$src" || exit 1
        rm -rf "$logs"
        mkdir -p "$logs"
        if (($(id -u) != 0)); then
                echo "tests/run-all.sh must run as root (it installs packages and creates a test user)" >&2
                echo "0 passed, 1 failed"
                exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive

        # --- 1. the machine ---------------------------------------------------------------------
        step deps 2400 bash tests/helpers/install-deps.sh

        if [[ -f launcher/vm/guest/moat-guest-kernel.sh ]]; then
                step guest-kernel 1200 bash launcher/vm/guest/moat-guest-kernel.sh
        else
                skip_step guest-kernel "launcher/vm/guest/moat-guest-kernel.sh does not exist"
        fi

        # Debian 13's AppArmor 4 parser and 6.12 kernel, unpacked into /var/cache/moat/trixie
        # (~112 MB once, nothing on later runs), for policies-compile-aa4 and vm-apparmor-userns.
        if [[ -f tests/helpers/fetch-trixie.sh ]]; then
                step trixie-apparmor 900 bash tests/helpers/fetch-trixie.sh
        else
                skip_step trixie-apparmor "tests/helpers/fetch-trixie.sh does not exist"
        fi

        if [[ -f tests/helpers/setup-test-user.sh ]]; then
                step test-user 300 bash tests/helpers/setup-test-user.sh
        else
                skip_step test-user "tests/helpers/setup-test-user.sh does not exist"
        fi

        # --- 2. the release build and every suite -------------------------------------------------
        if step build-ci 1800 bash -c "$(declare -f setup_build); \
                        setup_build build-ci -Dwerror=true ${features[*]} && ninja -C build-ci -j$JOBS"; then
                meson_tests tests build-ci
        else
                skip_step tests "build-ci did not build"
        fi

        # --- 3. sanitizers: the unit suite under ASan+UBSan ----------------------------------------
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1
        export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
        # Sanitized code runs several times slower, hence the longer timeouts.
        # Configure only: meson test builds just what the unit suite needs. Static helpers
        # (the in-sandbox probe, the guest init) cannot link with ASan and are not unit tests.
        if step setup-asan 600 bash -c "$(declare -f setup_build); \
                        CC=gcc setup_build build-asan -Db_sanitize=address,undefined -Db_lundef=false \
                                -Dbuildtype=debug ${features[*]}"; then
                meson_tests asan-unit build-asan --suite unit --timeout-multiplier 3
        else
                skip_step asan-unit "build-asan could not be configured"
        fi

        # --- 4. fuzzing: each libFuzzer harness on its kept corpus ---------------------------------
        expected_harnesses=(fuzz-profile fuzz-policy fuzz-resolve fuzz-host-facts fuzz-audit-verify fuzz-proxy fuzz-vm-netmux fuzz-dns fuzz-nft fuzz-vm-status fuzz-oci)
        if step build-fuzz 1800 bash -c "$(declare -f setup_build); \
                        CC=clang setup_build build-fuzz -Dfuzz=true -Db_sanitize=address,undefined \
                                -Db_lundef=false ${features[*]}"; then
                harnesses=()
                configured=$(meson introspect --targets build-fuzz | python3 -c \
                        'import json, sys; print("\n".join(t["name"] for t in json.load(sys.stdin)))')
                for h in "${expected_harnesses[@]}"; do
                        if grep -qx -- "$h" <<<"$configured"; then
                                harnesses+=("$h")
                        else
                                # MOAT_MUST_WORK: every harness must exist.
                                failed=$((failed + 1))
                                record "fuzz:$h" FAIL 0 "harness not configured (its module has no sources)"
                        fi
                done
                if ((${#harnesses[@]})) &&
                        step build-fuzz-harnesses 1800 ninja -C build-fuzz -j"$JOBS" \
                                "${harnesses[@]/#/tests/fuzz/}"; then
                        per=$((FUZZ_SECONDS / ${#harnesses[@]}))
                        ((per < 1)) && per=1
                        for h in "${harnesses[@]}"; do
                                corpus=tests/fuzz/corpus/${h#fuzz-}
                                work=$(mktemp -d)
                                mkdir -p "$logs/fuzz-artifacts"
                                if [[ -d $corpus ]]; then
                                        # New inputs go to $work; the kept corpus is only read.
                                        step "fuzz:$h" $((per + 120)) env MOAT_SOURCE_DIR="$src" \
                                                build-fuzz/tests/fuzz/"$h" -max_total_time="$per" \
                                                -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
                                                -artifact_prefix="$logs/fuzz-artifacts/$h-" \
                                                "$work" "$corpus"
                                else
                                        failed=$((failed + 1))
                                        record "fuzz:$h" FAIL 0 "no kept corpus at $corpus"
                                fi
                                rm -rf "$work"
                        done
                fi
        fi

        # --- 5. formatting ------------------------------------------------------------------------
        check_format() {
                local f n total=0 files=0 dirty=0
                while IFS= read -r f; do
                        files=$((files + 1))
                        n=$(clang-format --style=file "$f" | diff -u "$f" - | grep -c '^[-+][^-+]')
                        if ((n > 0)); then
                                dirty=$((dirty + 1))
                                total=$((total + n))
                                printf '%6d changed lines  %s\n' "$n" "$f"
                        fi
                done < <(git ls-files -- 'launcher/*.[ch]' 'audit/*.[ch]' 'tests/*.[ch]')
                echo "clang-format: $dirty of $files files differ ($total changed lines)"
                ((dirty == 0))
        }
        say "format: clang-format over launcher/ audit/ tests/ (gating: $FORMAT_GATES)"
        t0=$(date +%s)
        check_format >"$logs/format.log" 2>&1
        rc=$?
        dt=$(($(date +%s) - t0))
        detail=$(tail -n 1 "$logs/format.log")
        if ((rc == 0)); then
                passed=$((passed + 1))
                record format ok "$dt" "$detail"
        elif ((FORMAT_GATES)); then
                failed=$((failed + 1))
                record format FAIL "$dt" "$detail, see build-logs/format.log"
        else
                skipped=$((skipped + 1))
                record format skip "$dt" "$detail (advisory: FORMAT_GATES=0)"
        fi
        sort -rn "$logs/format.log" | head -n 15 | sed 's/^/    /'

        # --- summary ------------------------------------------------------------------------------
        echo
        echo "step                   result  time  detail"
        printf '%s\n' "${summary[@]}"
        echo "total time $(($(date +%s) - run_start))s; logs in build-logs/"
        line="$passed passed, $failed failed"
        ((skipped)) && line+=", $skipped skipped"
        echo "$line"
        ((failed == 0))
}

# --self-test: check the counting behind the final line on a synthetic meson test log
# (no root, no build). Registered as a unit test in tests/meson.build.
self_test() {
        local dir
        dir=$(mktemp -d)
        logs=$dir/logs
        mkdir -p "$dir/meson-logs" "$logs"
        python3 - "$dir/meson-logs/testlog.json" <<'EOF'
import json, sys
tests = [
    ("exitcode ok", "OK", "plain output\n"),                                  # 1 passed
    ("tap ok", "OK", "ok 1 - a\nok 2 - b\nok 3 - c\nok 4 - d # SKIP no kvm\n1..4\n"),  # 3 p, 1 s
    ("tap fail", "FAIL", "ok 1 - a\nnot ok 2 - b\nok 3 - c\n1..3\n"),            # 2 p, 1 f
    ("tap timeout", "TIMEOUT", "ok 1 - a\nok 2 - b\n"),                          # 2 p, 1 f
    ("exitcode skip", "SKIP", "skipping: no AppArmor\n"),                        # 1 s
    ("cmocka tap", "FAIL", "1..2\nok 1 - t_a\nnot ok 2 - t_b\n# fail at x.c:3\n"),  # 1 p, 1 f
    ("exitcode fail", "FAIL", ""),                                             # 1 f
    ("tap todo", "OK", "ok 1 - y\nnot ok 2 - x # TODO later\n"),                  # 1 p, 1 s
]
with open(sys.argv[1], "w") as f:
    for name, result, out in tests:
        f.write(json.dumps({"name": name, "result": result, "stdout": out}) + "\n")
EOF
        count_testlog selftest "$dir" >/dev/null
        local got="$passed $failed $skipped"
        rm -rf "$dir"
        if [[ $got == "10 4 3" ]]; then
                echo "run-all counting: ok (10 passed, 4 failed, 3 skipped)"
                return 0
        fi
        echo "run-all counting: got '$got' (passed failed skipped), want '10 4 3'" >&2
        return 1
}

# Parsed whole before it runs: editing this file during a run cannot change the run.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
        if [[ ${1:-} == --self-test ]]; then
                self_test
                exit $?
        fi
        main "$@"
        exit $?
fi
