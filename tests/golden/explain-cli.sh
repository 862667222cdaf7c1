#!/bin/bash
# SPDX-License-Identifier: MIT
# moat explain as a command: exit statuses, located errors, refusals that still print the plan,
# and a site policy given with --policy that tightens (and one that tries to loosen).
set -uo pipefail

: "${MOAT:?}" "${MOAT_SOURCE_DIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HOME=$tmp XDG_CONFIG_HOME=$tmp/config XDG_CACHE_HOME=$tmp/cache MOAT_AUDIT_LOG=$tmp/audit.jsonl
export MOAT_DATA_DIR=$MOAT_SOURCE_DIR
hosts=$MOAT_SOURCE_DIR/tests/fixtures/hosts
profile=$MOAT_SOURCE_DIR/tests/golden/profiles/default-set.yaml
n=0 failed=0

check() { # description, command...; expects $want status and optional $out/$err patterns
        local desc=$1
        shift
        n=$((n + 1))
        "$@" >"$tmp/out" 2>"$tmp/err"
        local rc=$?
        local why=""
        [[ $rc == "$want" ]] || why="exit $rc, expected $want"
        if [[ -z $why && -n ${out:-} ]] && ! grep -qE -- "$out" "$tmp/out"; then why="stdout lacks /$out/"; fi
        if [[ -z $why && -n ${err:-} ]] && ! grep -qE -- "$err" "$tmp/err"; then why="stderr lacks /$err/"; fi
        if [[ -z $why ]]; then
                echo "ok $n - $desc"
        else
                failed=1
                echo "not ok $n - $desc: $why"
                sed 's/^/# /' "$tmp/out" "$tmp/err" | head -20
        fi
        out="" err=""
}

want=0 out='^Usage: moat explain' check "--help" "$MOAT" explain --help
want=125 err='-p/--profile is required' check "no profile" "$MOAT" explain
want=125 err="unknown option '--frobnicate'" check "unknown flag named" "$MOAT" explain -p x --frobnicate
want=125 err="'--host-facts' needs a value" check "flag without value" "$MOAT" explain -p x --host-facts
want=125 err='no-such-profile' check "missing profile" "$MOAT" explain --policy '' -p no-such-profile \
        --host-facts "$hosts/modern.json"
want=0 out='^tier: sandbox' check "runnable plan exits 0" "$MOAT" explain --policy '' -p "$profile" \
        --host-facts "$hosts/modern.json"
want=0 out='"moat_plan": 1' check "--json" "$MOAT" explain --json --policy '' -p "$profile" \
        --host-facts "$hosts/modern.json"
printf 'moat: 1\nnetwork:\n  forbidden_ports: [443]\n' >"$tmp/noweb.yaml"
want=125 out='REFUSED' err='refused' check "refusal prints the plan and exits 125" "$MOAT" explain \
        --policy "$tmp/noweb.yaml" -p "$MOAT_SOURCE_DIR/profiles/network-client.yaml" \
        --host-facts "$hosts/modern.json"
want=125 out="rule 'pypi.org:443' \\([^)]*network-client.yaml:16:9\\) includes port 443" \
        check "a forbidden port names the profile rule" "$MOAT" explain --policy "$tmp/noweb.yaml" \
        -p "$MOAT_SOURCE_DIR/profiles/network-client.yaml" --host-facts "$hosts/modern.json"
printf 'moat: 1\nnetwork:\n  max_allow: ["*.debian.org:80,443"]\n' >"$tmp/narrow.yaml"
want=125 out="rule 'pypi.org:443' .*outside the site policy's network.max_allow" \
        check "the site's maximum allowlist narrows" "$MOAT" explain --policy "$tmp/narrow.yaml" \
        -p "$MOAT_SOURCE_DIR/profiles/network-client.yaml" --host-facts "$hosts/modern.json"
printf 'moat: 1\nextends: network-client\nnetwork: {outbound: {allow: ["*"]}}\n' >"$tmp/any.yaml"
want=125 out="rule '\\*:443' \\([^)]*any.yaml:3:30\\) allows every destination" \
        check "unrestricted egress needs the site policy" "$MOAT" explain --policy '' \
        -p "$tmp/any.yaml" --host-facts "$hosts/modern.json"
