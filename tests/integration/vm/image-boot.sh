#!/bin/bash
# Boot mode in the vm tier (os.init on an image root, launcher/vm/README.md "An image root"), as
# root (QEMU is moat-vm), on the Debian image with systemd (bookworm minbase + systemd-sysv,
# built by `moat image build` and cached per CI run, as the system tier's tests do:
# MOAT_SYSTEM_IMAGE_BUILD=1):
#   - systemd boots the image's system in the guest and reaches "running" or "degraded" before
#     the command; it is pid 1 of the command's pid namespace;
#   - the command runs as www-data (uid 33) of the image, reads the image's /etc/os-release under
#     the guest kernel, gets stdin, and its stdout and exit status come back;
#   - the controls, seen from inside the command: Seccomp 2, an empty bounding set, NoNewPrivs 1,
#     a Landlock denial of a write its uid may do, the pids limit; and systemd (the image's
#     root) holds neither CAP_SYS_MODULE nor CAP_SYS_RESOURCE;
#   - the guest's status channel: systemd's processes cannot see moat's guest init, a virtio
#     port node made by the image's root cannot be opened (moat-init holds it), and a status
#     written after the image's root reset the ports (unbind/bind of virtio_console) is refused;
#     a usermode helper it sets up (core_pattern) runs without any capability;
#     boot mode never runs on the cold path (libvirt's QEMU does not report such a reset);
#   - root in the guest writes the image's /etc in its own layer; the image is unchanged;
#   - the timeout stops the command (137, verdict timeout);
#   - kill -9 of moat while the command runs, and while systemd boots, leaves no QEMU and no
#     run directory;
#   - the same profile with only `isolation` changed runs as a system container.
# The time from the QEMU start to the command (systemd's boot under TCG) is reported as a
# diagnostic.
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP boot mode in the vm tier is tested as root (QEMU as moat-vm)"
        exit 77
fi
CACHE=${MOAT_SYSTEM_IMAGE_CACHE:-/tmp/moat-system-images}
if [ "${MOAT_SYSTEM_IMAGE_BUILD:-0}" != 1 ] && [ ! -s "$CACHE/debian-systemd.tar" ]; then
        echo "1..0 # SKIP the Debian image with systemd is built from the archive; set MOAT_SYSTEM_IMAGE_BUILD=1"
        exit 0 # opt-in, as tests/integration/system/systemd.sh
fi
# The system tier's builder of the cached image (tests/integration/system/lib.sh), in a shell
# of its own (that lib has its own temporary directory and traps).
tarball=$(bash -c 'source "$1/lib.sh" >/dev/null; debian_systemd_tarball' _ \
        "$MOAT_SOURCE_DIR/tests/integration/system") || skip_all "cannot build the Debian image with systemd (archive unreachable?)"

