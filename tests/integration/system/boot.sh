#!/bin/bash
# The system tier in boot mode (os.init: the image's init as pid 1), as root (range map) and as
# moatuser (single-uid map), with the busybox test image plus an inittab: the image's init is
# pid 1 under the same confinement as command mode; the command comes in through liblxc's
# attach and the gate, with the plan's user, environment and rlimits; stdio, exit status,
# signals and the timeout follow executor.h; the host's checks hold (a faked key is refused);
# kill -9 of moat leaves nothing; systemd as a user (root only: systemd.sh) and a missing init
# are refused (125) with the reason.
source "$(dirname "$0")/lib.sh"

if [ ! -x "${MOAT_BUILD_DIR:-}/moat-system-run" ]; then
        echo "1..0 # SKIP moat-system-run is not built (needs -Dlxc=enabled)"
        exit 77
fi
tarball=$(busybox_tarball) || { echo "1..0 # SKIP cannot make the busybox test image"; exit 77; }

# variant TAR INIT_TARGET: the busybox image with /sbin/init -> INIT_TARGET and an inittab
# that only runs a sysinit step (no consoles: the container has none).
variant() {
        local out=$1 target=$2 d
        d=$(mktemp -d "$T/img.XXXXXX")
        tar -C "$d" -xf "$tarball"
        ln -sf "$target" "$d/sbin/init"
        printf '::sysinit:/bin/true\n' >"$d/etc/inittab"
        if [ "$target" = /lib/systemd/systemd ]; then
                mkdir -p "$d/lib/systemd" && cp "$d/bin/busybox" "$d/lib/systemd/systemd"
        fi
        tar --numeric-owner --owner=0 --group=0 -C "$d" -cf "$out" .
        chmod 0644 "$out"
        rm -rf "$d"
}
variant "$T/boot.tar" /bin/busybox
variant "$T/sysd.tar" /lib/systemd/systemd

moat_cgroups() { find /sys/fs/cgroup -maxdepth 3 -type d -name 'moat-[0-9a-f]*' 2>/dev/null | grep -E '/moat-[0-9a-f]{32}$'; }
boot_profile() { # FILE NAME IMAGE [EXTRA YAML...]
        local f=$1
        write_profile "$@"
        sed -i 's|^os: .*|os: {full_os: true, init: /sbin/init}|' "$f"
}

