#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs the guest kernel of moat's vm tier into /var/lib/moat/guest (run once, as root).
#
# It downloads Debian's current linux-image-amd64 dependency with `apt-get download`, unpacks
# it with `dpkg -x` into a scratch directory (it is never installed as a kernel of this host),
# and keeps only what the guest needs:
#   vmlinux          the uncompressed kernel, booted through its PVH entry (no in-guest XZ
#                    decompression, ~3 s saved per boot under TCG)
#   vmlinuz          the compressed image, as shipped (fallback for loaders without PVH)
#   release          the kernel release string ("6.1.0-56-amd64")
#   modules/*.ko     virtio, virtio-pci, virtio-mmio, virtio-console, netfs, fscache, 9p
#   modules/order    the load order, dependencies first
#   modules-extra/   modules the guest does not load at boot, for tests that insmod them in a
#                    guest (ext4 with project quotas on a loop device; overlayfs for
#                    system-tier containers), with their dependencies and an order file of
#                    their own
# It also creates the unprivileged account `moat-vm` (no login, home /var/lib/moat/vm) as which
# moat runs QEMU when the caller is root, so that QEMU never runs as root, and puts it in group
# kvm (created if missing), through which Debian gives /dev/kvm to service accounts.
# Idempotent: a second run with the same kernel version changes nothing.
set -euo pipefail
export LC_ALL=C

DEST=${MOAT_GUEST_DIR:-/var/lib/moat/guest}
VMHOME=/var/lib/moat/vm
MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio
         virtio_console netfs fscache 9pnet 9pnet_virtio 9p)
EXTRA_MODULES=(loop crc32c_generic ext4 quota_v2 overlay)

die() { echo "moat-guest-kernel: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it writes $DEST and creates the moat-vm account)"
for t in apt-get dpkg-deb xz readelf depmod; do
        command -v "$t" >/dev/null || die "missing tool: $t"
done

ensure_account() {
        if ! getent passwd moat-vm >/dev/null; then
                useradd --system --user-group --home-dir "$VMHOME" --no-create-home \
                        --shell /usr/sbin/nologin --comment "moat vm tier (QEMU for root callers)" \
                        moat-vm
        fi
        install -d -m 0755 /var/lib/moat
        install -d -m 0700 -o moat-vm -g moat-vm "$VMHOME"
        # QEMU of root's guests reaches /dev/kvm as Debian intends: through group kvm, which
        # udev's 50-udev-default.rules gives the node (KERNEL=="kvm", GROUP="kvm", MODE="0660")
        # and udev's postinst creates. moat-vm keeps its groups when moat becomes it.
        getent group kvm >/dev/null || groupadd --system kvm
        id -nG moat-vm | tr ' ' '\n' | grep -qx kvm || usermod -a -G kvm moat-vm
        if [ -c /dev/kvm ]; then
                local node
                node=$(stat -c '%a %G' /dev/kvm)
                if [ "$node" != "660 kvm" ]; then
                        # Device permissions are the administrator's (or udev's) to set, not
                        # an installer's: say what is missing and what the rule would do.
                        echo "moat-guest-kernel: /dev/kvm is mode ${node% *} group ${node#* }," \
                             "so moat-vm cannot use it and root's vm runs use TCG; Debian's" \
                             "udev rule makes it 0660 group kvm (with udev running:" \
                             "'udevadm trigger --name-match=kvm'; without:" \
                             "'chgrp kvm /dev/kvm && chmod 0660 /dev/kvm')" >&2
                fi
        fi
}

ensure_account

work=$(mktemp -d /var/tmp/moat-guest-kernel.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

# linux-image-amd64 is a metapackage; its Depends names the versioned image package.
apt-get download -q linux-image-amd64 >/dev/null 2>&1 ||
        die "apt-get download linux-image-amd64 failed (run apt-get update?)"
image=$(dpkg-deb -f linux-image-amd64_*.deb Depends | tr ',' '\n' |
        sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
[ -n "$image" ] || die "cannot find the kernel image package in linux-image-amd64's Depends"
release=${image#linux-image-}
case $release in
        *[!A-Za-z0-9._+-]*|'') die "unexpected kernel release '$release'" ;;
esac

if [ -f "$DEST/release" ] && [ "$(cat "$DEST/release")" = "$release" ] &&
   [ -s "$DEST/vmlinux" ] && [ -s "$DEST/modules/order" ] &&
   [ "$(cat "$DEST/modules-extra/wanted" 2>/dev/null)" = "${EXTRA_MODULES[*]}" ]; then
        echo "moat-guest-kernel: $release already installed in $DEST"
        exit 0
fi

echo "moat-guest-kernel: fetching $image"
apt-get download -q "$image" >/dev/null 2>&1 || die "apt-get download $image failed"
mkdir root
dpkg-deb -x "$image"_*.deb root
vmlinuz=root/boot/vmlinuz-$release
[ -f "$vmlinuz" ] || die "$image has no /boot/vmlinuz-$release"
moddir=root/lib/modules/$release
[ -d "$moddir" ] || die "$image has no modules for $release"

# Debian compresses the kernel with XZ: the payload starts at the first XZ magic. xz reports
# "trailing garbage" (the bzImage tail) and exits non-zero, so check the result instead.
off=$(grep -abo $'\xfd7zXZ\x00' "$vmlinuz" | head -1 | cut -d: -f1)
[ -n "$off" ] || die "no XZ payload in $vmlinuz"
tail -c +$((off + 1)) "$vmlinuz" | xz -dc > vmlinux 2>/dev/null || true
[ "$(head -c 4 vmlinux | od -An -c | tr -d ' ')" = '177ELF' ] || die "extracted vmlinux is not ELF"
# XEN_ELFNOTE_PHYS32_ENTRY (type 0x12) marks the PVH entry QEMU boots directly.
readelf -n vmlinux | grep -q 0x00000012 || die "vmlinux has no PVH entry note"

depmod -b root "$release"
mkdir -p new/modules
: > new/modules/order
for m in "${MODULES[@]}"; do
        path=$(awk -F: -v m="$m" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n);
                                   gsub(/-/, "_", n) } n == m { print $1; exit }' \
               "$moddir/modules.dep")
        [ -n "$path" ] || die "module $m not found in $release"
        case $path in
                *.ko) cp "$moddir/$path" "new/modules/$m.ko" ;;
                *.ko.xz) xz -dc "$moddir/$path" > "new/modules/$m.ko" ;;
                *) die "unsupported module format: $path" ;;
        esac
        echo "$m" >> new/modules/order
