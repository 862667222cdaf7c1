#!/bin/bash
# Fetches what the AppArmor 4 tests need from Debian 13 (trixie) into a cache directory, without
# installing anything from trixie on this host (run as root; idempotent, no network once
# cached):
#   parser   trixie's apparmor (AppArmor 4 parser, abi 4.0 files, tunables), libc6 (the parser
#            needs glibc 2.38+; it is run through trixie's own ld.so, never this host's) and
#            liblxc-common (lxc's AppArmor abstractions, which moat-container includes), each
#            unpacked with dpkg -x into DIR/parser; DIR/bin/apparmor_parser runs that parser
#            with trixie's base directory and features file (~4 MB of packages).
#   kernel   trixie's linux-image-amd64 (6.12, AppArmor with user namespace mediation) laid
#            out as a vm-tier guest kernel directory, like moat-guest-kernel.sh's: DIR/guest/
#            vmlinux (PVH entry), release, config, modules/*.ko and modules/order (~108 MB).
#   fetch-trixie.sh [parser] [kernel]        (both when none is named)
# DIR is $MOAT_TRIXIE_DIR or /var/cache/moat/trixie. apt runs on a private state directory
# under DIR (its own sources list naming trixie, this host's archive keyring), so the host's
# apt state is untouched. Downloads are retried; an archive that stays unreachable is an
# error (exit 1), never a silent skip.
set -euo pipefail
export LC_ALL=C

DIR=${MOAT_TRIXIE_DIR:-/var/cache/moat/trixie}
MIRROR=${MOAT_TRIXIE_MIRROR:-http://deb.debian.org/debian}
# Modules the guest loads at boot: 9p over virtio and virtio-mmio (virtio, virtio-pci and the
# console are built in in 6.12); their dependencies come from modules.dep.
MODULES=(virtio_mmio 9pnet_virtio 9p)

die() { echo "fetch-trixie: $*" >&2; exit 1; }
case $DIR in /?*) ;; *) die "MOAT_TRIXIE_DIR must be an absolute path" ;; esac
[ "$(id -u)" = 0 ] || die "must run as root (it writes $DIR)"
for t in apt-get dpkg-deb zstd readelf depmod flock; do
        command -v "$t" >/dev/null || die "missing tool: $t"
done
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(parser kernel)
for w in "${want[@]}"; do
        case $w in parser | kernel) ;; *) die "unknown part '$w' (parser, kernel)" ;; esac
done

install -d -m 0755 "$DIR"
exec 9>"$DIR/.lock"
flock 9

