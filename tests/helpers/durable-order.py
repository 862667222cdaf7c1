#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# durable-order.py TRACE LOG RESULT: reads `strace -f -qq -e trace=openat,write,fdatasync,
# rename,exit_group -o TRACE moat run --result RESULT ...` and prints, in order, "result:STATE"
# when RESULT is renamed into place and "exit:STATE" at moat's exit_group, STATE being "open"
# (no record written to LOG yet), "written" (written, not synced) or "synced" (an fdatasync of
# LOG's fd that returned 0 after the record's write). Used by tests/integration/audit/
# audit-run.sh (sandbox tier) and tests/integration/system/command.sh (system tier).
import re, sys
trace, log, result = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(trace).read().splitlines()
main = lines[0].split()[0]  # moat's own pid: the first traced line is its
fds, state, pending, opening = set(), "open", {}, {}
for l in lines:
    pid, rest = l.split(None, 1)
    m = re.match(r'openat\(AT_FDCWD, "([^"]*)", [^)]*\) = (\d+)', rest)
    if m and m.group(1) == log:
        fds.add(m.group(2))
    # an openat another thread's call split: its fd is on the "<... openat resumed>" line
    if rest.startswith('openat(AT_FDCWD, "%s",' % log) and rest.rstrip().endswith("<unfinished ...>"):
        opening[pid] = True
    m = re.match(r'<\.\.\. openat resumed>.*= (\d+)', rest)
    if m and opening.pop(pid, False):
        fds.add(m.group(1))
    m = re.match(r'write\((\d+), "\{\\"chain', rest)
    if m and m.group(1) in fds:
        state = "written"
    # with -f, another thread's call in between splits a call into "<unfinished ...>" and
    # "<... fdatasync resumed>": its result is on the second line
    m = re.match(r'fdatasync\((\d+)', rest)
    if m and m.group(1) in fds and state == "written":
        if rest.rstrip().endswith("<unfinished ...>"):
            pending[pid] = True
        elif rest.rstrip().endswith("= 0"):
            state = "synced"
    if rest.startswith("<... fdatasync resumed>") and pending.pop(pid, False) and \
            rest.rstrip().endswith("= 0") and state == "written":
        state = "synced"
    m = re.match(r'rename\("[^"]*", "([^"]*)"\)', rest)
    if m and m.group(1) == result:
        print("result:" + state)
    if pid == main and rest.startswith("exit_group"):
        print("exit:" + state)
        break
else:
    print("no exit_group of moat in the trace")
