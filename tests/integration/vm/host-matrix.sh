#!/bin/bash
# The host matrix: host configurations that users have and this machine is not, each booted as
# a vm-tier guest (one boot per row, the row's kernel command line) in which the real moat runs
# as guest root and as moatuser (host-matrix-guest.sh collects; this script asserts). In each
# row, for every shipped profile (and the two in matrix/):
#   1. `moat host --json` reports the row's facts, as the row's golden fixture
#      (tests/fixtures/hosts) has them;
#   2. `moat explain --json` in the guest is byte for byte what the pure resolver gives here
#      with `--host-facts` the guest's facts;
#   3. the plan agrees with the golden plan of the row's fixture on the row's control, and the
#      row's table (user, profile, tier, refusal, key controls, run status) is the committed one
#      in tests/golden/matrix/ROW.txt (MOAT_MATRIX_UPDATE=1 rewrites it: update-matrix.sh);
#   4. `moat run` does what the plan says: a refused plan exits 125 printing exactly the plan's
#      refusal; a sandbox plan runs the probe, which shows the planned controls from inside,
#      and the audit record lists each control as planned and its outcome.
# The cgroup v2 row is cgroup-v2.sh. MOAT_MATRIX_ROWS="apparmor no-landlock" runs some rows.
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
[ -x "${MOAT_PROBE:-}" ] || skip_all "moat-probe not built"
command -v jq >/dev/null || skip_all "jq is not installed"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"

