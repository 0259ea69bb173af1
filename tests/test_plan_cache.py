#!/usr/bin/env python3
"""delta_since's per-backend caches (the table's shape, codecs and prepared scans; where the
registry is) against changes made by ANOTHER session between two calls: every change must show
in the reader's next call. The reader warms its caches before each change and keeps its session
(and, for the registry's changes, an open READ COMMITTED transaction) across it.

Runs against the server the libpq environment names (tests/run_all.sh provides one).
"""
import json
import re
import sys

import psycopg2
import psycopg2.errors

DB = "delta_sync_plan_cache"
failures = []


def connect(dbname=DB, autocommit=True):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = autocommit
    return conn


def check(name, got, want):
    ok = got == want
    print("%-40s %s" % (name, "ok" if ok else "FAILED: got %r, want %r" % (got, want)))
    if not ok:
        failures.append(name)


def bare(rec):
    return {k: v for k, v in rec.items() if k not in ("created_at", "updated_at")}


class Reader:
    def __init__(self, conn):
        self.cur = conn.cursor()

    def docs(self, table, since=None):
        self.cur.execute("SELECT d FROM delta_since(%s, %s) d", (table, since))
        return [r[0] if isinstance(r[0], dict) else json.loads(r[0]) for r in self.cur.fetchall()]

    def records(self, table):
        """The keys and values of a full sync's records, in order, without timestamps."""
        return [list(bare(r).items()) for d in self.docs(table) for r in d["created"]]

    def delta(self, table, since):
        d = self.docs(table, since)[0]
        return (len(d["created"]), len(d["updated"]), len(d["deleted"]), d["fullResyncRequired"])

    def cursor(self, table):
        return self.docs(table)[0]["serverVersion"]

    def error(self, sql, args=()):
        try:
            self.cur.execute("SAVEPOINT e" if not self.cur.connection.autocommit else "SELECT 1")
            self.cur.execute(sql, args)
            self.cur.fetchall()
            return "ok"
        except psycopg2.Error as e:
            if not self.cur.connection.autocommit:
                self.cur.execute("ROLLBACK TO SAVEPOINT e")
            return "%s: %s" % (e.pgcode, e.pgerror.splitlines()[0].replace("ERROR:  ", ""))


