#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden plans: every shipped profile x every host fixture through the real binary
(`moat explain --json --host-facts FIXTURE -p PROFILE`).

  golden.py update OUTDIR   write the expected files
  golden.py check  OUTDIR   regenerate into a temporary directory and diff (TAP)

Layout of OUTDIR:
  tiers.md                      profile x fixture -> exit status, tier, refusal (review this first)
  plans/PROFILE@FIXTURE.json    the plan, normalised (below)
  seccomp/PROFILE.txt           the seccomp rule listing of each profile (host: modern.json)

Normalisation, so the files do not depend on where the tree is checked out: the source
root becomes @SRC@. Seccomp rules are listed once per profile in seccomp/ (they do not
depend on the host) and each plan keeps their count and SHA-256 instead, so a change on any
host still shows up as a diff. Arrays of objects are written one element per line.
"""
import errno
import hashlib
import json
import re
import os
import shutil
import subprocess
import sys
import tempfile

SRC = os.environ.get("MOAT_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MOAT = os.environ.get("MOAT") or os.path.join(SRC, "build", "moat")
FIXTURES = os.path.join(SRC, "tests", "fixtures", "hosts")
LISTING_FIXTURE = "modern"


def profiles():
        out = []
        for d in (os.path.join(SRC, "profiles"), os.path.join(SRC, "tests", "golden", "profiles")):
                for f in sorted(os.listdir(d)):
                        if f.endswith(".yaml"):
                                out.append(os.path.join(d, f))
        return out


def fixtures():
        return [os.path.join(FIXTURES, f) for f in sorted(os.listdir(FIXTURES)) if f.endswith(".json")]


def normalise(v):
        if isinstance(v, str):
                return v.replace(SRC, "@SRC@")
        if isinstance(v, list):
                return [normalise(x) for x in v]
        if isinstance(v, dict):
                return {k: normalise(x) for k, x in v.items()}
        return v


def fmt(v, level=0):
        pad = "  " * (level + 1)
        if isinstance(v, dict) and v:
                items = [pad + json.dumps(k) + ": " + fmt(x, level + 1) for k, x in v.items()]
                return "{\n" + ",\n".join(items) + "\n" + "  " * level + "}"
        if isinstance(v, list) and v and any(isinstance(x, (dict, list)) for x in v):
                items = [pad + json.dumps(x, separators=(", ", ": ")) for x in v]
                return "[\n" + ",\n".join(items) + "\n" + "  " * level + "]"
        return json.dumps(v, separators=(", ", ": "))


def listing(rules):
        lines = []
        for r in rules:
                args = " ".join("arg%d&%s==%s" % (a["arg"], a["mask"], a["value"]) if a["op"] == "masked_eq"
                                else "arg%d %s %s" % (a["arg"], a["op"], a["value"]) for a in r["args"])
                lines.append("%-20s %-6s %-8s %-34s %s" % (r["name"], r["action"], errno.errorcode.get(r["errno"], str(r["errno"])),
                                                           args or "-", r["group"] + " " + r["origin"]))
        return "\n".join(lines) + "\n"


HOME = tempfile.mkdtemp(prefix="moat-golden-home-")


def explain(profile, fixture):
        # Hermetic: no real $HOME or XDG directories, no /etc/moat site policy (--policy '').
        env = dict(os.environ, MOAT_DATA_DIR=SRC, HOME=HOME, XDG_CONFIG_HOME=HOME + "/config",
                   XDG_CACHE_HOME=HOME + "/cache", XDG_DATA_HOME=HOME + "/data", MOAT_AUDIT_LOG=HOME + "/audit.jsonl")
        p = subprocess.run([MOAT, "explain", "--json", "--policy", "", "--host-facts", fixture, "-p", profile],
                           capture_output=True, text=True, env=env, timeout=60)
        if not p.stdout.strip():
                return p.returncode, None, p.stderr.strip()
        return p.returncode, json.loads(p.stdout), p.stderr.strip()


def generate(out):
        os.makedirs(os.path.join(out, "plans"), exist_ok=True)
        os.makedirs(os.path.join(out, "seccomp"), exist_ok=True)
        rows = []
        for prof in profiles():
                pname = os.path.basename(prof)[:-5]
                for fix in fixtures():
                        fname = os.path.basename(fix)[:-5]
                        rc, plan, err = explain(prof, fix)
                        if plan is None:
                                rows.append((pname, fname, rc, "-", "no plan: " + err.splitlines()[0] if err else "no plan"))
                                continue
                        # A profile whose resolved content names a path in the source tree (an
                        # image root) has a digest that depends on where the tree is checked out.
                        # (citations of the profile file itself, "FILE:LINE:COL", do not count).
                        body = {k: x for k, x in plan.items() if k not in ("profile", "policy")}
                        cited = re.sub(re.escape(SRC) + r"/profiles/[^/\"]+\.yaml(:[0-9]+)*", "", json.dumps(body))
                        path_dependent = SRC in cited
                        plan = normalise(plan)
                        if path_dependent and isinstance(plan.get("profile"), dict) and "digest" in plan["profile"]:
                                plan["profile"]["digest"] = "@DIGEST-OF-PATH-DEPENDENT-PROFILE@"
                        sb = plan.get("sandbox")
                        if sb and isinstance(sb.get("seccomp", {}).get("rules"), list):
                                rules = sb["seccomp"]["rules"]
                                if fname == LISTING_FIXTURE:
                                        with open(os.path.join(out, "seccomp", pname + ".txt"), "w") as f:
                                                f.write(listing(rules))
                                canon = json.dumps(rules, sort_keys=True, separators=(",", ":")).encode()
                                sb["seccomp"]["rules"] = {"count": len(rules), "sha256": hashlib.sha256(canon).hexdigest(),
                                                          "listing": "seccomp/%s.txt" % pname}
                        with open(os.path.join(out, "plans", "%s@%s.json" % (pname, fname)), "w") as f:
                                f.write(fmt(plan) + "\n")
                        refusal = (plan.get("refusal") or "").splitlines()
                        rows.append((pname, fname, rc, plan["tier"], ("REFUSED: " + refusal[0]) if plan["refused"] else ""))
        with open(os.path.join(out, "tiers.md"), "w") as f:
                f.write("# Golden tiers: profile x host fixture (moat explain exit status, tier, refusal)\n\n")
                f.write("| profile | host fixture | exit | tier | refusal |\n|---|---|---|---|---|\n")
                for r in rows:
                        f.write("| %s | %s | %d | %s | %s |\n" % (r[0], r[1], r[2], r[3], r[4].replace("|", "/")))


def check(expected):
        with tempfile.TemporaryDirectory(prefix="moat-golden-") as tmp:
                generate(tmp)
                names = set()
                for base in (expected, tmp):
                        for root, _, files in os.walk(base):
                                for fn in files:
                                        names.add(os.path.relpath(os.path.join(root, fn), base))
                names = sorted(names)
                print("1..%d" % len(names))
                failed = 0
                for i, n in enumerate(names, 1):
                        a, b = os.path.join(expected, n), os.path.join(tmp, n)
                        if not os.path.exists(a) or not os.path.exists(b):
                                failed += 1
                                print("not ok %d - %s %s" % (i, n, "is new (run tests/golden/update.sh)" if os.path.exists(b)
                                                              else "is no longer produced"))
                                continue
                        d = subprocess.run(["diff", "-u", a, b], capture_output=True, text=True)
                        if d.returncode == 0:
                                print("ok %d - %s" % (i, n))
                        else:
                                failed += 1
                                print("not ok %d - %s differs (run tests/golden/update.sh and review)" % (i, n))
                                for line in d.stdout.splitlines()[:40]:
                                        print("# " + line)
                return 1 if failed else 0


if __name__ == "__main__":
        if len(sys.argv) != 3 or sys.argv[1] not in ("update", "check"):
                sys.stderr.write(__doc__)
                sys.exit(2)
        if not os.access(MOAT, os.X_OK):
                sys.stderr.write("golden: %s is not executable (set MOAT)\n" % MOAT)
                sys.exit(2)
        try:
                if sys.argv[1] == "update":
                        generate(sys.argv[2])
                        status = 0
                else:
                        status = check(sys.argv[2])
        finally:
                shutil.rmtree(HOME, ignore_errors=True)
        sys.exit(status)