done_parser() { [ -s "$DIR/parser/complete" ] && [ -x "$DIR/bin/apparmor_parser" ]; }
done_kernel() { [ -s "$DIR/guest/complete" ]; }
todo=()
for w in "${want[@]}"; do "done_$w" || todo+=("$w"); done
if [ ${#todo[@]} -eq 0 ]; then
        echo "fetch-trixie: ${want[*]} already in $DIR"
        exit 0
fi

# retry TRIES COMMAND...: the archive can be unreachable for a while.
retry() {
        local n=$1 i
        shift
        for ((i = 1; i <= n; i++)); do
                "$@" && return 0
                [ "$i" = "$n" ] || sleep $((i * 10))
        done
        return 1
}

A=$DIR/apt
install -d -m 0755 "$A/lists/partial" "$A/archives/partial" "$A/etc/sources.list.d" \
        "$A/etc/preferences.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" \
        >"$A/etc/sources.list"
cat >"$A/apt.conf" <<EOF
Dir::State "$A";
Dir::State::Lists "$A/lists";
Dir::State::status "/dev/null";
Dir::Cache "$A";
Dir::Cache::archives "$A/archives";
Dir::Etc::SourceList "$A/etc/sources.list";
Dir::Etc::SourceParts "$A/etc/sources.list.d";
Dir::Etc::Preferences "$A/etc/preferences";
Dir::Etc::PreferencesParts "$A/etc/preferences.d";
APT::Architecture "amd64";
APT::Sandbox::User "root";
EOF
export APT_CONFIG=$A/apt.conf
retry 3 apt-get -q -q --error-on=any update || die "apt-get update of trixie from $MIRROR failed"

work=$(mktemp -d "$DIR/work.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
fetch() { retry 3 apt-get -q -q download "$@" >/dev/null || die "apt-get download $* (trixie) failed"; }

for w in "${todo[@]}"; do
        case $w in
        parser)
                fetch apparmor libc6 liblxc-common
                mkdir root
                for f in apparmor_*.deb libc6_*.deb liblxc-common_*.deb; do
                        dpkg-deb -x "$f" root
                done
                [ -x root/usr/sbin/apparmor_parser ] && [ -e root/etc/apparmor.d/abi/4.0 ] ||
                        die "trixie's apparmor has no parser or no abi 4.0"
                printf 'policy-features=%s\n' "$DIR/parser/usr/share/apparmor-features/features" \
                        >root/parser.conf
                dpkg-deb -f apparmor_*.deb Version >root/complete
                rm -rf "${DIR:?}/parser" "${DIR:?}/bin"
                mv root "$DIR/parser"
                mkdir "$DIR/bin"
                cat >"$DIR/bin/apparmor_parser" <<EOF
#!/bin/sh
# trixie's AppArmor 4 parser, on trixie's glibc and base directory (fetch-trixie.sh).
R=$DIR/parser
exec "\$R/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "\$R/usr/lib/x86_64-linux-gnu" \\
        "\$R/usr/sbin/apparmor_parser" --config-file="\$R/parser.conf" -b "\$R/etc/apparmor.d" "\$@"
EOF
                chmod 0755 "$DIR/bin/apparmor_parser"
                "$DIR/bin/apparmor_parser" --version | head -1 | grep -q 'version 4\.' ||
                        die "$DIR/bin/apparmor_parser does not run or is not AppArmor 4"
                echo "fetch-trixie: AppArmor parser $(cat "$DIR/parser/complete") in $DIR/parser"
                ;;
        kernel)
                fetch linux-image-amd64
                image=$(dpkg-deb -f linux-image-amd64_*.deb Depends | tr ',' '\n' |
                        sed -n 's/^ *\(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
                release=${image#linux-image-}
                case $release in
                *[!A-Za-z0-9._+-]* | '') die "unexpected kernel release '$release'" ;;
                esac
                fetch "$image"
                mkdir root
                dpkg-deb -x "$image"_*.deb root
                vmlinuz=root/boot/vmlinuz-$release
                moddir=root/usr/lib/modules/$release # trixie ships merged-/usr paths
                [ -d "$moddir" ] || moddir=root/lib/modules/$release
                [ -f "$vmlinuz" ] && [ -d "$moddir" ] || die "$image has no kernel or modules"
                # trixie compresses the kernel with zstd: the payload starts at the first zstd
                # magic; zstd complains about the bzImage tail, so check the result instead.
                off=$(grep -abo $'\x28\xb5\x2f\xfd' "$vmlinuz" | head -1 | cut -d: -f1)
                [ -n "$off" ] || die "no zstd payload in $vmlinuz"
                tail -c +$((off + 1)) "$vmlinuz" | zstd -dcq >vmlinux 2>/dev/null || true
                [ "$(head -c 4 vmlinux | od -An -c | tr -d ' ')" = '177ELF' ] ||
                        die "extracted vmlinux is not ELF"
                readelf -n vmlinux | grep -q 0x00000012 || die "vmlinux has no PVH entry note"
                depmod -b "${moddir%/lib/modules/*}" "$release"
                mkdir -p new/modules
                : >new/modules/order
                add() { # NAME-OR-PATH: the module after its dependencies
                        local path=$1 dep name
                        case $path in
                        */*) ;;
                        *) path=$(awk -F: -v m="$1" '{ n = $1; sub(/.*\//, "", n);
                                sub(/\.ko.*$/, "", n); gsub(/-/, "_", n) } n == m { print $1; exit }' \
                                "$moddir/modules.dep")
                           [ -n "$path" ] || die "module $1 not found in $release" ;;
                        esac
                        name=${path##*/}
                        name=${name%%.ko*}
                        name=${name//-/_}
                        grep -qx "$name" new/modules/order && return 0
                        for dep in $(awk -F: -v p="$path" '$1 == p { print $2; exit }' "$moddir/modules.dep"); do
                                add "$dep"
                        done
                        case $path in
                        *.ko) cp "$moddir/$path" "new/modules/$name.ko" ;;
                        *.ko.xz) xz -dc "$moddir/$path" >"new/modules/$name.ko" ;;
                        *.ko.zst) zstd -dcq "$moddir/$path" >"new/modules/$name.ko" ;;
                        *) die "unsupported module format: $path" ;;
                        esac
                        echo "$name" >>new/modules/order
                }
                for m in "${MODULES[@]}"; do add "$m"; done
                mv vmlinux new/vmlinux
                cp "root/boot/config-$release" new/config
                echo "$release" >new/release
                echo "$release" >new/complete
                chmod -R a+rX,go-w new
                rm -rf "$DIR/guest"
                mv new "$DIR/guest"
                rm -rf root ./*.deb
                echo "fetch-trixie: guest kernel $release in $DIR/guest"
                ;;
        esac
done
rm -rf "$A"/archives/*.deb "$A"/lists # nothing is fetched again once complete
chmod -R a+rX,go-w "$DIR"