def main():
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    writer_conn = connect()
    w = writer_conn.cursor()
    w.execute("CREATE EXTENSION delta_sync")
    w.execute("CREATE SCHEMA s")
    w.execute("CREATE TABLE s.t (id integer PRIMARY KEY, a integer, b text)")
    w.execute("SELECT delta_sync.track('s.t')")
    w.execute("INSERT INTO s.t VALUES (1, 10, 'x')")

    reader_conn = connect()
    r = Reader(reader_conn)
    check("before", r.records("s.t"), [[("id", 1), ("a", 10), ("b", "x"), ("deleted_at", None)]])

    # The table's shape, changed by the other session between two calls.
    w.execute("ALTER TABLE s.t ADD COLUMN c integer DEFAULT 5")
    check("column added", r.records("s.t"),
          [[("id", 1), ("a", 10), ("b", "x"), ("deleted_at", None), ("c", 5)]])
    w.execute("ALTER TABLE s.t DROP COLUMN b")
    check("column dropped", r.records("s.t"), [[("id", 1), ("a", 10), ("deleted_at", None), ("c", 5)]])
    w.execute("ALTER TABLE s.t RENAME COLUMN a TO a2")
    check("column renamed", r.records("s.t"), [[("id", 1), ("a2", 10), ("deleted_at", None), ("c", 5)]])
    w.execute("ALTER TABLE s.t ALTER COLUMN a2 TYPE text")
    check("column retyped", r.records("s.t"), [[("id", 1), ("a2", "10"), ("deleted_at", None), ("c", 5)]])

    # Renamed table and schema: the reader's messages name them as they are now.
    w.execute("SELECT delta_sync.untrack('s.t')")
    check("untracked first", r.error("SELECT * FROM delta_since('s.t', NULL)"),
          '55000: table "s.t" is not tracked by delta_sync')
    w.execute("ALTER TABLE s.t RENAME TO t2")
    check("table renamed", r.error("SELECT * FROM delta_since('s.t2', NULL)"),
          '55000: table "s.t2" is not tracked by delta_sync')
    w.execute("ALTER SCHEMA s RENAME TO s2")
    check("schema renamed", r.error("SELECT * FROM delta_since('s2.t2', NULL)"),
          '55000: table "s2.t2" is not tracked by delta_sync')
    w.execute("SELECT delta_sync.track('s2.t2')")
    check("tracked after renames", r.records("s2.t2"), [[("id", 1), ("a2", "10"), ("deleted_at", None), ("c", 5)]])

    # Dropped, and another table made with the same name.
    w.execute("DROP TABLE s2.t2")
    w.execute("CREATE TABLE s2.t2 (k text PRIMARY KEY, n numeric)")
    w.execute("SELECT delta_sync.track('s2.t2')")
    w.execute("INSERT INTO s2.t2 VALUES ('k', 1.50)")
    check("same name, new table", r.records("s2.t2"), [[("k", "k"), ("n", 1.5), ("deleted_at", None)]])

    # The registry, changed by the other session while the reader's transaction stays open
    # (READ COMMITTED: each statement sees what committed before it).
    v1 = r.cursor("s2.t2")
    w.execute("INSERT INTO s2.t2 VALUES ('l', 2), ('m', 3)")
    reader_conn.autocommit = False
    check("two changes", r.delta("s2.t2", v1), (2, 0, 0, False))
    w.execute("SELECT delta_sync.track('s2.t2', max_changes => 1)")
    check("threshold lowered", r.delta("s2.t2", v1), (0, 0, 0, True))
    w.execute("SELECT delta_sync.track('s2.t2', max_changes => 1000)")
    check("threshold raised", r.delta("s2.t2", v1), (2, 0, 0, False))
    w.execute("DELETE FROM s2.t2 WHERE k = 'l'")
    v2 = r.cursor("s2.t2")
    check("before purge", r.delta("s2.t2", v1), (1, 0, 0, False))
    w.execute("SELECT delta_sync.purge('s2.t2', '0 seconds')")
    check("purged", r.delta("s2.t2", v1), (0, 0, 0, True))
    check("purged, newer cursor", r.delta("s2.t2", v2), (0, 0, 0, False))
    reader_conn.commit()  # untrack and TRUNCATE wait for the reader's lock on the table
    w.execute("SELECT delta_sync.untrack('s2.t2')")
    check("untracked", r.error("SELECT * FROM delta_since('s2.t2', NULL)"),
          '55000: table "s2.t2" is not tracked by delta_sync')
    reader_conn.rollback()
    w.execute("SELECT delta_sync.track('s2.t2')")
    check("tracked again", r.delta("s2.t2", v2), (0, 0, 0, True))
    v3 = r.cursor("s2.t2")
    reader_conn.commit()
    w.execute("TRUNCATE s2.t2")
    check("truncated", r.delta("s2.t2", v3), (0, 0, 0, True))
    reader_conn.commit()
    reader_conn.autocommit = True

    # Row-level security: a policy changed by the other session; the reader's role switched.
    w.execute("CREATE TABLE s2.owned (id integer PRIMARY KEY, owner name NOT NULL)")
    w.execute("SELECT delta_sync.track('s2.owned')")
    w.execute("INSERT INTO s2.owned VALUES (1, 'pcs_alice'), (2, 'pcs_bob')")
    w.execute("DROP ROLE IF EXISTS pcs_alice; DROP ROLE IF EXISTS pcs_bob")
    w.execute("CREATE ROLE pcs_alice; CREATE ROLE pcs_bob")
    w.execute("GRANT USAGE ON SCHEMA s2 TO pcs_alice, pcs_bob")
    w.execute("GRANT SELECT ON s2.owned TO pcs_alice, pcs_bob")
    w.execute("ALTER TABLE s2.owned ENABLE ROW LEVEL SECURITY")
    w.execute("CREATE POLICY mine ON s2.owned USING (owner = current_user)")
    ids = lambda: [dict(rec)["id"] for rec in r.records("s2.owned")]
    r.cur.execute("SET ROLE pcs_alice")
    check("alice", ids(), [1])
    r.cur.execute("SET ROLE pcs_bob")
    check("bob", ids(), [2])
    w.execute("DROP POLICY mine ON s2.owned")
    w.execute("CREATE POLICY mine ON s2.owned USING (id = 1)")
    check("bob, new policy", ids(), [1])
    r.cur.execute("RESET ROLE")
    check("owner", ids(), [1, 2])

    # A search_path set in the reader between calls, with look-alikes in front.
    w.execute("CREATE SCHEMA evil")
    w.execute("CREATE TABLE evil.owned (id integer PRIMARY KEY, owner name)")
    r.cur.execute("SET search_path = evil, s2, public")
    check("hostile search_path", ids(), [1, 2])
    r.cur.execute("RESET search_path")

    # Prepared statement and PL/pgSQL in the reader, the table changed by the other session.
    r.cur.execute("PREPARE full_sync AS SELECT r::text FROM delta_since('s2.owned', NULL) d, "
                  "json_array_elements(d->'created') r")
    for i in range(7):
        r.cur.execute("EXECUTE full_sync")
        r.cur.fetchall()
    w.execute("ALTER TABLE s2.owned ADD COLUMN note text DEFAULT 'n'")
    r.cur.execute("EXECUTE full_sync")
    check("prepared, column added", [json.loads(x[0]).get("note") for x in r.cur.fetchall()], ["n", "n"])
    r.cur.execute("""CREATE FUNCTION pg_temp.notes() RETURNS text LANGUAGE plpgsql AS $$
        DECLARE res text;
        BEGIN
            SELECT string_agg(coalesce(x->>'note', '-'), ',') INTO res
              FROM delta_since('s2.owned', NULL) d, json_array_elements(d->'created') x;
            RETURN res;
        END $$""")
    for i in range(7):
        r.cur.execute("SELECT pg_temp.notes()")
    w.execute("ALTER TABLE s2.owned RENAME COLUMN note TO remark")
    r.cur.execute("SELECT pg_temp.notes()")
    check("PL/pgSQL, column renamed", r.cur.fetchone()[0], "-,-")

    reader_conn.close()
    writer_conn.close()
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE {DB}")
        cur.execute("DROP ROLE pcs_alice; DROP ROLE pcs_bob")
    admin.close()
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