printf 'moat: 1\nnetwork:\n  unrestricted: true\n' >"$tmp/open.yaml"
want=0 out='egress.allow .* \*:443' check "the site policy may allow unrestricted egress" \
        "$MOAT" explain --policy "$tmp/open.yaml" -p "$tmp/any.yaml" --host-facts "$hosts/modern.json"
want=0 out='egress.allow .*pypi.org:443 \([^)]*network-client.yaml:16:9\)' \
        check "explain lists every rule with file:line:column" "$MOAT" explain --policy '' \
        -p "$MOAT_SOURCE_DIR/profiles/network-client.yaml" --host-facts "$hosts/modern.json"

printf 'moat: 1\nrules:\n  - id: trust-hostile\n    tier: sandbox\n' >"$tmp/loose.yaml"
want=125 err="loose.yaml:4:11: .*may only tighten" check "loosening site policy is a located error" \
        "$MOAT" explain --policy "$tmp/loose.yaml" -p "$profile" --host-facts "$hosts/modern.json"

printf 'moat: 1\nrules:\n  - id: everything-in-vms\n    sentence: this site runs everything in a vm\n    when: {trust: trusted}\n    tier: vm\nseccomp:\n  deny: [chroot]\n' >"$tmp/tight.yaml"
want=0 out='^tier: vm' check "tightening site policy raises the tier" \
        "$MOAT" explain --policy "$tmp/tight.yaml" -p "$profile" --host-facts "$hosts/modern.json"
printf 'moat: 1\nseccomp:\n  deny: [chroot]\n' >"$tmp/deny.yaml"
want=0 out='"origin": "[^"]*/deny.yaml:3:10"' check "site seccomp denial carries its origin" \
        "$MOAT" explain --json --policy "$tmp/deny.yaml" -p "$profile" --host-facts "$hosts/modern.json"

# On this host's own probe (moat run and explain probe the vm and system tiers' facts only for
# a plan of those tiers): a vm or system plan is judged on the facts `moat host` reports.
if "$MOAT" host --json >"$tmp/host.json" 2>/dev/null; then
        for p in hostile system-container; do
                "$MOAT" explain --json -p "$p" >"$tmp/$p.json" 2>/dev/null
        done
        facts_check() { # description, python expression over h (host facts), vm, sys (plans)
                n=$((n + 1))
                if python3 - "$tmp" "$2" <<'PY'; then echo "ok $n - $1"; else failed=1; echo "not ok $n - $1"; fi
import json, sys
t = sys.argv[1]
h = json.load(open(t + "/host.json"))
vm = json.load(open(t + "/hostile.json"))
sys_ = json.load(open(t + "/system-container.json"))
ok = eval(sys.argv[2])
if not ok:
    print("# host:", {k: h.get(k) for k in ("qemu_present", "libvirt_present", "guest_kernel", "lxc_present")})
    print("# vm plan:", vm.get("tier"), vm.get("refusal"), (vm.get("vm") or {}).get("kernel"))
    print("# system plan:", sys_.get("tier"), sys_.get("refusal"))
sys.exit(0 if ok else 1)
PY
        }
        facts_check "a vm plan on this host's probe boots the guest kernel moat host finds" \
                'vm["tier"] == "vm" and (vm["vm"] or {}).get("kernel") == h["guest_kernel"]'
        facts_check "a vm plan on this host's probe is refused for QEMU, libvirt or a kernel only when moat host lacks one" \
                '("tier vm cannot run on this host" in (vm.get("refusal") or "")) == (not (h["qemu_present"] and h["libvirt_present"] and h["guest_kernel"]))'
        facts_check "a system plan on this host's probe is refused for liblxc only when moat host lacks it" \
                'sys_["tier"] == "system" and ("liblxc is not available" in (sys_.get("refusal") or "")) == (not h["lxc_present"])'
fi

echo "1..$n"
exit $failed
