#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden OCI plans: each line of cases.txt (spec, handler profile, host fixture) through the real
binary (`moat oci --profile P --log L --log-format json explain --bundle B --host-facts F`), with
no site policy, or the site policy policies/POLICY.yaml named in a fourth column. Profiles are the
shipped ones and the test's own in profiles/ (MOAT_PROFILE_PATH).

  oci-golden.py update   write expected/SPEC@PROFILE@HOST[@POLICY].json
  oci-golden.py check    regenerate and diff (TAP)

Each expected file holds the exit status, the last line of the log file (what an engine shows
users) and the OciPlan JSON, normalised: the bundle becomes @BUNDLE@, the source root @SRC@, and
the plan's seccomp rules are kept as their count and SHA-256 (tests/golden/expected/seccomp lists
them per profile)."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MOAT_SOURCE_DIR") or os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
MOAT = os.environ.get("MOAT") or os.path.join(SRC, "build", "moat")


def cases():
        for line in open(os.path.join(HERE, "cases.txt")):
                line = line.split("#", 1)[0].split()
                if line:
                        yield line


def normalise(v, bundle):
        if isinstance(v, str):
                return v.replace(bundle, "@BUNDLE@").replace(SRC, "@SRC@")
        if isinstance(v, list):
                return [normalise(x, bundle) for x in v]
        if isinstance(v, dict):
                return {k: normalise(x, bundle) for k, x in v.items()}
        return v


def run(spec, profile, host, policy, tmp):
        bundle = os.path.join(tmp, "bundle-" + spec)
        os.makedirs(bundle, exist_ok=True)
        shutil.copy(os.path.join(HERE, "specs", spec + ".json"), os.path.join(bundle, "config.json"))
        log = os.path.join(bundle, "log.json")
        if os.path.exists(log):
                os.unlink(log)
        env = dict(os.environ, MOAT_DATA_DIR=SRC, HOME=tmp, XDG_CONFIG_HOME=tmp + "/config",
                   MOAT_PROFILE_PATH=os.path.join(HERE, "profiles"))
        p = subprocess.run([MOAT, "oci", "--profile", profile, "--log", log, "--log-format", "json",
                            "explain", "--bundle", bundle, "--policy",
                            os.path.join(HERE, "policies", policy + ".yaml") if policy else "",
                            "--host-facts", os.path.join(SRC, "tests", "fixtures", "hosts", host + ".json")],
                           env=env, capture_output=True, text=True)
        out = {"exit": p.returncode}
        lines = open(log).read().splitlines() if os.path.exists(log) else None
        if lines is None:
                out["log"] = "MISSING LOG FILE"
        elif lines:
                last = json.loads(lines[-1])
                assert set(last) == {"level", "msg", "time"}, last
                out["log"] = {"level": last["level"], "msg": last["msg"]}
        else:
                out["log"] = None
        if p.stdout.strip():
                plan = json.loads(p.stdout)
                sc = ((plan.get("plan") or {}).get("sandbox") or {}).get("seccomp")
                if sc and "rules" in sc:
                        blob = json.dumps(sc["rules"], sort_keys=True).encode()
                        sc["rules"] = {"count": len(sc["rules"]), "sha256": hashlib.sha256(blob).hexdigest()}
                if plan.get("plan"):
                        plan["plan"].pop("profile", None)
                        plan["plan"].pop("policy", None)
                out["oci_plan"] = plan
        return json.dumps(normalise(out, bundle), indent=1, sort_keys=False) + "\n"


def main():
        mode = sys.argv[1] if len(sys.argv) > 1 else "check"
        exp = os.path.join(HERE, "expected")
        tmp = tempfile.mkdtemp(prefix="moat-oci-golden-")
        try:
                if mode == "update":
                        shutil.rmtree(exp, ignore_errors=True)
                        os.makedirs(exp)
                all_cases = list(cases())
                if mode == "check":
                        print("1..%d" % len(all_cases))
                failed = 0
                for i, case in enumerate(all_cases, 1):
                        spec, profile, host = case[:3]
                        policy = case[3] if len(case) > 3 else None
                        name = "@".join(case)
                        got = run(spec, profile, host, policy, tmp)
                        path = os.path.join(exp, name + ".json")
                        if mode == "update":
                                open(path, "w").write(got)
                                continue
                        want = open(path).read() if os.path.exists(path) else ""
                        if got == want:
                                print("ok %d - %s" % (i, name))
                        else:
                                failed += 1
                                print("not ok %d - %s" % (i, name))
                                import difflib
                                for l in difflib.unified_diff(want.splitlines(), got.splitlines(), "expected", "got", lineterm="", n=2):
                                        print("# " + l)
                return 1 if failed else 0
        finally:
                shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
        sys.exit(main())