u=root
d=$(user_dir $u)
mkdir -p "$d/store"
chmod 0777 "$d/work" # the command is www-data of the image; the share is moat-vm's
img() { as_user $u env MOAT_IMAGE_DIR="$d/store" MOAT_IMAGE_BUILD= "$@"; }
img "$MOAT" image import -q sd "$tarball" >/dev/null || skip_all "cannot import $tarball"
read -r _ digest rootfs < <(img "$MOAT" image list | awk '$1 == "sd"')
check "the Debian image with systemd is in the store" test -x "$rootfs/lib/systemd/systemd"
tree_sum() {
        (cd "$1" && find . -printf '%p %m %U %G %s %l\n' | LC_ALL=C sort &&
                find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
}
before=$(tree_sum "$rootfs")
last_detail() { tail -n 1 "$d/audit.log" | jq -r '.tier_detail // ""'; }

# The profile, twice: only `isolation` differs.
for iso in vm system; do
        cat >"$d/boot-$iso.yaml" <<YAML
moat: 1
name: image-boot
trust: untrusted
isolation: $iso
uid: 33
gid: 33
filesystem:
  root: {image: sd}
  bind:
    - {source: ., target: /work, mode: rw}
network: none
os:
  init: /sbin/init
mac:
  landlock: required
resources:
  memory: 512MiB
  pids: 48
  timeout: 300s
  enforce: required
YAML
done
# guest root (systemctl, writes to /etc) and the timeout: variants of the vm profile
sed -e 's/^  landlock: required/  landlock: off/' -e 's/^uid: 33/vm:\n  guest_root: true/' \
        -e '/^gid: 33/d' "$d/boot-vm.yaml" >"$d/boot-root.yaml"
sed -e 's/^  timeout: 300s/  timeout: 40s/' "$d/boot-vm.yaml" >"$d/boot-to.yaml"
chmod a+r "$d"/*.yaml

ex=$(img "$MOAT" explain -p "$d/boot-vm.yaml" --json 2>"$T/explain.err")
diag "explain: $(jq -c '{tier, refused, refusal, guest_image}' <<<"$ex") $(head -c 300 "$T/explain.err")"
check_all "the plan runs boot mode in the vm tier (no refusal), and says so" \
        '[ "$(jq -r .tier <<<"$ex")" = vm ] && [ "$(jq -r .refused <<<"$ex")" = false ] &&
         [ "$(jq -r .guest_image.mode <<<"$ex")" = boot ] && [ "$(jq -r .guest_image.init <<<"$ex")" = /sbin/init ] &&
         img "$MOAT" explain -p "$d/boot-vm.yaml" | grep -q "guest image: boot mode: /sbin/init"'

# 1. The command in the image's booted system, as www-data.
script='echo "PID1 $(cat /proc/1/comm)"; id; cat; . /etc/os-release; echo "id=$ID version=$VERSION_CODENAME"
        echo "release=$(uname -r)"
        grep -E "^(Seccomp|NoNewPrivs|CapBnd|CapEff):" /proc/self/status
        echo "INIT-CAPBND $(sed -n "s/^CapBnd:.//p" /proc/1/status)"
        echo "USERNS $(cat /proc/sys/user/max_user_namespaces)"
        if echo x 2>/dev/null >/var/tmp/moat-ll; then echo landlock-write=yes; else echo landlock-write=no; fi
        ls -ld /var/tmp | cut -d" " -f1 | sed "s/^/VARTMP /"
        (i=0; while [ $i -lt 80 ]; do sleep 30 & echo $! >>/tmp/moat-pids; i=$((i + 1)); echo $i >/tmp/moat-n; done) 2>/dev/null
        while read -r p; do kill $p; done </tmp/moat-pids; read -r n </tmp/moat-n; echo "FORKED $n"
        echo "DONE"; exit 7'
t0=$(date +%s%N)
out=$(echo piped | img "$MOAT" run -q -p "$d/boot-vm.yaml" -- sh -c "$script" 2>"$T/run.err")
rc=$?
t1=$(date +%s%N)
detail=$(last_detail)
rec=$(tail -n 1 "$d/audit.log")
diag "run: rc=$rc in $(( (t1 - t0) / 1000000 )) ms; detail '$detail'; err '$(head -c 400 "$T/run.err")'"
diag "out: $(tr '\n' '|' <<<"$out")"
boot_ms=$(grep -o 'command at [0-9]* ms' <<<"$detail" | awk '{print $3}')
diag "QEMU start to the command (systemd's boot, TCG): ${boot_ms:-?} ms; the whole run $(( (t1 - t0) / 1000000 )) ms"
check "the command's exit status (7) comes back" [ "$rc" = 7 ]
check_all "systemd is pid 1 of the command's system and was ready (READY=1) before it" \
        'grep -qx "PID1 systemd" <<<"$out" && [[ $detail == *"boot mode, /sbin/init ready, command at "* ]]'
check_all "the command runs as www-data (33) of the image, stdin reaches it, stdout comes back" \
        'grep -q "^uid=33(www-data) gid=33(www-data) groups=33(www-data)$" <<<"$out" && grep -qx piped <<<"$out" &&
         grep -qx DONE <<<"$out"'
guest_release=$(cat "$(dirname "$GUEST_KERNEL")/release" 2>/dev/null)
check_all "the command reads the image's /etc/os-release (Debian bookworm) under the guest kernel ($guest_release)" \
        'grep -qx "id=debian version=bookworm" <<<"$out" && [ -n "$guest_release" ] && grep -qx "release=$guest_release" <<<"$out"'
check "inside: Seccomp 2 (the plan's filter)" grep -qx "Seccomp:	2" <<<"$out"
check "inside: no capability in the bounding set (CapBnd 0) nor effective" \
        bash -c 'grep -qx "CapBnd:	0000000000000000" <<<"$1" && grep -qx "CapEff:	0000000000000000" <<<"$1"' _ "$out"
check "inside: NoNewPrivs 1" grep -qx "NoNewPrivs:	1" <<<"$out"
check "inside: no user namespace can be created (user.max_user_namespaces 0)" grep -qx "USERNS 0" <<<"$out"
check_all "inside: Landlock denies a write its uid may do (/var/tmp, mode 1777 in the image)" \
        'grep -qx "landlock-write=no" <<<"$out" && grep -q "^VARTMP drwxrwxrwt" <<<"$out"'
forked=$(sed -n 's/^FORKED //p' <<<"$out")
check "inside: the pids limit (48) stops the command's forks (it started ${forked:-?} of 80)" \
        bash -c '[ -n "$1" ] && [ "$1" -lt 48 ] && [ "$1" -gt 10 ]' _ "$forked"
check_all "systemd (the image's root) holds neither CAP_SYS_MODULE nor CAP_SYS_RESOURCE nor CAP_SYS_RAWIO" \
        'b=$(sed -n "s/^INIT-CAPBND //p" <<<"$out"); [ -n "$b" ] && (( (0x$b & (1 << 16 | 1 << 17 | 1 << 24)) == 0 )) &&
         (( (0x$b & (1 << 21)) != 0 ))'
check_all "the audit record: every control applied, a warm start or a cold boot named" \
        'jq -e "[.controls[] | select(.outcome == \"failed\")] | length == 0" <<<"$rec" >/dev/null &&
         [ "$(jq "[.controls[] | select((.name == \"seccomp\" or .name == \"caps\" or .name == \"no_new_privs\" or .name == \"landlock\" or .name == \"cgroup.pids\") and .outcome == \"applied\")] | length" <<<"$rec")" = 5 ] &&
         [[ $detail == *"warm start from template"* || $detail == *"cold boot ("* ]]'

# 2. Guest root: systemd's state, the status channel, writes to the image's /etc.
rscript='echo "STATE $(systemctl is-system-running)"; echo "PID1 $(cat /proc/1/comm)"
        echo "PROCS $(ls -d /proc/[0-9]* | wc -l)"
        mkdir -p /run/moat-sec && mount -t securityfs securityfs /run/moat-sec; echo "LOCKDOWN $(cat /run/moat-sec/lockdown)"
        for p in /proc/[0-9]*; do [ "$(cat $p/comm 2>/dev/null)" = init ] && echo "SEEN-INIT $p"; done
        m=$(cat /sys/class/virtio-ports/vport*p1/dev 2>/dev/null | head -n 1)
        echo "PORT-DEV $m"
        if [ -n "$m" ] && mknod /dev/moat-port c ${m%:*} ${m#*:} && echo forged 2>/tmp/port.err >/dev/moat-port; then echo PORT-OPENED; else echo "PORT-REFUSED $(cat /tmp/port.err)"; fi
        echo written >/etc/moat-written && cat /etc/moat-written; echo changed >>/etc/os-release; rm /etc/passwd && echo removed'
rout=$(img "$MOAT" run -q -p "$d/boot-root.yaml" -- sh -c "$rscript" 2>"$T/root.err" </dev/null)
rrc=$?
diag "guest root: rc=$rrc out '$(tr '\n' '|' <<<"$rout")' err '$(head -c 300 "$T/root.err")'"
check "systemd reached running or degraded before the command (root asks it)" \
        grep -Eqx "STATE (running|degraded)" <<<"$rout"
check_all "the image's processes cannot see moat's guest init; a port node made by the image's root cannot be opened" \
        '! grep -q "^SEEN-INIT" <<<"$rout" && grep -q "^PORT-DEV [0-9]*:[0-9]*$" <<<"$rout" &&
         grep -qi "^PORT-REFUSED.*busy" <<<"$rout" && ! grep -q PORT-OPENED <<<"$rout"'
check "the guest kernel is locked down (confidentiality) for the image's root" \
        grep -q "^LOCKDOWN .*\[confidentiality\]" <<<"$rout"
check_all "root in the guest writes, changes and removes files of the image's /etc in its own layer" \
        '[ "$rrc" = 0 ] && grep -qx written <<<"$rout" && grep -qx removed <<<"$rout"'
check_all "the image on the host is unchanged after the run that wrote /etc" \
        '[ "$(tree_sum "$rootfs")" = "$before" ] && [ ! -e "$rootfs/etc/moat-written" ] && [ -e "$rootfs/etc/passwd" ]'

# The image's root resets the guest's ports (unbind and bind of virtio_console through a sysfs
# it remounts writable), opens the new control port before moat-init can and reports an exit
# status of its own: moat sees the reset (QMP VSERPORT_CHANGE) and stops the run (125).
forge='mount -o remount,rw /sys
        dev=$(ls /sys/bus/virtio/drivers/virtio_console/ | grep "^virtio" | head -n 1)
        echo "$dev" >/sys/bus/virtio/drivers/virtio_console/unbind && echo "$dev" >/sys/bus/virtio/drivers/virtio_console/bind
        sleep 1
        for p in /sys/class/virtio-ports/*; do
                [ "$(cat $p/name)" = org.moat.ctl ] || continue
                m=$(cat $p/dev); mknod /dev/moat-fake c ${m%:*} ${m#*:} && printf "exit 42\n" >/dev/moat-fake
        done
        sleep 5'
img "$MOAT" run -q -p "$d/boot-root.yaml" -- sh -c "$forge" </dev/null >/dev/null 2>"$T/forge.err"
frc=$?
diag "forged status: rc=$frc $(tr '\n' ' ' <"$T/forge.err" | head -c 300)"
check_all "a status written on the control port after the image's root reset the ports is refused (125, not its 42)" \
        '[ "$frc" = 125 ] && grep -q "reset its virtio-serial ports" "$T/forge.err"'
# The kernel's usermode helpers run as root in moat-init's namespaces, outside the image's
# (PID 1 shares its root directory with the kernel's threads: the image's root). The image's
# root points core_pattern at a static busybox it wrote and dumps a core: the helper runs with
# no capability (usermodehelper bset and inheritable 0), so it cannot ptrace moat-init or undo a
# control. It reports its sets through /var/tmp, which both mount namespaces share.
if [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q "statically linked"; then
        cp /bin/busybox "$d/work/busybox" && chmod a+rx "$d/work/busybox"
        helper='cp /work/busybox /busybox && chmod 755 /busybox
                printf "/busybox grep Cap /proc/self/status >/var/tmp/proof\n" >/s
                echo "|/busybox sh /s" >/proc/sys/kernel/core_pattern
                sh -c "kill -SEGV \$\$"; sleep 3
                if [ -e /var/tmp/proof ]; then echo "HELPER-RAN $(tr "\n" " " </var/tmp/proof)"; else echo HELPER-DID-NOT-RUN; fi'
        hout=$(img "$MOAT" run -q -p "$d/boot-root.yaml" -- sh -c "$helper" </dev/null 2>"$T/helper.err")
        diag "usermode helper: $hout $(head -c 200 "$T/helper.err")"
        check_all "a usermode helper the image's root sets up (core_pattern) runs without any capability" \
                'grep -q "^HELPER-RAN" <<<"$hout" && grep -q "CapPrm:	0000000000000000" <<<"$hout" &&
                 grep -q "CapEff:	0000000000000000" <<<"$hout" && grep -q "CapBnd:	0000000000000000" <<<"$hout"'
else
        tap_skip "a usermode helper set by the image's root" "no static busybox at /bin/busybox" present
fi

# Only the warm path's QEMU reports such a reset: boot mode never boots cold.
img env MOAT_VM_START=cold "$MOAT" run -q -p "$d/boot-vm.yaml" -- echo RAN </dev/null >"$T/cold.out" 2>"$T/cold.err"
crc=$?
check_all "boot mode does not run on the cold path (125 before booting, the reason named)" \
        '[ "$crc" = 125 ] && ! grep -q RAN "$T/cold.out" && grep -q "boot mode needs a warm start" "$T/cold.err"'

# 3. The timeout: from the command's start (the boot is bounded by it too).
t0=$(date +%s)
img "$MOAT" run -q -p "$d/boot-to.yaml" -- sleep 600 </dev/null >/dev/null 2>"$T/to.err"
trc=$?
t1=$(date +%s)
diag "timeout: rc=$trc after $((t1 - t0)) s; $(head -c 300 "$T/to.err")"
check_all "the timeout stops the command (137 within 40 s of its start + the boot, verdict timeout)" \
        '[ "$trc" = 137 ] && [ $((t1 - t0)) -lt 120 ] && [ "$(tail -n 1 "$d/audit.log" | jq -r .verdict)" = timeout ]'

# 4. kill -9 of moat while the command runs: no QEMU, no run directory.
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
rm -f "$d/work/started"
(cd "$d/work" && exec env -i PATH=/usr/bin:/bin HOME="$d/home" XDG_CACHE_HOME="$d/home/.cache" \
        MOAT_AUDIT_LOG="$d/audit.log" MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_IMAGE_DIR="$d/store" \
        MOAT_GUEST_INIT="$GUEST_INIT" MOAT_GUEST_KERNEL="$GUEST_KERNEL" \
        "$MOAT" run -q -p "$d/boot-vm.yaml" -- sh -c 'echo x >/work/started; sleep 600' </dev/null >/dev/null 2>&1) &
mpid=$!
for _ in $(seq 1800); do [ -e "$d/work/started" ] && break; sleep 0.1; done
q=$(qemu_below "$mpid" | head -n 1)
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
diag "kill -9: started $([ -e "$d/work/started" ] && echo yes || echo no), QEMU $q ($name), run directory '$dirs_before', gone: $gone"
check_all "kill -9 of moat while the command runs leaves no QEMU and no run directory" \
        '[ -e "$d/work/started" ] && [ -n "$q" ] && [ -n "$dirs_before" ] && [ "$gone" = yes ]'

# ... and while systemd boots, before the command exists.
rm -f "$d/work/started"
(cd "$d/work" && exec env -i PATH=/usr/bin:/bin HOME="$d/home" XDG_CACHE_HOME="$d/home/.cache" \
        MOAT_AUDIT_LOG="$d/audit.log" MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_IMAGE_DIR="$d/store" \
        MOAT_GUEST_INIT="$GUEST_INIT" MOAT_GUEST_KERNEL="$GUEST_KERNEL" \
        "$MOAT" run -q -p "$d/boot-vm.yaml" -- sh -c 'echo x >/work/started; sleep 600' </dev/null >/dev/null 2>&1) &
mpid=$!
q=
for _ in $(seq 300); do
        q=$(qemu_below "$mpid" | head -n 1)
        [ -n "$q" ] && break
        sleep 0.1
done
sleep 4 # the clone is restored within a second; systemd's boot takes far longer under TCG
name=$(tr '\0' ' ' <"/proc/$q/cmdline" 2>/dev/null | grep -o 'guest=moat-[0-9]*' | head -n 1)
rpid=${name#guest=moat-}
dirs_before=$(ls -d /tmp/moat-vm-"$rpid"-* 2>/dev/null)
booting=$([ -e "$d/work/started" ] && echo no || echo yes)
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
diag "kill -9 while booting: booting $booting, QEMU $q ($name), run directory '$dirs_before', gone: $gone"
check_all "kill -9 of moat while systemd boots (no command yet) leaves no QEMU and no run directory" \
        '[ "$booting" = yes ] && [ -n "$q" ] && [ -n "$dirs_before" ] && [ "$gone" = yes ]'

# 5. The same profile as a system container: only `isolation` differs.
systier=$(img "$MOAT" explain -p "$d/boot-system.yaml" --json 2>/dev/null | jq -r 'if .refused then "refused: " + .refusal else .tier end')
if [ "$systier" = system ]; then
        sout=$(echo piped | img "$MOAT" run -q -p "$d/boot-system.yaml" -- sh -c "$script" 2>"$T/sys.err")
        src=$?
        diag "system: rc=$src $(tr '\n' '|' <<<"$sout") $(head -c 300 "$T/sys.err")"
        check_all "the same profile with isolation: system boots the image's systemd and runs the same command" \
                '[ "$(diff "$d/boot-vm.yaml" "$d/boot-system.yaml" | grep -c "^[<>]")" = 2 ] &&
                 [ "$src" = 7 ] && grep -qx "PID1 systemd" <<<"$sout" && grep -qx "id=debian version=bookworm" <<<"$sout" &&
                 grep -q "^uid=33(www-data)" <<<"$sout" && grep -qx "Seccomp:	2" <<<"$sout" &&
                 grep -qx "release=$(uname -r)" <<<"$sout" && [ "$(tail -n 1 "$d/audit.log" | jq -r .tier)" = system ]'
else
        tap_skip "the same profile as a system container" "the system tier is not available here (${systier:-no plan})" present
fi
tap_end