# name | guest kernel command line | golden fixture | what the row is
ROWS=(
        "apparmor|apparmor=1 security=apparmor|modern|AppArmor enabled, moat-default loaded"
        "no-userns|sysctl.user.max_user_namespaces=0|no-userns|user namespaces disabled"
        "no-landlock|lsm=lockdown,yama,apparmor|no-landlock|Landlock not in the LSM list"
)
SRC=$MOAT_SOURCE_DIR
MATRIX=$SRC/tests/integration/vm/matrix
GOLDEN=$SRC/tests/golden/matrix
FIXTURES=$SRC/tests/fixtures/hosts
PROFILES=("$SRC"/profiles/*.yaml "$MATRIX"/*.yaml)
SHIPPED=$(for p in "$SRC"/profiles/*.yaml; do basename "$p" .yaml; done)

u=${USERS[-1]}
d=$(user_dir "$u")
chown "$(qemu_uid "$u")" "$d/work"
cp "$(dirname "$0")/host-matrix-guest.sh" "$d/work/guest.sh"
chmod a+r "$d/work/guest.sh"
# The moat binary, the probe and their data, read-only at the same paths in the guest.
binds=(-b "$SRC:$SRC:ro")
for dir in "$MOAT_BUILD_DIR" "$MOAT_DATA_DIR"; do
        case "$dir/" in "$SRC"/*) ;; *) binds+=(-b "$dir:$dir:ro") ;; esac
done
mkdir -p "$T/host-home"

# expect NAME COMMAND...: check, and the command's status (for a diagnostic on failure).
expect() {
        local n=$1
        shift
        if "$@"; then tap_ok "$n"; else tap_not_ok "$n"; return 1; fi
}
guest_done() { [ "$1" = 0 ] && grep -qx DONE <<<"$2"; }
same_plan() { cmp -s "$1" "$2" && [ "$3" = "$4" ]; }
stops_naming() { [ "$1" = 125 ] && grep -q "$2" "$3"; } # RC TEXT ERR
jqt() { jq -e "$@" >/dev/null; }

# The row's facts, as moat host --json reports them (FACTS) and as the fixture has them.
row_facts() { # ROW FACTS FIXTURE WHO
        local f=$2 fx=$3 who=$4
        case $1 in
        apparmor)
                check "$1/$who: moat host: AppArmor enabled and in the LSM list, moat-default loaded" \
                        jqt '.apparmor_enabled == true and .apparmor_moat_loaded == true and
                               any(.lsms[]; . == "apparmor")' "$f"
                same_facts "$1/$who" "$f" "$fx" apparmor_enabled apparmor_moat_loaded
                ;;
        no-userns)
                check "$1/$who: moat host: user namespaces not usable, naming the sysctl" \
                        jqt '.userns_usable == false and .max_user_namespaces == 0 and
                               (.userns_reason | test("user.max_user_namespaces is 0"))' "$f"
                same_facts "$1/$who" "$f" "$fx" max_user_namespaces userns_usable userns_reason
                ;;
        no-landlock)
                check "$1/$who: moat host: Landlock ABI 0, not in the LSM list" \
                        jqt '.landlock_abi == 0 and .lsms != null and all(.lsms[]; . != "landlock")' "$f"
                same_facts "$1/$who" "$f" "$fx" landlock_abi
                ;;
        esac
}
same_facts() { # NAME FACTS FIXTURE FIELD...
        local name=$1 f=$2 fx=$3
        shift 3
        local sel
        sel=$(printf '.%s, ' "$@")
        sel="[${sel%, }]"
        check "$name: ... as the golden fixture $(basename "$fx" .json) has them ($*)" \
                [ "$(jq -c "$sel" "$f")" = "$(jq -c "$sel" "$fx")" ]
}

# What a row's plans must share with the golden plans of its fixture: the row's control and
# the rule it fires (the kernel release in a sentence is the fixture's or the guest's).
row_projection() {
        case $1 in
        apparmor) echo '[.sandbox.mac_status, .sandbox.apparmor_profile, .vm.guest_apparmor,
                          [.decisions[] | select(.rule == "missing-mac")]]' ;;
        no-userns) echo '[.tier, [.decisions[] | select(.rule == "missing-userns")]]' ;;
        no-landlock) echo '[.tier, .sandbox.landlock.status, .sandbox.landlock.abi,
                            [.decisions[] | select(.rule == "missing-landlock") |
                             .sentence |= sub("on kernel [^)]*"; "on kernel K")]]' ;;
        esac
}

# What the checks need of a guest plan, in one jq call (a process costs more than the check):
# line 1 tier, 2 refused, 3 "landlock status/abi", 4 the AppArmor profile or "", 5 whether the
# run's stderr is exactly the refusal, 6 the row's projection, then the row's table line: what
# the plan decides and what the run did.
plan_summary() { # ROW WHO NAME PLAN RC RUN_RC RUN_ERR KERNEL_RELEASE
        jq -r --arg who "$2" --arg n "$3" --arg rc "$5" --arg run "$6" --rawfile err "$7" \
                --arg k "$8" --arg src "$SRC" '
                def ctl($c): ([.controls[] | select(.name == $c) | .status] | first) // "-";
                .sandbox.landlock.abi as $abi | .tier, .refused, "\(.sandbox.landlock.status)/\(.sandbox.landlock.abi)",
                (.sandbox.apparmor_profile // ""),
                (.refused and $err == "moat: refused: \(.refusal)\n"),
                ('"$(row_projection "$1")"' | tojson),
                "\($who) \($n) exit=\($rc) tier=\(.tier) refused=\(.refused)" +
                " rules=\([.decisions[].rule] | join(",") | if . == "" then "-" else . end)" +
                " landlock=\(ctl("landlock") | if . == "-" then . else "\(.)/\($abi)" end)" +
                " apparmor=\(ctl("apparmor")):\(.sandbox.apparmor_profile // "-")" +
                " limits=\(.resources.mechanism // "-")/\(.resources.status // "-")" +
                " notify=\(.sandbox.seccomp.notify_denials // "-") run=\($run)" +
                (if .refused then "\n    refusal: " + (.refusal | gsub($k; "@GUEST_KERNEL@") |
                        gsub($src; "@SRC@") | split("\n") | join("\n    ")) else "" end)' "$4"
}

# The probe's view and the audit record against the plan of a sandbox run.
check_sandbox_run() { # NAME PLAN FACTS OUT AUDIT ERR
        local name=$1 plan=$2 facts=$3 out=$4 audit=$5 err=$6
        check "$name: the run's audit record lists the plan's controls, each with its outcome" \
                jqt --slurpfile p "$plan" '
                        [.controls[] | {name, status: .planned}] == [$p[0].controls[] | {name, status}] and
                        all(.controls[]; .outcome == {"required": "applied", "best-effort": "applied",
                                "degraded": "degraded", "not-applicable": "not-applicable"}[.planned])' "$audit"
        [ -s "$out" ] || return 0
        check "$name: probe: uid, single-id map, no_new_privs, seccomp filter, no capabilities" \
                jqt --slurpfile p "$plan" --slurpfile f "$facts" '
                        .uid == $p[0].sandbox.uid_inside and
                        (.uid_map | test("^ *\($p[0].sandbox.uid_inside) +\($f[0].uid) +1\n$")) and
                        .no_new_privs == 1 and .seccomp == 2 and .caps.CapEff == "0000000000000000" and
                        .caps.CapBnd == "0000000000000000"' "$out"
        local ll
        ll=${sum[2]}
        case $ll in
        required/[1-9]* | best-effort/[1-9]*)
                check "$name: probe: in a Landlock domain (plan: $ll)" \
                        jqt '.landlock.restricted == true' "$out" ;;
        *)
                check "$name: probe: no Landlock domain, and the kernel has none (plan: $ll)" \
                        jqt '.landlock.abi == 0 and .landlock.restricted == false' "$out" ;;
        esac
        if [ "${ll%%/*}" = degraded ]; then
                # moat run prints nothing about it: the plan and the audit record say so.
                check "$name: ... the plan says Landlock is degraded and why, the audit record that it was" \
                        jqt --slurpfile a "$audit" '.controls[] | select(.name == "landlock") |
                                .status == "degraded" and ((.detail // "") + (.reason // "") | test("no Landlock")) and
                                ($a[0].controls[] | select(.name == "landlock") | .outcome == "degraded")' "$plan"
        fi
        local aa
        aa=${sum[3]}
        if [ -n "$aa" ]; then
                check "$name: probe: runs under the planned AppArmor profile $aa, enforced, which denies" \
                        jqt --arg l "$aa (enforce)" '.lsm_label == $l and .tries[0].ok == false and
                                .tries[0].errno == 13' "$out"
        elif jq -e '.apparmor_enabled' "$facts" >/dev/null; then
                check "$name: probe: no AppArmor profile planned, none in force (unconfined)" \
                        jqt '.lsm_label == "unconfined" and .tries[0].ok == true' "$out"
        fi
}

run_row() { # NAME KERNEL_ARGS FIXTURE WHAT
        local row=$1 kargs=$2 fixture=$FIXTURES/$3.json what=$4 t0 secs rc out
        mkdir -p "$d/work/$row"
        chown "$(qemu_uid "$u")" "$d/work/$row"
        t0=$(date +%s%N)
        if [ -n "${MOAT_MATRIX_REPLAY:-}" ]; then
                # The host side alone, on what an earlier run kept (MOAT_MATRIX_KEEP).
                cp -r "$MOAT_MATRIX_REPLAY/$row/." "$d/work/$row/" && out=DONE && rc=0
                : >"$T/$row.err" >"$T/$row.res"
        else
                out=$(as_user "$u" "$DRIVER" -r -m 512 -t 300000 -K "$kargs" "${binds[@]}" -w /t -- \
                        env MOAT_DATA_DIR="$MOAT_DATA_DIR" PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C \
                        bash /t/guest.sh "$MOAT" "$MOAT_PROBE" "$row" "/t/$row" moatuser "$MATRIX" \
                        "${PROFILES[@]}" </dev/null 2>"$T/$row.err" 3>"$T/$row.res")
                rc=$?
        fi
        secs=$((($(date +%s%N) - t0) / 1000000))
        sed -n 's/^DIAG //p' <<<"$out" | while read -r l; do diag "$row: $l"; done
        diag "$row: driver rc=$rc, $(grep -E '^(wall_ms|failed_step)=' "$T/$row.res" | tr '\n' ' ')err='$(head -c 300 "$T/$row.err")'"
        echo "$row $secs" >>"$T/seconds"
        expect "$row ($what; guest booted with '$kargs'): the guest ran to the end (${secs} ms)" \
                guest_done "$rc" "$out" || return

        local table=$T/$row.txt who o facts n plan hp rc_g rc_h k sum fixture_name
        fixture_name=$(basename "$fixture")
        # The golden plans of the row's fixture, projected on the row's control (shipped profiles).
        local -A golden_proj=()
        for n in $SHIPPED; do
                golden_proj[$n]=$(jq -c "$(row_projection "$row")" \
                        "$SRC/tests/golden/expected/plans/$n@${fixture_name%.json}.json")
        done
        echo "# host matrix row $row ($what): guest kernel command line '$kargs'" >"$table"
        echo "# user profile: moat explain exit, tier, refusal, rules fired, key controls, moat run exit" >>"$table"
        for who in root moatuser; do
                o=$d/work/$row/$who
                facts=$o/facts.json
                expect "$row/$who: moat host --json gives facts" jqt .kernel_release "$facts" || continue
                row_facts "$row" "$facts" "$fixture" "$who"
                k=$(jq -r .kernel_release "$facts")
                for p in "${PROFILES[@]}"; do
                        n=${p##*/}
                        n=${n%.yaml}
                        plan=$o/$n.plan.json
                        rc_g=$(<"$o/$n.plan.rc")
                        hp=$T/$row-$who-$n.host.json
                        (cd "$d/work" && env -i PATH="$PATH" HOME="$T/host-home" MOAT_DATA_DIR="$MOAT_DATA_DIR" \
                                XDG_CONFIG_HOME="$T/host-home/.config" LANG=C \
                                "$MOAT" explain --json -p "$p" --host-facts "$facts" >"$hp" 2>/dev/null)
                        rc_h=$?
                        expect "$row/$who/$n: the guest's plan (exit $rc_g) is the resolver's on its facts here (exit $rc_h)" \
                                same_plan "$plan" "$hp" "$rc_g" "$rc_h" ||
                                diag "$(diff "$plan" "$hp" | head -10)"
                        mapfile -t sum < <(plan_summary "$row" "$who" "$n" "$plan" "$rc_g" \
                                "$(<"$o/$n.run.rc")" "$o/$n.run.err" "$k")
                        if [[ -n ${golden_proj[$n]:-} ]]; then
                                expect "$row/$who/$n: agrees with the golden plan on $fixture_name for the row's control" \
                                        [ "${sum[5]}" = "${golden_proj[$n]}" ] ||
                                        diag "guest ${sum[5]} golden ${golden_proj[$n]}"
                        fi
                        check_run "$row/$who/$n" "$plan" "$facts" "$o/$n"
                        printf '%s\n' "${sum[@]:6}" >>"$table"
                done
        done
        if [ "${MOAT_MATRIX_UPDATE:-0}" = 1 ]; then
                mkdir -p "$GOLDEN"
                cp "$table" "$GOLDEN/$row.txt"
                diag "$row: wrote $GOLDEN/$row.txt"
        fi
        expect "$row: the row's table is tests/golden/matrix/$row.txt" cmp -s "$GOLDEN/$row.txt" "$table" ||
                diag "$(diff -u "$GOLDEN/$row.txt" "$table" | head -30)"
}

