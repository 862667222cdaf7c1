#!/bin/bash
# SPDX-License-Identifier: MIT
# Escalation never drops a control: for every shipped profile on every host fixture, the plan of
# the profile forced into the vm tier applies every control its sandbox-tier plan applies (a
# required one required), or names it in vm.not_in_guest with the reason it makes no sense in a
# guest (the table of launcher/plan/plan-controls.c); and the resolver never has to refuse a vm
# plan for dropping one. Both plans come from the real binary (`moat explain --json`).
set -u
source "$(dirname "$0")/../integration/tap.sh"
command -v jq >/dev/null || { echo "1..0 # SKIP jq is not installed"; exit 77; }
SRC=${MOAT_SOURCE_DIR:?}
T=$(mktemp -d /tmp/moat-vm-superset.XXXXXX)
trap 'rm -rf "$T"' EXIT

explain() { # PROFILE FIXTURE
        "$MOAT" explain --json --policy '' --host-facts "$2" -p "$1" 2>/dev/null
}

for prof in "$SRC"/profiles/*.yaml; do
        name=$(basename "$prof" .yaml)
        # The sandbox-tier plan: the same profile with trust internal and isolation sandbox (the
        # shipped policy moves hostile code to the vm tier by trust alone).
        printf 'moat: 1\nname: %s-sandbox\nextends: %s\ntrust: internal\nisolation: sandbox\n' \
                "$name" "$prof" >"$T/$name-sandbox.yaml"
        printf 'moat: 1\nname: %s-vm\nextends: %s\nisolation: vm\nmax_tier: vm\n' \
                "$name" "$prof" >"$T/$name-vm.yaml"
        for fx in "$SRC"/tests/fixtures/hosts/*.json; do
                host=$(basename "$fx" .json)
                sb=$(explain "$T/$name-sandbox.yaml" "$fx")
                vm=$(explain "$T/$name-vm.yaml" "$fx")
                if [ "$(jq -r .tier <<<"$vm")" != vm ]; then
                        check "$name@$host: forced into the vm tier" false
                        continue
                fi
                if [ "$(jq -r .tier <<<"$sb")" != sandbox ]; then
                        diag "$name@$host: no sandbox-tier plan to compare with ($(jq -r .tier <<<"$sb"))"
                        continue
                fi
                missing=$(jq -rn --argjson sb "$sb" --argjson vm "$vm" '
                        ([$vm.controls[] | select(.status != "not-applicable") | {(.name): .status}]
                         | add) as $v
                        | [$vm.vm.not_in_guest[].name] as $exempt
                        | [$sb.controls[] | select(.status != "not-applicable")
                           | select((.name | IN($exempt[])) | not)
                           | select($v[.name] == null
                                    or (.status == "required" and $v[.name] != "required"))
                           | "\(.name) (\(.status) -> \($v[.name] // "absent"))"] | join(", ")')
                check "$name@$host: the vm plan keeps every sandbox control${missing:+ (drops: $missing)}" \
                        [ -z "$missing" ]
                check "$name@$host: the resolver does not refuse it for a dropped control" \
                        bash -c '! jq -r ".refusal // \"\"" <<<"$1" | grep -q "would drop the control"' _ "$vm"
        done
done

# resources.disk, which no shipped profile sets: on a host whose facts allow a project quota for
# the writable binds, the vm tier bounds the total as the sandbox tier does (a project quota on
# the shares QEMU writes), never only each file; without one, both tiers have the per-file
# RLIMIT_FSIZE (degraded) and a required bound is refused in both.
base="$SRC/tests/fixtures/hosts/this-host-root.json"
jq '.project_quota = true | .project_quota_reason = null' "$base" >"$T/quota-host.json"
for enforce in best-effort required; do
        for tier in sandbox vm; do
                printf 'moat: 1\nname: disk-%s\nisolation: %s\nmax_tier: vm\ntrust: internal\nfilesystem:\n  root: host-readonly\n  bind:\n    - {source: ., target: /work, mode: rw}\nresources:\n  disk: 4MiB\n  enforce: %s\n' \
                        "$tier" "$tier" "$enforce" >"$T/disk-$tier-$enforce.yaml"
        done
        for fx in "$T/quota-host.json" "$base"; do
                host=$(basename "$fx" .json)
                sb=$(cd "$T" && explain "$T/disk-sandbox-$enforce.yaml" "$fx")
                vm=$(cd "$T" && explain "$T/disk-vm-$enforce.yaml" "$fx")
                m_sb=$(jq -r '.resources.disk_mechanism // "refused"' <<<"$sb")
                m_vm=$(jq -r '.resources.disk_mechanism // "refused"' <<<"$vm")
                d_sb=$(jq -r '[.controls[]? | select(.name == "disk") | .status][0] // "refused"' <<<"$sb")
                d_vm=$(jq -r '[.controls[]? | select(.name == "disk") | .status][0] // "refused"' <<<"$vm")
                r_sb=$(jq -r '.refused // false' <<<"$sb") r_vm=$(jq -r '.refused // false' <<<"$vm")
                check_all "disk $enforce@$host: the vm tier bounds disk as the sandbox tier does (sandbox $m_sb/$d_sb, vm $m_vm/$d_vm)" \
                        '[ "$m_sb" = "$m_vm" ] && [ "$d_sb" = "$d_vm" ] && [ "$r_sb" = "$r_vm" ]'
                if [ "$host" = quota-host ]; then
                        check_all "disk $enforce@$host: a project quota in the vm tier, not refused" \
                                '[ "$m_vm" = project-quota ] && [ "$r_vm" = false ]'
                        check "disk $enforce@$host: ... and the guest's RLIMIT_FSIZE as a second layer" \
                                [ "$(jq -r '[.sandbox.rlimits[]? | select(.resource == "fsize") | .soft][0]' <<<"$vm")" = 4194304 ]
                fi
        done
done
tap_end
