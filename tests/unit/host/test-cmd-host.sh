#!/bin/bash
# SPDX-License-Identifier: MIT
# `moat host` through the real binary, on the shipped host fixtures: what each fact means for
# the user, the per-tier verdicts, --json round trips through --host-facts, and a bad
# --host-facts file exits 125 with a located error. Prints TAP.
set -u

: "${MOAT:?MOAT must point to the moat binary}"
: "${MOAT_SOURCE_DIR:?MOAT_SOURCE_DIR must point to the source tree}"
fixtures=$MOAT_SOURCE_DIR/tests/fixtures/hosts

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp/home XDG_CACHE_HOME=$tmp/cache XDG_CONFIG_HOME=$tmp/config
export MOAT_AUDIT_LOG=$tmp/audit.log
mkdir -p "$HOME"

n=0
failed=0
ok() {
        n=$((n + 1))
        echo "ok $n - $1"
}
not_ok() {
        n=$((n + 1))
        failed=1
        echo "not ok $n - $1"
        shift
        for line in "$@"; do
                printf '#   %s\n' "$line"
        done
}

# expect_line DESC FIXTURE TEXT: `moat host --host-facts FIXTURE` exits 0 and prints TEXT.
expect_line() {
        local out rc
        out=$("$MOAT" host --host-facts "$fixtures/$2.json" 2>"$tmp/err")
        rc=$?
        if ((rc == 0)) && grep -qF -- "$3" <<<"$out"; then
                ok "$1"
        else
                not_ok "$1" "exit $rc, want 0; want the line: $3" "stdout: ${out:0:1500}" \
                        "stderr: $(head -c 600 "$tmp/err")"
        fi
}

# expect_no_line DESC FIXTURE TEXT
expect_no_line() {
        local out
        out=$("$MOAT" host --host-facts "$fixtures/$2.json" 2>/dev/null)
        if grep -qF -- "$3" <<<"$out"; then
                not_ok "$1" "unexpected line: $3"
        else
                ok "$1"
        fi
}

expect_line "modern: Landlock ABI 6 enforces filesystem, TCP and scoping rules" modern \
        "-> filesystem, TCP and scoping rules enforced"
expect_line "modern: delegated v2 cgroup carries the limits" modern \
        "-> resource limits enforced in a child of this user's cgroup (memory,pids,cpu)"
expect_line "modern: moat's AppArmor profile confines workloads" modern \
        "-> workloads run confined by moat's AppArmor profile"
expect_line "modern: every tier can run (sandbox)" modern "  sandbox  can run"
expect_line "modern: every tier can run (system)" modern "  system   can run"
expect_line "modern: every tier can run (vm)" modern "  vm       can run"
expect_line "no-mac: profiles requiring MAC escalate" no-mac \
        "-> no AppArmor/SELinux: profiles requiring MAC escalate to the vm tier"
expect_line "no-landlock: says Landlock is missing" no-landlock \
        "-> no Landlock: profiles requiring Landlock escalate to the vm tier"
expect_line "no-cgroup-delegation: limits fall back or escalate" no-cgroup-delegation \
        "-> cgroup v2, not writable by this user: resource limits fall back to rlimits or escalate"
expect_line "this-host-unprivileged: hybrid, not writable" this-host-unprivileged \
        "-> cgroup hybrid, not writable by this user: resource limits fall back to rlimits or escalate"
expect_line "this-host-root: v1 controllers carry the limits" this-host-root \
        "-> resource limits enforced through v1 controllers (memory,pids,cpu,cpuacct)"
expect_line "no-kvm: guests run under TCG" no-kvm \
        "-> guests run under QEMU TCG emulation: still a separate kernel, but slower"
expect_line "no-kvm: KVM absent" no-kvm "  KVM               absent"
expect_line "kvm-failed: KVM present but unusable, with the reason" kvm-failed \
        "  KVM               present but unusable (failed)"
expect_line "kvm-failed: the reason names the failed proof" kvm-failed \
        "-> a guest kernel did not run under KVM here (failed): the test guest stopped with a KVM internal error"