done
# The extra modules with every dependency (modules.dep lists them all), dependencies first.
mkdir -p new/modules-extra
: > new/modules-extra/order
extra_add() { # NAME-OR-PATH
        local path=$1 dep
        case $path in
        */*) ;;
        *) path=$(awk -F: -v m="$1" '{ n = $1; sub(/.*\//, "", n); sub(/\.ko.*$/, "", n);
                                      gsub(/-/, "_", n) } n == m { print $1; exit }' \
                  "$moddir/modules.dep")
           [ -n "$path" ] || die "module $1 not found in $release" ;;
        esac
        local name=${path##*/}
        name=${name%%.ko*}
        name=${name//-/_}
        grep -qx "$name" new/modules-extra/order && return 0
        for dep in $(awk -F: -v p="$path" '$1 == p { print $2; exit }' "$moddir/modules.dep"); do
                extra_add "$dep"
        done
        grep -qx "$name" new/modules-extra/order && return 0
        case $path in
                *.ko) cp "$moddir/$path" "new/modules-extra/$name.ko" ;;
                *.ko.xz) xz -dc "$moddir/$path" > "new/modules-extra/$name.ko" ;;
                *) die "unsupported module format: $path" ;;
        esac
        echo "$name" >> new/modules-extra/order
}
for m in "${EXTRA_MODULES[@]}"; do
        extra_add "$m"
done
echo "${EXTRA_MODULES[*]}" > new/modules-extra/wanted
cp vmlinux new/vmlinux
cp "$vmlinuz" new/vmlinuz
cp "root/boot/config-$release" new/config 2>/dev/null || true
echo "$release" > new/release
chmod -R a+rX,go-w new

# Replace atomically enough: build beside, then swap the directory.
# (only when missing: install -d would also chmod an existing parent, such as /tmp)
[ -d "$(dirname "$DEST")" ] || install -d -m 0755 "$(dirname "$DEST")"
rm -rf "$DEST.new"
mv new "$DEST.new"
rm -rf "$DEST.old"
[ -e "$DEST" ] && mv "$DEST" "$DEST.old"
mv "$DEST.new" "$DEST"
rm -rf "$DEST.old"
echo "moat-guest-kernel: installed $release in $DEST"
