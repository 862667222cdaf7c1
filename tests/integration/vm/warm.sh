#!/bin/bash
# Warm start of the vm tier (launcher/vm/README.md, "Warm start"), end to end through `moat run`,
# as root (QEMU is moat-vm) and as moatuser:
#   - a warm run's exit status, stdout, stderr, stdin, work-directory writes seen on the host and
#     timeout are those of a cold run (MOAT_VM_START=cold) of the same command;
#   - the clone's QEMU, observed from the host: Seccomp 2, NoNewPrivs 1, QEMU's uid, a mount and
#     a user namespace of its own, and the template's RAM file open read-only;
#   - QEMU cannot open the template's RAM file for writing itself (MOAT_VM_WARM_FAULT=rw-open
#     leaves its open() to the kernel: Landlock refuses it, and the run boots cold);
#   - two concurrent clones of one template see only their own work directories, draw different
#     CRNG output and boot ids, and have the host's clock;
#   - a template modified on disk (its RAM file, its device state) is detected, not restored,
#     removed, and the run boots cold and says so;
#   - kill -9 of moat during a warm run leaves no QEMU and no run directory.
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
# WARM_USERS="moatuser": a subset of the users, for a quicker look while developing.
[ -n "${WARM_USERS:-}" ] && read -ra USERS <<<"$WARM_USERS"
command -v jq >/dev/null || skip_all "jq is not installed"

# The template directory of QEMU's account for USER (moat-vm's cache for root).
cache_of() {
        if [ "$1" = root ]; then echo /var/lib/moat/vm/.cache/moat/vm; else echo "$(user_dir "$1")/home/.cache/moat/vm"; fi
}

# run_moat USER MODE OUT ERR ARGS...: moat run as USER with MOAT_VM_START=MODE (warm: unset).
run_moat() {
        local u=$1 mode=$2 out=$3 err=$4
        shift 4
        if [ "$mode" = cold ]; then
                as_user "$u" env MOAT_VM_START=cold "$MOAT" run -q "$@" >"$out" 2>"$err"
        else
                as_user "$u" env MOAT_VM_WARM_FAULT="${WARM_FAULT:-}" "$MOAT" run -q "$@" >"$out" 2>"$err"
        fi
}

last_detail() { tail -n 1 "$1/audit.log" | jq -r '.tier_detail // ""'; }

# The QEMU processes (pids) whose ancestry includes pid $1.
qemu_below() {
        local p q
        for p in $(pgrep -f '^/usr/bin/qemu-system-x86_64 -name guest=moat-'); do
                q=$p
                while [ "$q" -gt 1 ]; do
                        q=$(awk '/^PPid:/ {print $2}' "/proc/$q/status" 2>/dev/null) || break
                        [ -n "$q" ] || break
                        if [ "$q" = "$1" ]; then echo "$p"; break; fi
                done
        done
}

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        quid=$(qemu_uid "$u")
        for w in work work-a work-b; do
                mkdir -p "$d/$w"
                chown "$quid" "$d/$w"
        done
        for t in rw:10m to:25s; do
                cat >"$d/${t%%:*}.yaml" <<YAML
moat: 1
name: warm-${t%%:*}
trust: hostile
isolation: auto
max_tier: vm
filesystem:
  root: host-readonly
  bind:
    - {source: ., target: /work, mode: rw}
  tmpfs:
    - {target: /tmp, size: 64MiB}
