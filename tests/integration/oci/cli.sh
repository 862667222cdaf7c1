#!/bin/bash
# SPDX-License-Identifier: MIT
# The runtime's command line without an engine (#16): the log file is always created and holds
# JSON lines {level, msg, time}; the engines' error words; refusals by name; features. Any user.
set -uo pipefail
: "${MOAT:?}" "${MOAT_SOURCE_DIR:?}"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tap.sh"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export MOAT_DATA_DIR=$MOAT_SOURCE_DIR HOME=$T XDG_CONFIG_HOME=$T/config
mkdir "$T/oci"
ln -s "$(realpath "$MOAT")" "$T/oci/ci-untrusted"
ln -s "$(realpath "$MOAT")" "$T/moat-oci"
H=$T/oci/ci-untrusted
L=$T/log.json
last() { tail -1 "$L"; }
valid_line() { python3 -c "
import json, sys
d = json.loads(sys.argv[1]); assert set(d) == {'level', 'msg', 'time'}, d
import datetime; datetime.datetime.fromisoformat(d['time'].replace('Z', '+00:00')[:26] + '+00:00')" "$1"; }

"$H" --root "$T/r" --log "$L" --log-format json state nothing >/dev/null 2>&1
st=$?
check_all "state of an unknown id: exit 125, 'does not exist'" '[ $st = 125 ] && last | grep -q "container nothing does not exist"'
check_all "the log line is JSON with level, msg and an RFC 3339 time" 'valid_line "$(last)"'
"$H" --root "$T/r" --log "$T/new.json" --log-format json delete --force nothing
check_all "delete --force of an unknown id exits 0, and the log file exists" '[ $? = 0 ] && [ -f "$T/new.json" ]'
"$H" --root "$T/r" --log "$L" --log-format json kill nothing 9 2>/dev/null
check_all "kill of an unknown id: 'does not exist'" '[ $? = 125 ] && last | grep -q "does not exist"'
"$H" --root "$T/r" --log "$L" --log-format json --systemd-cgroup create --bundle "$T" x 2>/dev/null
check_all "--systemd-cgroup: refused with a clear error" '[ $? = 125 ] && last | grep -q "systemd-cgroup is not supported"'
for v in checkpoint restore run events list; do
        "$H" --root "$T/r" --log "$L" --log-format json $v x 2>/dev/null
        check_all "$v: refused by name" '[ $? = 125 ] && last | grep -q "'"'$v'"' is not supported"'
done
"$H" --root "$T/r" --log "$L" --log-format json create --bundle "$T" --preserve-fds 2 x 2>/dev/null
check_all "create --preserve-fds 2: refused" '[ $? = 125 ] && last | grep -q "preserve-fds"'
"$H" --root "$T/r" --log "$L" --log-format json create --bundle "$T" --no-pivot x 2>/dev/null
check_all "create --no-pivot: refused" '[ $? = 125 ] && last | grep -q "no-pivot"'
"$H" --root "$T/r" --log "$L" --log-format json create --bundle "$T" x 2>/dev/null
check_all "create without config.json: names the file" '[ $? = 125 ] && last | grep -q "config.json"'
"$T/moat-oci" --root "$T/r" --log "$L" --log-format json create --bundle "$T" x 2>/dev/null
check_all "moat-oci without --profile: refused, says how to name the profile" '[ $? = 125 ] && last | grep -q "no profile"'
# every verb's options, as runc spells them: an unknown one, a missing value, one argument too
# many are errors naming the verb and the option (never ignored)
oci() { "$H" --root "$T/r" --log "$L" --log-format json "$@" >/dev/null 2>&1 </dev/null; }
oci create --bundle "$T" --bogus x
check_all "create --bogus: unknown option, named" '[ $? = 125 ] && last | grep -q "create: unknown option .--bogus."'
oci create x --pid-file
check_all "create --pid-file without a value: named" '[ $? = 125 ] && last | grep -q "create: option .--pid-file. needs a value"'
oci create --bundle="$T" --no-pivot=1 x
check_all "create --no-pivot=1: a flag takes no value" '[ $? = 125 ] && last | grep -q "create: option .--no-pivot. takes no value"'
oci exec --process p.json x sh -c true
check_all "exec with a command line: refused, says to use --process" '[ $? = 125 ] && last | grep -q "exec: unexpected argument .sh. (a command line is not supported: use --process)"'
oci kill x KILL extra
check_all "kill with three arguments: the third is named" '[ $? = 125 ] && last | grep -q "kill: unexpected argument .extra."'
oci delete --bogus x
check_all "delete --bogus: unknown option (not ignored)" '[ $? = 125 ] && last | grep -q "delete: unknown option .--bogus."'
oci update --memory 1 x
check_all "update --memory: refused, says to use --resources" '[ $? = 125 ] && last | grep -q "update: unknown option .--memory. (moat updates the resources: use --resources)"'
oci ps --format yaml x
check_all "ps --format yaml: refused" '[ $? = 125 ] && last | grep -q "ps: --format .yaml. is not table or json"'
"$H" features | python3 -c "import json,sys; d=json.load(sys.stdin); assert d['ociVersionMax'].startswith('1.'); assert d['linux']['cgroup'] == {'v1': True, 'v2': True, 'systemd': False}"
check_all "features: JSON; cgroup v1 and v2, not systemd" '[ $? = 0 ]'
"$H" --help | grep -q "update --resources"
check_all "--help lists the verbs" '[ $? = 0 ]'
check_all "nothing was made under --root by the refusals" '[ -z "$(ls -A "$T/r" 2>/dev/null)" ]'
tap_end