expect_line "kvm-unproven: KVM present, proven by the next vm run" kvm-unproven \
        "  KVM               present, not proven yet"
expect_line "modern: KVM usable, proven" modern \
        "  KVM               usable (a guest booted on it, QEMU as alice)"
expect_line "no-userns: the sandbox cannot run, and says why" no-userns \
        "  sandbox  cannot run (user.max_user_namespaces is 0: user namespaces are disabled on this host)"
expect_line "userns-apparmor-restricted: the sandbox cannot run, and says why" \
        userns-apparmor-restricted \
        "  sandbox  cannot run (kernel.apparmor_restrict_unprivileged_userns is 1:"
expect_line "no-libvirt: the vm tier cannot run, and says why" no-libvirt \
        "  vm       cannot run (libvirt is not installed"
expect_line "no-libvirt: the sandbox is unaffected" no-libvirt "  sandbox  can run"
expect_no_line "no-libvirt: no other tier is refused" no-libvirt "  system   cannot run"

# --json, loaded back through --host-facts, describes the same host.
for f in modern no-mac this-host-root; do
        if "$MOAT" host --json --host-facts "$fixtures/$f.json" >"$tmp/a.json" 2>"$tmp/err" &&
                grep -q '"landlock_abi": ' "$tmp/a.json" &&
                "$MOAT" host --json --host-facts "$tmp/a.json" >"$tmp/b.json" 2>>"$tmp/err" &&
                diff <(grep -v '"source"' "$tmp/a.json") <(grep -v '"source"' "$tmp/b.json") >"$tmp/diff"; then
                ok "$f: --json round trips through --host-facts"
        else
                not_ok "$f: --json round trips through --host-facts" "$(head -c 600 "$tmp/err")" \
                        "$(head -c 600 "$tmp/diff" 2>/dev/null)"
        fi
done

# The probe of this host, as JSON, is loadable as host facts.
if "$MOAT" host --json >"$tmp/probe.json" 2>"$tmp/err" &&
        grep -q '"source": "probe"' "$tmp/probe.json" &&
        "$MOAT" host --host-facts "$tmp/probe.json" 2>>"$tmp/err" | grep -q "^Isolation tiers"; then
        ok "the probe's --json output loads as --host-facts"
else
        not_ok "the probe's --json output loads as --host-facts" "$(head -c 600 "$tmp/err")"
fi

# Bad files: exit 125 and the located error on stderr, nothing on stdout.
bad() {
        local desc=$1 text=$2 want=$3 out rc
        printf '%s' "$text" >"$tmp/bad.json"
        out=$("$MOAT" host --host-facts "$tmp/bad.json" 2>"$tmp/err")
        rc=$?
        if ((rc == 125)) && [[ -z $out ]] && grep -qF -- "$want" "$tmp/err"; then
                ok "$desc"
        else
                not_ok "$desc" "exit $rc, want 125" "stdout: ${out:0:300}" \
                        "stderr: $(head -c 600 "$tmp/err")" "want on stderr: $want"
        fi
}
bad "a syntax error exits 125 with file:line:column" $'{\n  "uid": 0\n  "gid": 0\n}' \
        "$tmp/bad.json:3:7: '}' expected"
bad "a wrong type exits 125 naming the field" '{"landlock_abi": "7"}' \
        "$tmp/bad.json: field \"landlock_abi\": expected integer, got string"
bad "an unknown field exits 125 naming it" '{"landlock": 7}' "$tmp/bad.json: unknown field \"landlock\""

out=$("$MOAT" host --host-facts "$tmp/missing.json" 2>"$tmp/err")
rc=$?
if ((rc == 125)) && grep -qF "$tmp/missing.json: cannot read host facts: No such file or directory" "$tmp/err"; then
        ok "a missing --host-facts file exits 125 naming it"
else
        not_ok "a missing --host-facts file exits 125 naming it" "exit $rc" "stderr: $(cat "$tmp/err")"
fi

echo "1..$n"
exit $failed
