#!/bin/bash
# moat image import|list|rm and `root: {image: NAME}`, as root and as moatuser: the digest is
# the tarball's SHA-256 and reaches the plan; names are checked; rm removes the tree when no
# other name uses it; a user's import belongs to the user (what a single-uid map needs).
source "$(dirname "$0")/lib.sh"

tarball=$(busybox_tarball) || { echo "1..0 # SKIP cannot make the busybox test image"; exit 77; }
want=$(sha256sum "$tarball" | cut -d' ' -f1)

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        out=$(as_user "$u" "$MOAT" image import -q bb "$tarball")
        check "$u: import prints the tarball's digest" [ "$out" = "bb sha256:$want" ]
        list=$(as_user "$u" "$MOAT" image list)
        check "$u: list shows the image" grep -q "^bb  *sha256:$want $d/store/sha256/$want/rootfs\$" <<<"$list"
        check "$u: the tree holds the image's os-release" grep -q '^ID=moat-busybox$' "$d/store/sha256/$want/rootfs/etc/os-release"
        owner=$(stat -c %U "$d/store/sha256/$want/rootfs/bin/busybox")
        check "$u: files belong to $([ "$u" = root ] && echo root || echo the user)" [ "$owner" = "$u" ]
        mode=$(stat -c %a "$d/store/sha256/$want")
        check "$u: the digest directory is read-only ($mode)" [ "$mode" = 555 ]

        # a profile names it; the plan carries the digest
        write_profile "$d/p.yaml" img bb
        json=$(as_user "$u" "$MOAT" explain --json -p "$d/p.yaml")
        check "$u: the plan names image and digest" \
                [ "$(jq -r '.system.image.name + " " + .system.image.digest' <<<"$json")" = "bb sha256:$want" ]
        check "$u: the plan says command mode" [ "$(jq -r .system.mode <<<"$json")" = command ]
        text=$(as_user "$u" "$MOAT" explain -p "$d/p.yaml")
        check "$u: explain shows the image" grep -q "image  *bb sha256:$want" <<<"$text"

        write_profile "$d/q.yaml" img nosuchimage
        err=$(as_user "$u" "$MOAT" explain -p "$d/q.yaml" 2>&1)
        rc=$?
        check_all "$u: an unknown image: 125 naming file:line" \
                '[ $rc = 125 ] && grep -q "q.yaml:[0-9]*:[0-9]*: filesystem.root.image: no usable image named .nosuchimage." <<<"$err"'
        # a word the store does not know, but a directory beside the profile: that directory
        [ -d "$d/rootdir" ] || { mkdir "$d/rootdir" && chown "$u:" "$d/rootdir"; }
        write_profile "$d/r.yaml" img rootdir
        json=$(as_user "$u" "$MOAT" explain --json -p "$d/r.yaml")
        check "$u: a directory beside the profile is still a root (no digest)" \
                [ "$(jq -r '.system.image.path + " " + (.system.image.digest // "none")' <<<"$json")" = "$d/rootdir none" ]

        # a second name, then rm one by one
        as_user "$u" "$MOAT" image import -q bb2 "$tarball" >/dev/null
        as_user "$u" "$MOAT" image rm bb
        check "$u: rm keeps a tree another name uses" [ -d "$d/store/sha256/$want/rootfs" ]
        as_user "$u" "$MOAT" image rm bb2
        check "$u: rm of the last name removes the tree" [ ! -e "$d/store/sha256/$want" ]
        as_user "$u" "$MOAT" image rm bb2 2>/dev/null
        check "$u: rm of an unknown name is 125" [ $? = 125 ]
        as_user "$u" "$MOAT" image import ../x "$tarball" 2>/dev/null
        check "$u: an invalid name is 125" [ $? = 125 ]
        as_user "$u" "$MOAT" image import x "$T/nonexistent.tar" 2>/dev/null
        check "$u: a missing tarball fails (1), nothing is named" \
                [ $? = 1 -a ! -e "$d/store/names/x" ]
        check "$u: nothing is left in the store's tmp" [ -z "$(ls -A "$d/store/tmp" 2>/dev/null)" ]
        if [ "$u" != root ]; then
                err=$(as_user "$u" "$MOAT" image build x 2>&1)
                check_all "$u: build needs root: 125 with the reason" \
                        '[ $? = 125 ] && grep -q "needs root" <<<"$err"'
        fi
done
tap_end