network: none
resources:
  memory: 512MiB
  timeout: ${t#*:}
env:
  clear: true
YAML
                chmod a+r "$d/${t%%:*}.yaml"
        done

        # 1. The same command, cold and warm (the first warm run captures the template, the
        #    second restores it).
        cmd='cat; echo out-line; echo err-line >&2; echo written-$0 >/work/f-$0; exit 7'
        declare -A rc=() detail=()
        for mode in cold warm warm2; do
                run_moat "$u" "${mode%2}" "$T/$u-$mode.out" "$T/$u-$mode.err" \
                        -p "$d/rw.yaml" -- sh -c "$cmd" "${mode%2}" <<<"stdin-data"
                rc[$mode]=$?
                detail[$mode]=$(last_detail "$d")
                diag "$u $mode: rc=${rc[$mode]} detail='${detail[$mode]}' err='$(head -c 300 "$T/$u-$mode.err")'"
        done
        check_all "$u: MOAT_VM_START=cold boots cold and the audit record says why" \
                '[[ ${detail[cold]} == *"libvirt"*"cold boot (MOAT_VM_START=cold)"* ]]'
        check_all "$u: the next run is a warm start, recorded in the audit record" \
                '[[ ${detail[warm2]} == *"warm start from template"* ]]'
        check_all "$u: warm and cold exit status agree (7)" \
                '[ "${rc[cold]}" = 7 ] && [ "${rc[warm]}" = 7 ] && [ "${rc[warm2]}" = 7 ]'
        check_all "$u: warm and cold stdout agree (stdin passed through, then the output)" \
                'cmp -s "$T/$u-cold.out" "$T/$u-warm2.out" && [ "$(cat "$T/$u-warm2.out")" = "stdin-data
out-line" ]'
        check_all "$u: warm and cold stderr agree" \
                'cmp -s "$T/$u-cold.err" "$T/$u-warm2.err" && grep -qx err-line "$T/$u-warm2.err"'
        check_all "$u: the work-directory write is on the host, the same owner and content as cold" \
                '[ "$(cat "$d/work/f-warm")" = written-warm ] && [ "$(cat "$d/work/f-cold")" = written-cold ] &&
                 [ "$(stat -c %u "$d/work/f-warm")" = "$(stat -c %u "$d/work/f-cold")" ] &&
                 [ "$(stat -c %u "$d/work/f-warm")" = "$quid" ]'
        tmpl=$(ls -d "$(cache_of "$u")"/tmpl-* 2>/dev/null | head -n 5)
        check_all "$u: the templates are in QEMU's account's cache, 0700, owned by it" \
                '[ -n "$tmpl" ] && for t in $tmpl; do [ "$(stat -c %a:%u "$t")" = "700:$quid" ] || exit 1; done'

        # 2. Timeout: cold and warm end the same way (the same template: only the timeout differs).
        # The timeout also bounds the boot: 25 s leaves a cold boot room on a loaded machine.
        for mode in cold warm2; do
                run_moat "$u" "${mode%2}" /dev/null "$T/$u-to-$mode.err" -p "$d/to.yaml" \
                        --result "$d/to-$mode.json" -- sleep 90 </dev/null
                rc[to-$mode]=$?
                diag "$u timeout $mode: rc=${rc[to-$mode]} $(jq -c . "$d/to-$mode.json" 2>/dev/null) $(head -c 300 "$T/$u-to-$mode.err")"
        done
        check_all "$u: a timeout ends warm and cold runs alike (137, verdict timeout)" \
                '[ "${rc[to-cold]}" = 137 ] && [ "${rc[to-warm2]}" = 137 ] &&
                 [ "$(jq -r .verdict "$d/to-cold.json")" = timeout ] &&
                 [ "$(jq -r .verdict "$d/to-warm2.json")" = timeout ]'

        # 3. The clone's QEMU seen from the host while its command runs.
        (cd "$d/work" && exec setpriv --reuid="$u" --regid="$u" --init-groups env -i \
                PATH=/usr/bin:/bin HOME="$d/home" XDG_CACHE_HOME="$d/home/.cache" \
                MOAT_AUDIT_LOG="$d/audit.log" MOAT_DATA_DIR="$MOAT_DATA_DIR" \
                MOAT_GUEST_INIT="$GUEST_INIT" MOAT_GUEST_KERNEL="$GUEST_KERNEL" \
                "$MOAT" run -q -p "$d/rw.yaml" -- sleep 20 </dev/null >/dev/null 2>&1) &
        mpid=$!
        q=
        for _ in $(seq 300); do
                q=$(qemu_below "$mpid" | head -n 1)
                [ -n "$q" ] && break
                sleep 0.1
        done
        sleep 1
        st=$(cat "/proc/$q/status" 2>/dev/null)
        diag "$u: QEMU pid '$q': $(grep -E '^(Uid|Seccomp|Seccomp_filters|NoNewPrivs):' <<<"$st" | tr '\n' ' ')"
        # Two filters at least: QEMU's own -sandbox set on top of moat's notification filter.
        check_all "$u: the clone's QEMU has QEMU's seccomp sandbox (Seccomp: 2, 2 filters) and no_new_privs" \
                'grep -qP "^Seccomp:\t2$" <<<"$st" && grep -qP "^NoNewPrivs:\t1$" <<<"$st" &&
                 [ "$(awk "/^Seccomp_filters:/ {print \$2}" <<<"$st")" -ge 2 ]'
        check_all "$u: the clone's QEMU runs as $quid, without capabilities" \
                'grep -qP "^Uid:\t$quid\t$quid\t$quid\t$quid$" <<<"$st" && grep -qP "^CapEff:\t0+$" <<<"$st"'
        check_all "$u: the clone's QEMU has its own mount and user namespaces" \
                '[ -n "$q" ] && [ "$(readlink /proc/$q/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ] &&
                 [ "$(readlink /proc/$q/ns/user)" != "$(readlink /proc/self/ns/user)" ]'
        ramfd=
        for f in /proc/"$q"/fd/*; do
                case $(readlink "$f" 2>/dev/null) in */tmpl-*/ram) ramfd=${f##*/} ;; esac
        done
        flags=$(awk '/^flags:/ {print $2}' "/proc/$q/fdinfo/$ramfd" 2>/dev/null)
        diag "$u: template RAM fd '$ramfd' flags '$flags'"
        check_all "$u: QEMU holds the template's RAM file read-only" \
                '[ -n "$ramfd" ] && [ $((8#${flags:-3} & 3)) = 0 ]'
        wait "$mpid"

        # QEMU's own open of the RAM file for writing: refused (Landlock); the run boots cold.
        WARM_FAULT=rw-open run_moat "$u" warm "$T/$u-rw.out" "$T/$u-rw.err" -p "$d/rw.yaml" -- true </dev/null
        r=$?
        dt=$(last_detail "$d")
        diag "$u rw-open: rc=$r detail='$dt'"
        check_all "$u: QEMU cannot open the template's RAM file for writing (the run boots cold)" \
                '[ "$r" = 0 ] && [[ $dt == *"cold boot (restore of template"*"Permission denied"* ]]'

        # 4. Two clones of one template at once, each with its own work directory.
        : >"$d/work-a/only-a"
        : >"$d/work-b/only-b"
        chown "$quid" "$d/work-a/only-a" "$d/work-b/only-b"
        probe='ls /work | tr "\n" " "; echo; cat /proc/sys/kernel/random/boot_id; head -c 32 /dev/urandom | od -An -tx1 | tr -d " \n"; echo; date +%s; echo "$0" >/work/mine'
        t0=$(date +%s)
        for s in a b; do
                as_user "$u" "$MOAT" run -q --workdir "$d/work-$s" -p "$d/rw.yaml" -- \
                        sh -c "$probe" "$s" </dev/null >"$T/$u-c$s.out" 2>"$T/$u-c$s.err" &
        done
        wait
        t1=$(date +%s)
        for s in a b; do
                mapfile -t o$s <"$T/$u-c$s.out"
        done
        diag "$u concurrent: a=(${oa[*]:-}) b=(${ob[*]:-}) err=$(head -c 200 "$T/$u-ca.err" "$T/$u-cb.err" | tr '\n' ' ')"
        check_all "$u: each concurrent clone sees only its own work directory" \
                '[[ "${oa[0]:-}" == "only-a " ]] && [[ "${ob[0]:-}" == "only-b " ]] &&
                 [ "$(cat "$d/work-a/mine")" = a ] && [ "$(cat "$d/work-b/mine")" = b ]'
        check_all "$u: concurrent clones have different boot ids" \
                '[ -n "${oa[1]:-}" ] && [ -n "${ob[1]:-}" ] && [ "${oa[1]}" != "${ob[1]}" ]'
        check_all "$u: concurrent clones draw different CRNG output" \
                '[ ${#oa[2]} = 64 ] && [ ${#ob[2]} = 64 ] && [ "${oa[2]}" != "${ob[2]}" ]'
        check_all "$u: concurrent clones have the host's clock (within 2 s)" \
                '[ -n "${oa[3]:-}" ] && [ -n "${ob[3]:-}" ] &&
                 [ "${oa[3]}" -ge $((t0 - 2)) ] && [ "${oa[3]}" -le $((t1 + 2)) ] &&
                 [ "${ob[3]}" -ge $((t0 - 2)) ] && [ "${ob[3]}" -le $((t1 + 2)) ]'

        # 5. A template modified on disk: detected, removed, cold boot, then captured anew.
        # The template this profile's runs restore, as the audit record names it.
        used_template() {
                run_moat "$u" warm /dev/null /dev/null -p "$d/rw.yaml" -- true </dev/null
                local k
                k=$(last_detail "$d" | grep -o 'warm start from template [0-9a-f]*' | awk '{print $NF}')
                [ -n "$k" ] && ls -d "$(cache_of "$u")/tmpl-$k"*
        }
        for part in ram state; do
                tmpl=$(used_template)
                diag "$u: tampering with $part of $tmpl"
                [ -n "$tmpl" ] && [ -f "$tmpl/$part" ] &&
                        printf '\x90' | dd of="$tmpl/$part" bs=1 seek=4096 conv=notrunc status=none
                run_moat "$u" warm "$T/$u-tamper.out" "$T/$u-tamper.err" -p "$d/rw.yaml" -- echo ok </dev/null
                r=$?
                dt=$(last_detail "$d")
                diag "$u tampered $part: rc=$r detail='$dt'"
                check_all "$u: a template whose $part was modified on disk is not restored: cold boot, said so" \
                        '[ "$r" = 0 ] && [ "$(cat "$T/$u-tamper.out")" = ok ] &&
                         [[ $dt == *"libvirt"*"cold boot (template "*"was modified on disk"* ]] && [ ! -e "$tmpl" ]'
                run_moat "$u" warm /dev/null /dev/null -p "$d/rw.yaml" -- true </dev/null
                run_moat "$u" warm /dev/null /dev/null -p "$d/rw.yaml" -- true </dev/null
                check_all "$u: the next runs capture a new template and start warm again" \
                        '[[ $(last_detail "$d") == *"warm start from template"* ]]'
        done

        # 6. kill -9 of moat during a warm run: no QEMU, no run directory left.
        (cd "$d/work" && exec setpriv --reuid="$u" --regid="$u" --init-groups env -i \
                PATH=/usr/bin:/bin HOME="$d/home" XDG_CACHE_HOME="$d/home/.cache" \
                MOAT_AUDIT_LOG="$d/audit.log" MOAT_DATA_DIR="$MOAT_DATA_DIR" \
                MOAT_GUEST_INIT="$GUEST_INIT" MOAT_GUEST_KERNEL="$GUEST_KERNEL" \
                "$MOAT" run -q -p "$d/rw.yaml" -- sleep 60 </dev/null >/dev/null 2>&1) &
        mpid=$!
        q=
        for _ in $(seq 100); do
                q=$(qemu_below "$mpid" | head -n 1)
                [ -n "$q" ] && break
                sleep 0.1
        done
        sleep 1
        name=$(tr '\0' ' ' <"/proc/$q/cmdline" 2>/dev/null | grep -o 'guest=moat-[0-9]*' | head -n 1)
        rpid=${name#guest=moat-}
        dirs_before=$(ls -d /tmp/moat-vm-"$rpid"-* 2>/dev/null)
        kill -9 "$mpid"
        wait "$mpid" 2>/dev/null
        gone=no
        for _ in $(seq 100); do
                if ! kill -0 "$q" 2>/dev/null && ! ls -d /tmp/moat-vm-"$rpid"-* >/dev/null 2>&1; then
                        gone=yes
                        break
                fi
                sleep 0.1
        done
        diag "$u kill -9: QEMU $q ($name), run directory before: '$dirs_before', gone: $gone"
        check_all "$u: kill -9 of moat during a warm run leaves no QEMU and no run directory" \
                '[ -n "$q" ] && [ -n "$dirs_before" ] && [ "$gone" = yes ]'
done
tap_end
