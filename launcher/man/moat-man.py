#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes moat(1) from the built binary's own --help texts, so that the manual page says what
the program says: `moat-man.py MOAT OUTPUT VERSION`. The top-level --help gives the
description and the command list; each command's --help is its section, verbatim. The
environment, files and exit status are written here (they are not in any --help)."""
import os
import re
import subprocess
import sys


def help_of(moat, *args):
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "HOME": "/nonexistent"}
    out = subprocess.run([moat, *args, "--help"], capture_output=True, text=True, env=env,
                         timeout=30)
    if out.returncode != 0 or not out.stdout.strip():
        sys.exit(f"moat-man: `moat {' '.join(args)} --help` exited {out.returncode}: "
                 f"{out.stderr.strip()}")
    return out.stdout.rstrip("\n")


def roff_text(s):
    """A line of running text: backslashes escaped, a leading . or ' kept literal."""
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return "\\&" + s if s.startswith((".", "'")) else s


def verbatim(text):
    lines = [".nf", ".RS 4"]
    lines += [roff_text(l) if l else "" for l in text.split("\n")]
    lines += [".RE", ".fi"]
    return lines


ENVIRONMENT = [
    ("MOAT_PROFILE_PATH", "Directories (colon-separated) searched first for a profile name, "
     "before $XDG_CONFIG_HOME/moat/profiles, /etc/moat/profiles and the shipped profiles."),
    ("MOAT_AUDIT_LOG", "The audit log to append to and read (otherwise the site policy's "
     "audit_log_path, else /var/log/moat/audit.jsonl for root and "
     "$XDG_STATE_HOME/moat/audit.jsonl for a user)."),
    ("MOAT_DATA_DIR", "The directory of the shipped profiles and policies, instead of the "
     "installed one."),
    ("MOAT_IMAGE_DIR", "The system-tier image store, instead of /var/lib/moat/images (root) "
     "or ~/.local/share/moat/images."),
    ("MOAT_GUEST_KERNEL", "The vm tier's guest kernel; when set but unusable, moat host says "
     "so and the vm tier does not run."),
    ("MOAT_VM_START", "cold: the vm tier boots each guest instead of restoring its warm-start "
     "template."),
    ("XDG_CONFIG_HOME, XDG_STATE_HOME, XDG_CACHE_HOME, XDG_DATA_HOME, XDG_RUNTIME_DIR",
     "Where a user's profiles, audit log, vm templates, images and run directories go."),
]

FILES = [
    ("/etc/moat/policy.yaml", "The site policy (written by root): what profiles may ask for, "
     "and what every run must have."),
    ("/etc/moat/profiles/", "Site profiles, searched before the shipped ones."),
    ("/var/log/moat/audit.jsonl", "root's audit log: one hash-chained JSON record per run."),
]

EXIT = [
    ("0..124", "The command's own exit status."),
    ("125", "moat refused the run or failed before the command started (a bad profile, flag, "
     "policy or OCI config names its file:line:column or the flag)."),
    ("126", "The command was found but is not executable."),
    ("127", "The command was not found."),
    ("128+N", "The command was killed by signal N (137 after a timeout's SIGKILL)."),
]


def main():
    moat, output, version = sys.argv[1:4]
    top = help_of(moat)
    m = re.search(r"^Commands:\n((?:  \S.*\n)+)", top + "\n", re.M)
    if not m:
        sys.exit("moat-man: no command list in `moat --help`")
    commands = [l.split()[0] for l in m.group(1).splitlines()]
    desc = [l for l in top.split("\n\n")[1].split("\n")]
    page = [
        '.TH MOAT 1 "" "moat %s" "User Commands"' % version,
        ".SH NAME",
        "moat \\- run a command under the strongest isolation a profile, the site policy and "
        "this host allow",
        ".SH SYNOPSIS",
        ".B moat",
        ".I COMMAND",
        "[\\fIOPTIONS\\fR] ...",
        ".SH DESCRIPTION",
        *[roff_text(l) for l in desc],
        ".PP",
        "The commands are below, each with the text of its \\fB\\-\\-help\\fR.",
        ".PP",
        *verbatim(top),
        ".SH COMMANDS",
    ]
    for c in commands:
        page += [".SS moat %s" % c, *verbatim(help_of(moat, c))]
    page.append(".SH ENVIRONMENT")
    for name, text in ENVIRONMENT:
        page += [".TP", ".B %s" % name.replace("-", "\\-"), roff_text(text)]
    page.append(".SH FILES")
    for name, text in FILES:
        page += [".TP", ".I %s" % name, roff_text(text)]
    page.append(".SH EXIT STATUS")
    for name, text in EXIT:
        page += [".TP", ".B %s" % name, roff_text(text)]
    page += [
        ".SH SEE ALSO",
        "README.md (what each tier applies, with examples), SECURITY.md (the threat model: "
        "what each tier does and does not protect against), profiles/README.md (the profile "
        "language) and audit/README.md (the audit record), in moat's source and documentation.",
    ]
    tmp = output + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(page) + "\n")
    os.replace(tmp, output)


main()