# moat run against its plan (summarised in sum[]): refused, not runnable here, or run in the
# sandbox.
check_run() { # NAME PLAN FACTS PREFIX
        local name=$1 plan=$2 facts=$3 r=$4 rc tier=${sum[0]}
        rc=$(<"$r.run.rc")
        if [ "${sum[1]}" = true ]; then
                expect "$name: refused ($tier): moat run exits 125 printing exactly the plan's refusal (exit $rc)" \
                        [ "$rc ${sum[4]}" = "125 true" ] ||
                        diag "$(head -c 300 "$r.run.err")"
        elif [ "$tier" = sandbox ]; then
                expect "$name: sandbox: moat run runs the command (exit $rc, $(<"$r.run.ms") ms)" [ "$rc" = 0 ] ||
                        diag "$(head -c 300 "$r.run.err")"
                check_sandbox_run "$name" "$plan" "$facts" "$r.run.out" "$r.audit.json" "$r.run.err"
        else
                expect "$name: tier $tier has no executor in the guest: moat run exits 125 saying so (exit $rc)" \
                        stops_naming "$rc" "tier $tier" "$r.run.err"
        fi
}

: >"$T/seconds"
for r in "${ROWS[@]}"; do
        IFS='|' read -r name kargs fixture what <<<"$r"
        if [ -n "${MOAT_MATRIX_ROWS:-}" ] && ! grep -qw -- "$name" <<<"$MOAT_MATRIX_ROWS"; then
                continue
        fi
        run_row "$name" "$kargs" "$fixture" "$what"
done
[ -n "${MOAT_MATRIX_KEEP:-}" ] && cp -r "$d/work/." "$MOAT_MATRIX_KEEP/"
diag "seconds per row (boot and guest work): $(awk '{printf "%s %.1f; ", $1, $2 / 1000}' "$T/seconds")"
tap_end
