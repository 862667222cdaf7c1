#!/bin/bash
# A real image: `moat image build` (mmdebstrap, bookworm minbase + systemd-sysv, merged-usr) as
# root, then a command-mode run shows Debian's os-release and the image's dpkg. It downloads ~30 MB from
# the Debian archive and took 16 s (quiet) to 113 s (loaded 2-vCPU VM) here, so it runs only
# with MOAT_SYSTEM_IMAGE_BUILD=1; its tree is kept as the
# CI run's cached Debian image with systemd (lib.sh, systemd.sh).
# The other system tests use the busybox image, which needs no network.
source "$(dirname "$0")/lib.sh"

if [ "${MOAT_SYSTEM_IMAGE_BUILD:-0}" != 1 ]; then
        echo "1..0 # SKIP a real mmdebstrap build needs the archive; set MOAT_SYSTEM_IMAGE_BUILD=1"
        exit 0 # opt-in, not a missing capability
fi
if [ "$(id -u)" != 0 ] || ! command -v mmdebstrap >/dev/null; then
        echo "1..0 # SKIP needs root and mmdebstrap"
        exit 77
fi
d=$(user_dir root)
t0=$(date +%s)
# with systemd-sysv (13 packages more, about 2 s): the same build is the image systemd.sh boots,
# kept in the CI run's cache so that mmdebstrap runs once per run
out=$(as_user root "$MOAT" image build -q deb --include systemd-sysv 2>&1)
rc=$?
check_all "moat image build: a digest in $(( $(date +%s) - t0 )) s" '[ $rc = 0 ] && grep -q "^deb sha256:[0-9a-f]\{64\}$" <<<"$out"'
if [ $rc = 0 ] && [ ! -s "$CACHE/debian-systemd.tar" ]; then
        mkdir -p "$CACHE" && chmod 0755 "$CACHE"
        root=$(as_user root "$MOAT" image list | awk '$1 == "deb" {print $3}')
        tar --numeric-owner -C "$root" -cf "$CACHE/debian-systemd.tar.$$" . &&
                mv "$CACHE/debian-systemd.tar.$$" "$CACHE/debian-systemd.tar" && chmod 0644 "$CACHE/debian-systemd.tar"
fi
check "the image has systemd as /sbin/init" bash -c '[ -x "$1/usr/lib/systemd/systemd" ] && readlink "$1/usr/sbin/init" | grep -q "systemd/systemd$"' _ "$(as_user root "$MOAT" image list | awk '$1 == "deb" {print $3}')"
write_profile "$d/deb.yaml" deb deb
out=$(as_user root "$MOAT" run -q -p "$d/deb.yaml" -- sh -c '. /etc/os-release; echo "$ID $VERSION_CODENAME"; dpkg --version | head -1')
check "a run on it is Debian bookworm" grep -q '^debian bookworm$' <<<"$out"
check "with the image's own dpkg" grep -q 'dpkg' <<<"$out"
tap_end
