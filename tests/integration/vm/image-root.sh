#!/bin/bash
# An image as the vm tier's root (filesystem.root: {image: NAME}, command mode), as root (QEMU
# is moat-vm) and as moatuser, each with an image store of its own holding the busybox test
# image (tests/helpers/make-busybox-image.sh, ID=moat-busybox in its /etc/os-release):
#   - the command reads the image's /etc/os-release, not the host's, under the guest kernel;
#   - the guest controls still apply to it (Seccomp 2, NoNewPrivs 1, an empty bounding set);
#   - the plan and the audit record carry the image's digest;
#   - the second run of the profile is a warm start (image runs have templates of their own);
#   - root in the guest (vm.guest_root) writes to the image's /etc and sees its writes, and the
#     image on the host is unchanged afterwards, file for file;
#   - boot mode (os.init) with an init the image lacks stops the run (125) before the command;
#   - the same profile, with only `isolation` changed, runs as a system container and reads the
#     same /etc/os-release (where the system tier is available).
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
[ -n "${IMAGE_USERS:-}" ] && read -ra USERS <<<"$IMAGE_USERS"

"$MOAT_SOURCE_DIR/tests/helpers/make-busybox-image.sh" "$T/bb.tar" >&2 || skip_all "cannot make the busybox test image (busybox-static)"
chmod a+r "$T/bb.tar"
host_id=$(. /etc/os-release && echo "$ID")
guest_release=$(cat "$(dirname "$GUEST_KERNEL")/release" 2>/dev/null)

