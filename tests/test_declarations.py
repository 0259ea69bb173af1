#!/usr/bin/env python3
"""The install scripts declare every function explicitly, in one section that stays last.

Every function an install script creates (delta_sync--1.0.sql and the upgrade scripts) must get
an ALTER FUNCTION in the "Explicit declarations" section of the newest upgrade script that names
its volatility (VOLATILE, STABLE or IMMUTABLE), its NULL handling (STRICT or CALLED ON NULL
INPUT) and its parallel safety (PARALLEL SAFE, RESTRICTED or UNSAFE). CREATE OR REPLACE FUNCTION
resets these, so no function may be created after the section starts. sql/declarations.sql
checks the values that result in pg_proc and who may execute what.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXT = os.path.join(ROOT, "src", "extension")
BANNER = "-- Explicit declarations"


def version_key(path):
    m = re.match(r"^delta_sync--(?:[\d.]+--)?([\d.]+)\.sql$", os.path.basename(path))
    return [int(x) for x in m.group(1).split(".")]


def strip_comments(sql):
    return re.sub(r"--[^\n]*", "", sql)


def signature(name, args):
    """schema-less name and argument types: 'track(regclass,integer)'."""
    name = name.replace('"', "").replace("@extschema@.", "").split(".")[-1].lower()
    types = []
    for a in args.split(","):
        a = re.sub(r"\bDEFAULT\b.*$", "", a.strip(), flags=re.I | re.S).strip()
        if not a:
            continue
        words = a.split()
        # "name type" or just "type"
        types.append((words[1] if len(words) > 1 else words[0]).lower())
    return "%s(%s)" % (name, ",".join(types))


def main():
    scripts = [p for p in glob.glob(os.path.join(EXT, "delta_sync--*.sql"))
               if os.path.basename(p) == "delta_sync--1.0.sql" or
               re.match(r"^delta_sync--[\d.]+--[\d.]+\.sql$", os.path.basename(p))]
    scripts.sort(key=version_key)
    newest = scripts[-1]
    failures = []
    created = set()
    for path in scripts:
        src = open(path, encoding="utf-8").read()
        if path == newest:
            at = src.find(BANNER)
            if at < 0:
                failures.append("%s has no %r section" % (os.path.basename(path), BANNER))
                body, section = src, ""
            else:
                body, section = src[:at], src[at:]
        else:
            body, section = src, ""
        # In script order: a function dropped (to change its signature) is no longer there.
        for m in re.finditer(r"(CREATE\s+(?:OR\s+REPLACE\s+)?|DROP\s+)FUNCTION\s+(?:IF\s+EXISTS\s+)?"
                             r"([\w.@\"]+)\s*\(([^)]*)\)", strip_comments(body), re.I):
            if m.group(1).upper().startswith("DROP"):
                created.discard(signature(m.group(2), m.group(3)))
            else:
                created.add(signature(m.group(2), m.group(3)))
        if section and re.search(r"CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION",
                                 strip_comments(section), re.I):
            failures.append("a function is created after the %r banner: that section must stay "
                            "last" % BANNER)
    declared = {}
    src = open(newest, encoding="utf-8").read()
    at = src.find(BANNER)
    section = strip_comments(src[at:]) if at >= 0 else ""
    for m in re.finditer(r"ALTER\s+FUNCTION\s+([\w.@\"]+)\s*\(([^)]*)\)([^;]*);", section, re.I):
        declared[signature(m.group(1), m.group(2))] = " ".join(m.group(3).upper().split())
    for fn in sorted(created):
        attrs = declared.get(fn)
        if attrs is None:
            failures.append("%s: no ALTER FUNCTION in the %r section" % (fn, BANNER))
            continue
        for what, pattern in (("volatility", r"\b(VOLATILE|STABLE|IMMUTABLE)\b"),
                              ("NULL handling", r"\b(STRICT|CALLED ON NULL INPUT|RETURNS NULL ON NULL INPUT)\b"),
                              ("parallel safety", r"\bPARALLEL (SAFE|RESTRICTED|UNSAFE)\b")):
            if not re.search(pattern, attrs):
                failures.append("%s: no explicit %s (%s)" % (fn, what, attrs))
    for fn in sorted(set(declared) - created):
        failures.append("%s: declared but created by no script" % fn)
    print("%d functions, %d declared" % (len(created), len(declared)))
    for f in failures:
        print("FAILED:", f)
    if not failures:
        print("ok: every function declares volatility, NULL handling and parallel safety, last")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
