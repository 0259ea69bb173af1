#!/usr/bin/env python3
"""tests/check_messages.py finds what it must and nothing else.

Runs the checker on small C++ and SQL files written here, each line holding a message that
follows PostgreSQL's style or breaks exactly one rule, and compares the violations it reports
(file:line and rule) with the expected ones. Also checks that a function redefined by a later
upgrade script is judged by its new definition only, that the checker finds no violation and
exits 0 on a file of good messages, and that it exits 1 when there is a violation.
"""
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_messages.py")

CPP = r'''// fixture
void f() {
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation \"%s\" does not exist", name)));
    ereport(ERROR, (errmsg("Table is broken")));
    ereport(ERROR, (errmsg("table is broken.")));
    ereport(ERROR, (errmsg("delta_sync.purge: older_than must not be negative")));
    ereport(ERROR, (errmsg("could not open \"%s\"", n), errdetail("the file is gone.")));
    ereport(ERROR, (errmsg("could not open \"%s\"", n), errhint("Try again later")));
    elog(ERROR, "delta_sync: SPI_connect failed");
    elog(ERROR, "could not connect to SPI: %s", SPI_result_code_string(rc));
    throw SqlError(ERRCODE_NULL_VALUE_NOT_ALLOWED, "delta_since: the table must not be NULL");
    throw SqlError(ERRCODE_WRONG_OBJECT_TYPE, ("\"" + std::string(n) + "\" is not a table").c_str());
    std::string msg = std::string(name) + " must be at least 1";
    std::string hint = "Start tracking it with SELECT delta_sync.track('" + table + "');";
    throw SqlError(ERRCODE_INVALID_PARAMETER_VALUE, msg.c_str(), nullptr, hint.c_str());
    ereport(ERROR, (errmsg_internal("%s", failure.message)));
    throw SqlError(ERRCODE_INTERNAL_ERROR, e.what());
    // errmsg("Ignored: this is a comment.")
    ereport(ERROR, (errmsg("\"%s\" is not tracked", n),
                    errdetail("Rows of \"%s\" carry no versions.", n),
                    errhint("track() first")));
}
'''

SQL = """-- fixture
COMMENT ON FUNCTION g() IS 'says raise ''Wrong.'' in its text: no RAISE statement';
CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'delta_sync.track: the table must not be NULL' USING ERRCODE = '22004';
    RAISE EXCEPTION 'table % has no primary key', t USING ERRCODE = '55000',
        HINT = 'delta_sync identifies rows by a single-column primary key; add one first.';
    RAISE EXCEPTION 'must be owner of table % to track it', t USING ERRCODE = '42501';
    RAISE WARNING 'Column %.% is odd.', a, b;
    RAISE EXCEPTION USING MESSAGE = 'it''s fine', DETAIL = 'The detail''s fine.';
    -- RAISE EXCEPTION 'Not a message: a comment.';
END
$fn$;
"""

# (file, line, rule substring)
EXPECTED_CPP = [
    (4, "starts with a capital letter"),
    (5, "ends with a period"),
    (6, "name prefix"),
    (7, "detail does not start with a capital letter"),
    (8, "hint does not end with a period"),
    (9, "name prefix"),
    (11, "name prefix"),
    (15, "hint does not end with a period"),
    (21, "hint does not start with a capital letter"),
    (21, "hint does not end with a period"),
]
EXPECTED_SQL = [  # line 2: "raise" inside a COMMENT's text is no RAISE statement
    (5, "name prefix"),
    (7, "hint does not start with a capital letter"),
    (9, "starts with a capital letter"),
    (9, "ends with a period"),
]

# A released script and the upgrade script that redefines one of its functions: only the
# installed (last) definition's messages count.
# s.c has no dollar-quoted body: s.f's messages are still s.f's, not taken for s.c's.
OLD_SCRIPT = """CREATE FUNCTION s.c() RETURNS void AS 'MODULE_PATHNAME', 's_c' LANGUAGE C;
CREATE FUNCTION s.f(t regclass) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 's.f: the table must not be NULL';
END
$fn$;
COMMENT ON FUNCTION s.f(regclass) IS 'f';

CREATE FUNCTION s.g() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'Broken.';
END $$;
"""
UPGRADE_SCRIPT = """-- upgrade
CREATE OR REPLACE FUNCTION s.f(t regclass) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION 'the table must not be NULL';
    RAISE EXCEPTION 'Still wrong';
END
$fn$;
"""
EXPECTED_OLD = [(11, "starts with a capital letter"), (11, "ends with a period")]
EXPECTED_UPGRADE = [(5, "starts with a capital letter")]

GOOD = r'''void g() {
    ereport(ERROR, (errmsg("could not open file \"%s\": %m", path),
                    errdetail("The file was removed."), errhint("Create it again.")));
    elog(ERROR, "unrecognized jsonb token: %d", t);
}
'''


def run(*files):
    p = subprocess.run([sys.executable, CHECKER] + list(files), capture_output=True, text=True)
    return p.returncode, p.stdout


def found(out, path):
    hits = []
    for line in out.splitlines():
        m = re.match(r"^(.*):(\d+): (.*?): ", line)
        if m and m.group(1).endswith(os.path.basename(path)):
            hits.append((int(m.group(2)), m.group(3)))
    return hits


def matches(hits, expected):
    """Every expected (line, rule) is reported once, and nothing else is."""
    left = list(hits)
    for line, rule in expected:
        hit = next((h for h in left if h[0] == line and rule in h[1]), None)
        if hit is None:
            return "missing %d: %s" % (line, rule)
        left.remove(hit)
    return "unexpected: %r" % left if left else None


def main():
    failures = []
    with tempfile.TemporaryDirectory() as d:
        cpp, sql, good = (os.path.join(d, n) for n in ("fixture.cpp", "fixture.sql", "good.cpp"))
        for path, text in ((cpp, CPP), (sql, SQL), (good, GOOD)):
            with open(path, "w") as f:
                f.write(text)

        rc, out = run(cpp, sql)
        print(out, end="")
        for path, expected in ((cpp, EXPECTED_CPP), (sql, EXPECTED_SQL)):
            problem = matches(found(out, path), expected)
            if problem:
                failures.append("%s: %s" % (os.path.basename(path), problem))
        if rc != 1:
            failures.append("exit status %d with violations, expected 1" % rc)
        rc, out_list = run("--list", cpp)
        listed = sum(1 for line in out_list.splitlines() if re.match(r"^.*:\d+: (message|detail|hint): ", line))
        # Every message of the C++ fixture but the pass-through ones and the comment.
        if listed != 17:
            failures.append("--list printed %d messages of the C++ fixture, expected 17" % listed)

        old, upgrade = (os.path.join(d, n) for n in ("ext--1.0.sql", "ext--1.0--1.1.sql"))
        for path, text in ((old, OLD_SCRIPT), (upgrade, UPGRADE_SCRIPT)):
            with open(path, "w") as f:
                f.write(text)
        rc, out = run(upgrade, old)  # in any order on the command line
        print(out, end="")
        for path, expected in ((old, EXPECTED_OLD), (upgrade, EXPECTED_UPGRADE)):
            problem = matches(found(out, path), expected)
            if problem:
                failures.append("%s: %s" % (os.path.basename(path), problem))

        rc, out = run(good)
        print(out, end="")
        if rc != 0 or "4 messages checked, 0 violations" not in out:
            failures.append("good messages: exit %d, output %r" % (rc, out))

    for f in failures:
        print("FAILED:", f)
    if not failures:
        print("ok: the checker reports every broken rule and accepts good messages")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
