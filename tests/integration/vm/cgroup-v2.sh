#!/bin/bash
# The sandbox tier's cgroup v2 limits, tested where a v2 hierarchy with controllers exists: in a
# vm-tier guest (this host's v2 hierarchy is the hybrid layout's, without controllers). The
# guest, as guest root, mounts cgroup2, hands cgroups over as a delegating manager would, and
# runs the real moat binary in them as root and as moatuser (cgroup-v2-guest.sh has the
# checks; this script boots the guest and reports them).
source "$(dirname "$0")/lib.sh"
[ -x "${MOAT:-}" ] || skip_all "moat not built"
command -v jq >/dev/null || skip_all "jq is not installed"
id moatuser >/dev/null 2>&1 || skip_all "the test user moatuser is missing"

u=${USERS[-1]}
d=$(user_dir "$u")
chown "$(qemu_uid "$u")" "$d/work"
cat >"$d/work/limits.yaml" <<'YAML'
moat: 1
name: limits-v2
isolation: sandbox
filesystem:
  root: host-readonly
  tmpfs:
    - {target: /tmp, size: 8MiB}
resources:
  memory: 64MiB
  pids: 32
  cpus: 0.5
  timeout: 60s
  enforce: required
YAML
cp "$(dirname "$0")/cgroup-v2-guest.sh" "$d/work/guest.sh"
cp "$(dirname "$0")/guest-lib.sh" "$d/work/guest-lib.sh"
chmod a+r "$d/work/limits.yaml" "$d/work/guest.sh" "$d/work/guest-lib.sh"

# The moat binary and its data, read-only at the same paths in the guest.
binds=(-b "$MOAT_SOURCE_DIR:$MOAT_SOURCE_DIR:ro")
for dir in "$MOAT_BUILD_DIR" "$MOAT_DATA_DIR"; do
        case "$dir/" in "$MOAT_SOURCE_DIR"/*) ;; *) binds+=(-b "$dir:$dir:ro") ;; esac
done
out=$(as_user "$u" "$DRIVER" -r -m 768 -t 400000 "${binds[@]}" -w /t -- \
        env MOAT_DATA_DIR="$MOAT_DATA_DIR" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        bash /t/guest.sh "$MOAT" /t/limits.yaml moatuser </dev/null 2>"$T/guest.err" 3>"$T/guest.res")
rc=$?
diag "driver: rc=$rc $(tr '\n' ' ' <"$T/guest.res") err='$(head -c 400 "$T/guest.err")'"
report_guest "$out" "cgroup v2" 30
tap_end
