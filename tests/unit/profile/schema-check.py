#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Validate every shipped profile against profiles/moat-profile.schema.json, and prove the
schema rejects each deliberately wrong profile in schema-bad/ (so this test can fail).

Profiles are read with YAML 1.2 core-schema typing, as moat's parser and editors' language
servers read them (PyYAML's default is YAML 1.1, where 'off' is false and 0o7 is a string).
Prints TAP; exit status 1 on any failure."""
import glob
import json
import os
import re
import sys

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    pass


Yaml12Loader.yaml_implicit_resolvers = {}
for tag, pattern, first in [
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", list("~nN") + [""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
]:
    Yaml12Loader.add_implicit_resolver(tag, re.compile(pattern), first)


def construct_int(loader, node):
    v = loader.construct_scalar(node)
    if v.startswith("0o"):
        return int(v[2:], 8)
    if v.startswith("0x"):
        return int(v[2:], 16)
    return int(v, 10)


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", construct_int)


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=Yaml12Loader)


def main():
    profiles_dir, bad_dir, corpus_dir = sys.argv[1:4]
    with open(os.path.join(profiles_dir, "moat-profile.schema.json"), encoding="utf-8") as f:
        document = json.load(f)
    jsonschema.Draft202012Validator.check_schema(document)
    schema = jsonschema.Draft202012Validator(document)
    # The shipped profiles, and the parser's own valid corpus: both languages must agree.
    good = sorted(glob.glob(os.path.join(profiles_dir, "*.yaml")))
    good += sorted(glob.glob(os.path.join(corpus_dir, "good-*.yaml")))
    bad = sorted(glob.glob(os.path.join(bad_dir, "*.yaml")))
    failures = 0
    n = 0
    print(f"1..{len(good) + len(bad) + 2}")

    n += 1
    ok = len(good) >= 15 and len(bad) >= 15
    print(f"{'ok' if ok else 'not ok'} {n} - {len(good)} shipped profiles and {len(bad)} wrong ones found")
    failures += not ok

    for path in good:
        n += 1
        errors = sorted(schema.iter_errors(load(path)), key=str)
        if errors:
            failures += 1
            print(f"not ok {n} - {path} is valid")
            for e in errors:
                print(f"#   {'/'.join(map(str, e.absolute_path))}: {e.message}")
        else:
            print(f"ok {n} - {path} is valid")

    for path in bad:
        n += 1
        errors = list(schema.iter_errors(load(path)))
        if errors:
            print(f"ok {n} - {os.path.basename(path)} is rejected: {errors[0].message[:100]}")
        else:
            failures += 1
            print(f"not ok {n} - {os.path.basename(path)} is rejected (the schema accepted it)")

    # Every object in the schema must refuse unknown keys, like the parser does.
    n += 1
    loose = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                loose.append(where)
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(schema.schema, "#")
    print(f"{'ok' if not loose else 'not ok'} {n} - every object sets additionalProperties {' '.join(loose)}")
    failures += bool(loose)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
