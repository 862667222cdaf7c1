#!/bin/bash
# Installs everything moat needs to build, run and test on Debian 12 (run as root).
# Idempotent: packages already present are skipped by apt-get.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential meson ninja-build pkg-config clang llvm libclang-rt-14-dev
  libseccomp-dev libcap-dev libapparmor-dev libselinux1-dev lxc-dev lxc libvirt-dev
  libyaml-dev libjansson-dev libssl-dev libcmocka-dev libsystemd-dev
  apparmor-utils apparmor checkpolicy selinux-policy-dev selinux-policy-default
  qemu-system-x86 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  cpio kmod xz-utils zstd busybox-static mmdebstrap
  bubblewrap crun hyperfine jq python3-jsonschema python3-yaml iproute2 util-linux procps
  curl openssl git slirp4netns nftables strace
  man-db groff-base
  sudo passwd
  containerd runc containernetworking-plugins
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
