#!/bin/bash
# `moat vm prepare` (launcher/vm/README.md, "Warm start"), as root (templates in moat-vm's
# cache) and as moatuser:
#   - it creates the template a profile's runs restore, says "created DIR", and the first
#     `moat run` afterwards is a warm start from exactly that template, which it did not make;
#   - it is idempotent: a second prepare says "present DIR", changes nothing, and is quick;
#   - a profile that does not run in the vm tier, warm start turned off, and usage errors are
#     refused with 125 and a message, and leave no template.
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
[ -n "${PREPARE_USERS:-}" ] && read -ra USERS <<<"$PREPARE_USERS"

cache_of() {
        if [ "$1" = root ]; then echo /var/lib/moat/vm/.cache/moat/vm; else echo "$(user_dir "$1")/home/.cache/moat/vm"; fi
}
last_detail() { tail -n 1 "$1/audit.log" | jq -r '.tier_detail // ""'; }
# A template fingerprint: the inode and mtime of each of its files.
fingerprint() { find "$1" -type f -printf '%i %T@ %s %p\n' 2>/dev/null | sort; }

made=()
cleanup_templates() {
        local t
        for t in "${made[@]}"; do
                case $t in */tmpl-????????????????????????????????) rm -rf -- "$t" ;; esac
        done
        cleanup
}
trap cleanup_templates EXIT

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        chown "$(qemu_uid "$u")" "$d/work"
        # A memory size no other test uses, so that the template key is this test's own: the
        # first prepare must create it.
        mem=$((300 + RANDOM % 200))
        cat >"$d/p.yaml" <<YAML
moat: 1
name: prepare-test
trust: hostile
isolation: auto
max_tier: vm
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
network: none
resources:
  memory: ${mem}MiB
  timeout: 60s
env:
  clear: true
YAML
        cat >"$d/sandbox.yaml" <<YAML
moat: 1
name: prepare-sandbox
isolation: sandbox
filesystem:
  root: host-readonly
network: none
YAML
        chmod a+r "$d"/*.yaml

        # 1. The first prepare creates the template.
        out1=$(as_user "$u" "$MOAT" vm prepare -p "$d/p.yaml" 2>"$T/$u-p1.err")
        rc1=$?
        dir=${out1#* }
        [[ $out1 == created\ * ]] && made+=("$dir")
        diag "$u prepare 1: rc=$rc1 out='$out1' err='$(head -c 300 "$T/$u-p1.err")'"
        check_all "$u: moat vm prepare creates the template and names it" \
                '[ "$rc1" = 0 ] && [[ $out1 == "created $(cache_of "$u")/tmpl-"* ]] && [ -d "$dir" ] &&
                 [ -s "$dir/meta" ]'
        fp1=$(fingerprint "$dir")

        # 2. Again: nothing to do.
        t0=$(date +%s%N)
        out2=$(as_user "$u" "$MOAT" vm prepare -p "$d/p.yaml" 2>"$T/$u-p2.err")
        rc2=$?
        ms2=$((($(date +%s%N) - t0) / 1000000))
        diag "$u prepare 2: rc=$rc2 out='$out2' ${ms2} ms"
        check_all "$u: a second prepare finds the template present and changes nothing" \
                '[ "$rc2" = 0 ] && [ -n "$fp1" ] && [ "$out2" = "present $dir" ] &&
                 [ "$(fingerprint "$dir")" = "$fp1" ] &&
                 [ "$ms2" -lt 2000 ]'

        # 3. The first run of the profile restores that template and leaves it as it was.
        out=$(as_user "$u" "$MOAT" run -q -p "$d/p.yaml" -- sh -c 'echo hi >/work/ran; echo hello')
        rc=$?
        detail=$(last_detail "$d")
        key=${dir##*/tmpl-}
        diag "$u first run: rc=$rc out='$out' detail='$detail'"
        check_all "$u: the first run after prepare is a warm start from the prepared template" \
                '[ "$rc" = 0 ] && [ "$out" = hello ] && [ "$(cat "$d/work/ran")" = hi ] &&
                 [ -n "$fp1" ] && [[ $key =~ ^[0-9a-f]{32}$ ]] &&
                 [[ $detail == *"warm start from template ${key:0:12}"* ]] &&
                 [ "$(fingerprint "$dir")" = "$fp1" ]'

        # 4. Refusals: 125, a message, no template.
        before=$(ls "$(cache_of "$u")" | sort)
        as_user "$u" "$MOAT" vm prepare -p "$d/sandbox.yaml" >"$T/$u-s.out" 2>"$T/$u-s.err"
        rcs=$?
        check_all "$u: a profile of another tier is refused (125, says which tier)" \
                '[ "$rcs" = 125 ] && grep -q "runs in the sandbox tier" "$T/$u-s.err" && [ ! -s "$T/$u-s.out" ]'
        MOAT_VM_START=cold as_user "$u" "$MOAT" vm prepare -p "$d/p.yaml" >"$T/$u-c.out" 2>"$T/$u-c.err"
        rcc=$?
        check_all "$u: with warm start off (MOAT_VM_START=cold) prepare is refused (125)" \
                '[ "$rcc" = 125 ] && grep -q "warm start is off" "$T/$u-c.err" && [ ! -s "$T/$u-c.out" ]'
        as_user "$u" "$MOAT" vm prepare --memory 1G >/dev/null 2>"$T/$u-u.err"
        rcu=$?
        as_user "$u" "$MOAT" vm frobnicate >/dev/null 2>>"$T/$u-u.err"
        rcf=$?
        check_all "$u: usage errors name the flag or subcommand (125)" \
                '[ "$rcu" = 125 ] && [ "$rcf" = 125 ] && grep -q -- "--memory" "$T/$u-u.err" &&
                 grep -q frobnicate "$T/$u-u.err"'
        check_all "$u: the refusals made no template" '[ "$(ls "$(cache_of "$u")" | sort)" = "$before" ]'
done
tap_end
