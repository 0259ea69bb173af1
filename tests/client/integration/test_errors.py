"""Failures are one clear line on stderr and a non-zero exit; --help works on every command; the
connection comes from --dsn, else DATABASE_URL, else PG*; track/untrack/status and get wrap the
SQL functions."""
import json
import os
import signal
import subprocess
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import (BINARY, check, create_products, database, require_server, run,  # noqa: E402
                       scratch_dir, sql)

require_server()
work = scratch_dir("errors")
replica = os.path.join(work, "replica.db")


def run_sqlite(path):
    """Rows of table slow in the replica (0 when it has no such table)."""
    import sqlite3
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT count(*) FROM slow").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        db.close()


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

    # A replica that keeps nothing is refused; a pull that cannot start creates no file.
    for bad in ("", ":memory:"):
        fails(["pull", "products", "--replica", bad], dsn, "needs a file")
    never = os.path.join(work, "never.db")
    fails(["pull", "products", "--replica", never], "host=/nonexistent/socket/dir", "cannot connect")
    fails(["pull", "products", "nosuch", "--replica", never], dsn, 'relation "nosuch" does not exist')
    for name in ("-", "0"):
        fails(["pull", name, "--replica", never], dsn, 'relation "%s" does not exist' % name)
        fails(["get", name], dsn, 'relation "%s" does not exist' % name)
    check(not os.path.exists(never), "a failed pull created %s" % never)

    # A read-only replica: one whole sentence, nothing cut.
    if os.getuid() == 0:  # root writes anything: run the client as another user
        ro_dir = os.path.join(work, "ro")
        os.mkdir(ro_dir)
        os.chmod(work, 0o755)
        ro = os.path.join(ro_dir, "replica.db")
        run(["pull", "products", "--replica", ro], dsn)
        p = subprocess.run(["runuser", "-u", "postgres", "--", BINARY, "pull", "products", "--replica", ro,
                            "--dsn", dsn], capture_output=True, text=True, timeout=60)
        check(p.returncode == 2 and p.stderr == "delta-sync: replica %s is read-only (delta-sync needs "
              "to write it)\n" % ro, "read-only: %d %r" % (p.returncode, p.stderr))

    # help, --version, untrack of an untracked table.
    fails(["help", "nonsense"], None, "unknown command 'nonsense'")
    check(run(["help", "pull"]).stdout.startswith("Usage: delta-sync pull"), "help pull")
    check(run(["--version"]).stdout == "delta-sync 1.2\n", "version")
    p = run(["untrack", "untracked"], dsn)
    check(p.stdout == "untracked was not tracked; nothing to do\n", p.stdout)

    # SIGINT during the first sync of a --watch: exit 130 like a plain pull, nothing kept.
    # The table is locked on the server so that the signal surely arrives mid-sync.
    create_products(conn, 50, table="slow")
    # Its own session: one transaction would see pg_stat_activity frozen at its first look.
    locker_conn = psycopg2.connect(dsn)
    locker_conn.autocommit = True
    locker = locker_conn.cursor()
    for watch in ([], ["--watch"]):
        replica_i = os.path.join(work, "interrupted%d.db" % len(watch))
        locker.execute("BEGIN; LOCK TABLE slow IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen([BINARY, "pull", "slow", "--replica", replica_i, "--dsn",
                                 dsn + " application_name=interrupted"] + watch,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 30
        while time.time() < deadline and not sql(
                conn, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'interrupted' "
                      "AND wait_event_type = 'Lock'"):
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.2)
        locker.execute("ROLLBACK")
        out, err = proc.communicate(timeout=60)
        check(proc.returncode == 130, "pull %s: exit %d on SIGINT mid-sync (%r)" % (watch, proc.returncode, err))
        check("interrupted" in err and out == "", (out, err))
        check(not os.path.exists(replica_i) or run_sqlite(replica_i) == 0, "nothing kept")
print("ok")
