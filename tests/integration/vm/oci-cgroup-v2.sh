#!/bin/bash
# `moat oci` on a pure cgroup v2 hierarchy with controllers, which this host's hybrid layout
# does not have: in a vm-tier guest booted with the real moat, as guest root, a container from
# the captured ctr-run spec with linux.cgroupsPath and linux.resources (memory, pids, cpu).
# oci-cgroup-v2-guest.sh has the checks (the cgroup's files, the workload's /proc/PID/cgroup,
# update --resources -, state, ps, pause/resume, the statistics the shim reads, delete); this
# script boots the guest and reports them.
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
command -v busybox >/dev/null || skip_all "busybox is not installed"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"

u=${USERS[-1]}
d=$(user_dir "$u")
chown "$(qemu_uid "$u")" "$d/work"
# The handler's profile: limits above the spec's (the smaller wins), all required, so that a
# cgroup moat cannot make fails create instead of running without it.
cat >"$d/work/oci-v2.yaml" <<'YAML'
moat: 1
name: oci-v2
isolation: sandbox
filesystem:
  root: host-readonly
  tmpfs:
    - {target: /tmp, size: 8MiB}
network: none
resources:
  memory: 128MiB
  pids: 64
  cpus: 1
  timeout: 10m
  enforce: required
mac:
  landlock: best-effort
YAML
cp "$(dirname "$0")/oci-cgroup-v2-guest.sh" "$d/work/guest.sh"
cp "$(dirname "$0")/guest-lib.sh" "$d/work/guest-lib.sh"
chmod a+r "$d/work/oci-v2.yaml" "$d/work/guest.sh" "$d/work/guest-lib.sh"

binds=(-b "$MOAT_SOURCE_DIR:$MOAT_SOURCE_DIR:ro")
for dir in "$MOAT_BUILD_DIR" "$MOAT_DATA_DIR"; do
        case "$dir/" in "$MOAT_SOURCE_DIR"/*) ;; *) binds+=(-b "$dir:$dir:ro") ;; esac
done
out=$(as_user "$u" "$DRIVER" -r -m 768 -t 500000 "${binds[@]}" -w /t -- \
        env MOAT_DATA_DIR="$MOAT_DATA_DIR" MOAT_PROFILE_PATH=/t PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        bash /t/guest.sh "$MOAT" oci-v2 "$MOAT_SOURCE_DIR/tests/golden/oci/specs/ctr-run-rootfs.json" \
        </dev/null 2>"$T/guest.err" 3>"$T/guest.res")
rc=$?
diag "driver: rc=$rc $(tr '\n' ' ' <"$T/guest.res") err='$(head -c 400 "$T/guest.err")'"
report_guest "$out" "moat oci cgroup v2" 25
tap_end