for u in "${USERS[@]}"; do
        d=$(user_dir "$u")
        as_user "$u" "$MOAT" image import -q boot "$T/boot.tar" >/dev/null
        as_user "$u" "$MOAT" image import -q sysd "$T/sysd.tar" >/dev/null
        boot_profile "$d/b.yaml" boot boot
        cg_before=$(moat_cgroups | wc -l)

        out=$(echo piped | EXTRA_ENV=SECRET=host as_user "$u" "$MOAT" run -q -p "$d/b.yaml" -- sh -c \
                'echo "PID1 $(cat /proc/1/comm)"; head -2 /etc/os-release; cat; echo "SECRET ${SECRET:-unset}"
                 echo "NOFILE $(ulimit -n) CORE $(ulimit -c)"
                 for f in /proc/self/status /proc/1/status; do grep -E "^(NoNewPrivs|Seccomp|CapBnd|CapEff):" $f | sed "s|^|$f |"; done
                 echo to-stderr >&2; exit 42' 2>"$d/err")
        rc=$?
        check "$u: boot mode: the command's exit status passes through (42)" [ $rc = 42 ]
        check "$u: pid 1 is the image's init" grep -qx "PID1 init" <<<"$out"
        check "$u: the command sees the image's OS" grep -q '^ID=moat-busybox$' <<<"$out"
        check "$u: stdin reaches the command, stderr comes back" \
                bash -c 'grep -qx piped <<<"$1" && grep -qx to-stderr "$2"' _ "$out" "$d/err"
        check "$u: the caller's environment does not reach the command" grep -qx "SECRET unset" <<<"$out"
        check "$u: the plan's rlimits hold in the attached command (nofile 1024, core 0)" \
                grep -qx "NOFILE 1024 CORE 0" <<<"$out"
        for who in self 1; do
                f=/proc/$who/status
                check_all "$u: $f inside: NoNewPrivs 1, Seccomp 2, no capability" \
                        'grep -q "^$f NoNewPrivs:.1$" <<<"$out" && grep -q "^$f Seccomp:.2$" <<<"$out" &&
                         grep -q "^$f CapBnd:.0000000000000000$" <<<"$out" && grep -q "^$f CapEff:.0000000000000000$" <<<"$out"'
        done
        rec=$(last_audit "$u")
        check "$u: the audit record says boot mode and each planned control applied" \
                jq -e '(.tier_detail | startswith("boot mode, init /sbin/init")) and
                       ([.controls[] | select(.outcome != "applied" and .outcome != "not-applicable")] | length == 0)' <<<"$rec"

        if [ "$u" = root ]; then
                boot_profile "$d/bu.yaml" bootu boot 'uid: 1000' 'gid: 1000'
                out=$(as_user "$u" "$MOAT" run -q -p "$d/bu.yaml" -- id 2>&1)
                check "root: uid 1000 inside (range map): the attached command runs as 1000" \
                        grep -q "^uid=1000(user) gid=1000(user)" <<<"$out"
        fi

        # the host's checks hold in boot mode too: a key made to fail open is refused
        for f in nnp:no_new_privs seccomp:seccomp caps:caps; do
                err=$(EXTRA_ENV="MOAT_SYSTEM_FAULT=${f%%:*}" as_user "$u" "$MOAT" run -q -p "$d/b.yaml" -- echo RAN 2>&1)
                rc=$?
                check_all "$u: boot mode: ${f%%:*} failing open is refused from the host (125, names ${f#*:})" \
                        '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "^moat: ${f#*:}.*(checked from the host)" <<<"$err"'
        done

        # on this host without AppArmor or SELinux, labels liblxc ignores are refused from the
        # host, starting with the image's init (pid 1), which exec'd with them armed
        if ! grep -qw selinux /sys/kernel/security/lsm 2>/dev/null && [ ! -e /sys/fs/selinux/enforce ]; then
                as_user "$u" "$MOAT" host --json | jq '.selinux_mode = 1 | .selinux_moat_loaded = true' >"$d/se.json"
                boot_profile "$d/bse.yaml" bootse boot 'mac: {selinux: "unconfined_u:unconfined_r:moat_sandbox_t:s0", enforce: required}'
                err=$(EXTRA_ENV=MOAT_SYSTEM_FAULT=gate as_user "$u" "$MOAT" run -q --host-facts "$d/se.json" -p "$d/bse.yaml" -- echo RAN 2>&1)
                rc=$?
                check_all "$u: boot mode: an SELinux context liblxc ignored is refused from the host, at pid 1 (125)" \
                        '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "selinux: the container.s pid 1 has the context .*moat_sandbox_t.*checked from the host" <<<"$err"' ||
                        diag "$u: selinux: rc=$rc err: $(head -c 600 <<<"$err")"
        fi
        if [ -z "$(grep Y /sys/module/apparmor/parameters/enabled 2>/dev/null)" ]; then
                as_user "$u" "$MOAT" host --json | jq '.apparmor_enabled = true | .apparmor_moat_loaded = true |
                        .apparmor_moat_profiles = ["moat", "moat-default", "moat-container"]' >"$d/aa.json"
                boot_profile "$d/baa.yaml" bootaa boot 'mac: {apparmor: moat-container, enforce: required}'
                err=$(EXTRA_ENV=MOAT_SYSTEM_FAULT=gate as_user "$u" "$MOAT" run -q --host-facts "$d/aa.json" -p "$d/baa.yaml" -- echo RAN 2>&1)
                rc=$?
                check_all "$u: boot mode: an AppArmor label liblxc ignored is refused from the host, at pid 1 (125)" \
                        '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "apparmor: the container.s pid 1 has the label .*moat-container (enforce).*checked from the host" <<<"$err"' ||
                        diag "$u: apparmor: rc=$rc err: $(head -c 600 <<<"$err")"
        fi

        # timeout and signals
        boot_profile "$d/bt.yaml" boott boot 'resources: {timeout: 2s, enforce: best-effort}'
        t0=$(date +%s)
        as_user "$u" "$MOAT" run -q -p "$d/bt.yaml" -- sleep 30
        rc=$?
        check_all "$u: boot mode: the timeout stops the container (137 within 10 s)" \
                '[ $rc = 137 ] && [ $(( $(date +%s) - t0 )) -lt 10 ]'
        as_user "$u" "$MOAT" run -q -p "$d/b.yaml" -- sleep 31 &
        bg=$!
        for _ in $(seq 100); do pgrep -xf "sleep 31" >/dev/null && break; sleep 0.1; done
        mpid=$(pgrep -f "moat run -q -p $d/b.yaml" | head -1)
        kill -TERM "$mpid" 2>/dev/null
        wait $bg
        check "$u: boot mode: SIGTERM to moat reaches the command (143)" [ $? = 143 ]

        # kill -9 of moat while the command runs leaves nothing
        as_user "$u" "$MOAT" run -q -p "$d/b.yaml" -- sleep 61 &
        bg=$!
        for _ in $(seq 100); do pgrep -xf "sleep 61" >/dev/null && break; sleep 0.1; done
        check "$u: boot mode: the command runs" pgrep -xf "sleep 61"
        # what attach passes on: only stdio (moat's own descriptors stay out of the container)
        check "$u: the attached command holds only stdin, stdout and stderr" \
                [ "$(ls "/proc/$(pgrep -xf "sleep 61" | head -1)/fd" | tr '\n' ' ')" = "0 1 2 " ]
        mpid=$(pgrep -f "moat run -q -p $d/b.yaml" | head -1)
        kill -9 "$mpid"
        wait $bg 2>/dev/null
        cuid=$([ "$u" = root ] && cut -d: -f2 /etc/moat/system-idmap || id -u "$u")
        left() { pgrep -r RSDT -xf "sleep 61" || pgrep -r RSDT -x init -u "$cuid"; }
        for _ in $(seq 50); do [ -z "$(run_dirs "$u")" ] && ! left >/dev/null && break; sleep 0.1; done
        # (a zombie that the host's init has not reaped yet holds nothing)
        check_all "$u: after kill -9 no container process is left (init, command)" '! left >/dev/null'
        check "$u: after kill -9 no run directory is left" [ -z "$(run_dirs "$u")" ]
        for _ in $(seq 50); do [ "$(moat_cgroups | wc -l)" = "$cg_before" ] && break; sleep 0.1; done
        check "$u: no moat cgroup is left after the boot-mode runs" [ "$(moat_cgroups | wc -l)" = "$cg_before" ]

        # refused with the reason, nothing started
        # (root boots systemd: systemd.sh)
        if [ "$u" != root ]; then
                boot_profile "$d/s.yaml" sysd sysd
                err=$(as_user "$u" "$MOAT" run -q -p "$d/s.yaml" -- echo RAN 2>&1)
                rc=$?
                check_all "$u: an image whose init is systemd is refused for a user (125, root only)" \
                        '[ $rc = 125 ] && ! grep -q RAN <<<"$err" && grep -q "init /sbin/init is systemd, which moat boots as root only" <<<"$err"'
        fi
        boot_profile "$d/n.yaml" noinit boot
        sed -i 's|init: /sbin/init|init: /sbin/no-such-init|' "$d/n.yaml"
        err=$(as_user "$u" "$MOAT" run -q -p "$d/n.yaml" -- echo RAN 2>&1)
        rc=$?
        check_all "$u: an init the image does not have is refused (125)" \
                '[ $rc = 125 ] && grep -q "the image has no init /sbin/no-such-init" <<<"$err"'
done
tap_end
