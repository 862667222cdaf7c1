#!/bin/bash
# Writes a small root file system tarball for the system tier's tests: busybox-static with
# its applets, an /etc/os-release that is not the host's (ID=moat-busybox), passwd and group
# with root and a second user, and the mount points liblxc needs. Fast (well under a second),
# so every test run can make it; no network.
#   make-busybox-image.sh OUT.tar
set -euo pipefail
out=${1:?usage: make-busybox-image.sh OUT.tar}
bb=$(command -v busybox || true)
[[ -n $bb ]] && file -L "$bb" 2>/dev/null | grep -q 'statically linked' || bb=/bin/busybox
[[ -x $bb ]] || { echo "make-busybox-image: busybox-static is not installed" >&2; exit 77; }
d=$(mktemp -d)
chmod 0755 "$d"
trap 'rm -rf "$d"' EXIT
mkdir -p "$d"/{bin,sbin,etc,proc,sys,dev,tmp,root,home/user,run,var/tmp,usr/bin,usr/sbin}
chmod 1777 "$d/tmp" "$d/var/tmp"
cp "$bb" "$d/bin/busybox"
for a in $("$bb" --list); do
        [[ $a == busybox ]] || ln -sf busybox "$d/bin/$a"
done
cat >"$d/etc/os-release" <<'OS'
NAME="moat busybox test image"
ID=moat-busybox
VERSION_ID=1
OS
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n' >"$d/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$d/etc/group"
echo moat-busybox >"$d/etc/hostname"
tar --numeric-owner --owner=0 --group=0 -C "$d" -cf "$out" .
