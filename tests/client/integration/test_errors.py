"""Failures are one clear line on stderr and a non-zero exit; --help works on every command; the
connection comes from --dsn, else DATABASE_URL, else PG*; track/untrack/status and get wrap the
SQL functions."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import check, create_products, database, require_server, run, scratch_dir, sql  # noqa: E402

require_server()
work = scratch_dir("errors")
replica = os.path.join(work, "replica.db")


def fails(args, dsn=None, contains="", env=None, rc=2):
    p = run(args, dsn, check_rc=rc, env=env)
    lines = p.stderr.splitlines()
    check(len(lines) == 1 and lines[0].startswith("delta-sync: "),
          "%s: expected one line on stderr, got %r" % (" ".join(args), p.stderr))
    check(contains.lower() in lines[0].lower(), "%r does not say %r" % (lines[0], contains))
    check(p.stdout == "", "nothing on stdout: %r" % p.stdout)
    return lines[0]


with database("errors") as (dsn, conn):
    create_products(conn, 25)
    sql(conn, "CREATE TABLE untracked (id int PRIMARY KEY)")

    # Connection problems.
    fails(["pull", "products", "--replica", replica], "host=/nonexistent/socket/dir", "cannot connect")
    fails(["get", "products"], "dbname=no_such_database_here", "no_such_database_here")
    env = dict(os.environ, DATABASE_URL="postgresql:///no_such_db_from_url")
    fails(["get", "products"], None, "no_such_db_from_url", env=env)       # DATABASE_URL beats PG*
    run(["get", "products"], dsn, env=env)                                   # --dsn beats DATABASE_URL
    env = dict(os.environ, PGDATABASE="no_such_db_from_pg", DATABASE_URL="")
    fails(["get", "products"], None, "no_such_db_from_pg", env=env)          # PG* last
    env = dict(os.environ, PGDATABASE="no_such_db_from_pg",
               DATABASE_URL="postgresql:///%s?host=%s" % (dsn.split("=")[1], os.environ["PGHOST"]))
    run(["get", "products"], None, env=env)

    # Server-side refusals.
    fails(["pull", "nosuch", "--replica", replica], dsn, 'relation "nosuch" does not exist')
    fails(["get", "untracked"], dsn, "not tracked")
    fails(["get", "products", "--since", "garbage"], dsn, "invalid serverVersion")
    fails(["track", "nosuch"], dsn, "does not exist")
    sql(conn, "CREATE TABLE nokey (a int)")
    fails(["track", "nokey"], dsn, "primary key")

    # Local refusals.
    fails(["pull", "products", "--replica", "/nonexistent/dir/replica.db"], dsn, "cannot open replica")
    fails(["diff", "products", "--replica", os.path.join(work, "missing.db")], dsn, "does not exist")
    fails(["frobnicate"], None, "unknown command")
    fails([], None, "no command")
    fails(["pull", "products"], None, "--replica is required")
    fails(["pull", "products", "--replica", replica, "--page-size", "0"], dsn, "--page-size")
    fails(["get", "products", "--bogus"], None, "unknown option")

    # A database without the extension.
    sql(conn, "DROP EXTENSION delta_sync CASCADE")
    fails(["pull", "products", "--replica", replica], dsn, "extension is not installed")
    sql(conn, "CREATE EXTENSION delta_sync")
    sql(conn, "SELECT delta_sync.track('products')")

    # --help everywhere.
    for command in ("pull", "get", "diff", "track", "untrack", "status"):
        p = run([command, "--help"])
        check(p.stdout.startswith("Usage: delta-sync " + command), p.stdout)
    check(run(["--help"]).stdout.startswith("Usage: delta-sync COMMAND"), "overview")

    # track / status / untrack.
    run(["track", "untracked", "--max-changes", "77"], dsn)
    p = run(["status"], dsn)
    lines = {line.split()[0]: line.split() for line in p.stdout.splitlines()[1:]}
    check(lines["untracked"][1] == "77" and lines["products"][1] == "1000", p.stdout)
    run(["pull", "products", "--replica", replica], dsn)
    p = run(["status", "products", "untracked", "--replica", replica], dsn)
    rows = {line.split()[0]: line.split() for line in p.stdout.splitlines()[1:]}
    check(rows["products"][3] != "never" and rows["untracked"][3] == "never", p.stdout)
    run(["untrack", "untracked"], dsn)
    check("untracked" not in run(["status"], dsn).stdout, "untracked is gone")
    fails(["status", "untracked"], dsn, "not tracked")

    # get prints raw documents, one per line: pages share one serverVersion.
    docs = [json.loads(line) for line in run(["get", "products", "--page-size", "10"], dsn).stdout.splitlines()]
    check([len(d["created"]) for d in docs] == [10, 10, 5], [len(d["created"]) for d in docs])
    check(len({d["serverVersion"] for d in docs}) == 1, "one serverVersion")
    since = docs[0]["serverVersion"]
    sql(conn, "UPDATE products SET name = 'x' WHERE id <= 3")
    doc = json.loads(run(["get", "products", "--since", since], dsn).stdout)
    check(len(doc["updated"]) == 3 and not doc["fullResyncRequired"], doc)
    doc = json.loads(run(["get", "products", "--since", since, "--max-changes", "2"], dsn).stdout)
    check(doc["fullResyncRequired"] and doc["updated"] == [], doc)
    check(list(doc) == ["created", "updated", "deleted", "serverVersion", "fullResyncRequired"], list(doc))
print("ok")