# img USER COMMAND...: as_user with the user's own image store.
img() {
        local u=$1
        shift
        as_user "$u" env MOAT_IMAGE_DIR="$(user_dir "$u")/store" "$@"
}
# The tree of an image, file for file: paths, modes, owners, sizes and contents.
tree_sum() {
        (cd "$1" && find . -printf '%p %m %U %G %s %l\n' | sort && find . -type f -print0 | sort -z |
                xargs -0 sha256sum) | sha256sum | cut -d' ' -f1
}

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        mkdir -p "$d/store"
        chown "$(qemu_uid "$u")" "$d/work"
        [ "$u" = root ] || chown "$u:" "$d/store"
        img "$u" "$MOAT" image import bb "$T/bb.tar" >/dev/null 2>"$T/$u-import.err"
        read -r _ digest rootfs < <(img "$u" "$MOAT" image list | awk '$1 == "bb"')
        digest=${digest#sha256:}
        diag "$u: image bb sha256:$digest at $rootfs $(head -c 200 "$T/$u-import.err")"
        check_all "$u: the busybox image is in the user's store" '[ -n "$digest" ] && [ -d "$rootfs" ]'
        before=$(tree_sum "$rootfs")

        for iso in vm system; do
                cat >"$d/img-$iso.yaml" <<YAML
moat: 1
name: image-root
trust: untrusted
isolation: $iso
filesystem:
  root: {image: bb}
  bind:
    - {source: ., target: /work, mode: rw}
network: none
os:
  init: none
resources:
  memory: 384MiB
  timeout: 60s
YAML
        done
        sed -e 's/^resources:/mac:\n  landlock: off\nvm:\n  guest_root: true\nresources:/' \
                "$d/img-vm.yaml" >"$d/img-root.yaml"
        sed 's|^  init: none|  init: /sbin/moat-no-such-init|' "$d/img-vm.yaml" >"$d/img-boot.yaml"
        chmod a+r "$d"/*.yaml

        # 1. The command in the guest, twice (the second restores the image layout's template).
        script='. /etc/os-release; echo "id=$ID"; echo "release=$(uname -r)"
                grep -E "^(Seccomp|NoNewPrivs|CapBnd):" /proc/self/status
                if echo x 2>/dev/null >/etc/moat-w; then echo etc-write=yes; else echo etc-write=no; fi'
        for n in 1 2; do
                out[$n]=$(img "$u" "$MOAT" run -q -p "$d/img-vm.yaml" -- sh -c "$script" 2>"$T/$u-$n.err")
                rc[$n]=$?
                detail[$n]=$(tail -n 1 "$d/audit.log" | jq -r '.tier_detail // ""')
                diag "$u run $n: rc=${rc[$n]} detail='${detail[$n]}' err='$(head -c 300 "$T/$u-$n.err")'"
        done
        diag "$u: $(tr '\n' ' ' <<<"${out[1]}")"
        check_all "$u: the command reads the image's /etc/os-release (not the host's $host_id), under the guest kernel" \
                '[ "${rc[1]}" = 0 ] && grep -qx "id=moat-busybox" <<<"${out[1]}" && [ "$host_id" != moat-busybox ] &&
                 [ -n "$guest_release" ] && grep -qx "release=$guest_release" <<<"${out[1]}"'
        check_all "$u: the guest controls apply to it (Seccomp 2, NoNewPrivs 1, no capability in the bounding set)" \
                'grep -qx "Seccomp:	2" <<<"${out[1]}" && grep -qx "NoNewPrivs:	1" <<<"${out[1]}" &&
                 grep -qx "CapBnd:	0000000000000000" <<<"${out[1]}"'
        check_all "$u: the unprivileged command cannot write the image's /etc" \
                'grep -qx "etc-write=no" <<<"${out[1]}"'
        rec=$(grep '"tier":"vm"' "$d/audit.log" | tail -n 1)
        check_all "$u: the audit record carries the image's digest" \
                'jq -e --arg d "sha256:$digest" "[.controls[] | select(.name == \"9p-readonly-system\") | .detail | contains(\$d)] | any" <<<"$rec" >/dev/null'
        check_all "$u: the plan (moat explain --json) carries the image's digest" \
                'img "$u" "$MOAT" explain -p "$d/img-vm.yaml" --json |
                 jq -e --arg d "sha256:$digest" "[.controls[] | select(.name == \"9p-readonly-system\") | .detail | contains(\$d)] | any" >/dev/null'
        check_all "$u: the second run of the image profile is a warm start with the same result" \
                '[ "${rc[2]}" = 0 ] && [ "${out[2]}" = "${out[1]}" ] && [[ ${detail[2]} == *"warm start from template"* ]]'

        # 2. Root in the guest writes to the image's /etc: the run's own layer, not the image.
        wout=$(img "$u" "$MOAT" run -q -p "$d/img-root.yaml" -- sh -c \
                'echo written >/etc/moat-written && cat /etc/moat-written; echo changed >>/etc/os-release; tail -n 1 /etc/os-release; rm /etc/passwd && echo removed' \
                2>"$T/$u-w.err")
        wrc=$?
        diag "$u guest root: rc=$wrc out='$(tr '\n' ' ' <<<"$wout")' err='$(head -c 300 "$T/$u-w.err")'"
        check_all "$u: root in the guest writes, changes and removes files of the image's /etc in its own layer" \
                '[ "$wrc" = 0 ] && [ "$wout" = "written
changed
removed" ]'
        check_all "$u: the image on the host is unchanged, file for file, and keeps its digest" \
                '[ "$(tree_sum "$rootfs")" = "$before" ] && [ ! -e "$rootfs/etc/moat-written" ] && [ -e "$rootfs/etc/passwd" ] &&
                 img "$u" "$MOAT" image list | grep -q "^bb  *sha256:$digest "'
        wout2=$(img "$u" "$MOAT" run -q -p "$d/img-root.yaml" -- sh -c 'cat /etc/moat-written 2>&1; tail -n 1 /etc/os-release' 2>/dev/null)
        check_all "$u: the next run sees none of those writes" \
                '! grep -q "^written" <<<"$wout2" && grep -qx "VERSION_ID=1" <<<"$wout2"'

        # 3. Boot mode (tests/integration/vm/image-boot.sh boots systemd): an init that is not in
        # the image stops the run (125) before the command, saying which step failed.
        img "$u" "$MOAT" run -q -p "$d/img-boot.yaml" -- echo RAN >"$T/$u-boot.out" 2>"$T/$u-boot.err"
        brc=$?
        diag "$u boot mode without the init: rc=$brc $(head -c 300 "$T/$u-boot.err")"
        check_all "$u: boot mode with an init the image lacks stops the run (125) before the command, naming the step" \
                '[ "$brc" = 125 ] && ! grep -q RAN "$T/$u-boot.out" && grep -q "boot init exited" "$T/$u-boot.err"'

        # 4. The same profile as a system container: only `isolation` differs.
        systier=$(img "$u" "$MOAT" explain -p "$d/img-system.yaml" --json 2>/dev/null | jq -r 'if .refused then "refused" else .tier end')
        if [ "$systier" = system ]; then
                sout=$(img "$u" "$MOAT" run -q -p "$d/img-system.yaml" -- sh -c "$script" 2>"$T/$u-sys.err")
                src=$?
                diag "$u system: rc=$src $(tr '\n' ' ' <<<"$sout") $(head -c 300 "$T/$u-sys.err")"
                check_all "$u: the same profile with isolation: system runs the same command on the same image" \
                        '[ "$(diff "$d/img-vm.yaml" "$d/img-system.yaml" | grep -c "^[<>]")" = 2 ] &&
                         [ "$src" = 0 ] && grep -qx "id=moat-busybox" <<<"$sout" && grep -qx "Seccomp:	2" <<<"$sout" &&
                         grep -qx "release=$(uname -r)" <<<"$sout" &&
                         [ "$(tail -n 1 "$d/audit.log" | jq -r .tier)" = system ]'
        else
                tap_skip "$u: the same profile as a system container" "the system tier is not available to $u here (the plan: ${systier:-none})"
        fi
done
tap_end
