#!/usr/bin/env python3
"""The stamp trigger's per-backend table shapes (the tracking columns' numbers, the key) against
changes made by ANOTHER session between two writes: every change must show in the writer's next
statement, whether the writer runs plain statements, prepared ones or PL/pgSQL, and whether it
sits in an open transaction across the change.

Runs against the server the libpq environment names (tests/run_all.sh provides one).
"""
import sys

import psycopg2
import psycopg2.errors

DB = "delta_sync_stamp_shapes"
failures = []


def connect(dbname=DB, autocommit=True):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = autocommit
    return conn


def check(name, got, want):
    ok = got == want
    print("%-50s %s" % (name, "ok" if ok else "FAILED: got %r, want %r" % (got, want)))
    if not ok:
        failures.append(name)


def warm(cur, table, n=5):
    """Writes the table several times, so the writer's backend keeps its shape."""
    for _ in range(n):
        cur.execute("UPDATE %s SET v = v WHERE id = 1" % table)


def stamped(cur, table, key=1):
    """The row carries the writing transaction's version and start time (call inside it)."""
    cur.execute("SELECT updated_at = now() AND delta_sync_changed_xid = pg_current_xact_id() "
                "FROM %s WHERE id = %%s" % table, (key,))
    return cur.fetchone()[0]


def sqlstate(cur, sql):
    try:
        cur.execute(sql)
        return None
    except psycopg2.Error as e:
        return e.pgcode


def main():
    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    setup = connect()
    with setup.cursor() as cur:
        cur.execute("CREATE EXTENSION delta_sync")
        for t in ("t_cols", "t_key", "t_prep", "t_plpgsql", "t_open"):
            cur.execute("CREATE TABLE %s (id integer PRIMARY KEY, v text, alt integer UNIQUE NOT NULL)" % t)
            cur.execute("SELECT delta_sync.track(%s)", (t,))
            cur.execute("INSERT INTO %s (id, v, alt) VALUES (1, 'a', 101), (2, 'b', 102)" % t)
        # A composite key, and a partitioned table whose key holds its partition key.
        cur.execute("CREATE TABLE t_pair (id integer, alt integer, c integer, v text, "
                    "PRIMARY KEY (id, alt))")
        cur.execute("SELECT delta_sync.track('t_pair')")
        cur.execute("INSERT INTO t_pair VALUES (1, 101, 1001, 'a'), (2, 102, 1002, 'b')")
        cur.execute("CREATE TABLE t_parts (id integer, region text, v text, PRIMARY KEY (id, region)) "
                    "PARTITION BY LIST (region)")
        cur.execute("CREATE TABLE t_parts_eu PARTITION OF t_parts FOR VALUES IN ('eu')")
        cur.execute("CREATE TABLE t_parts_us PARTITION OF t_parts FOR VALUES IN ('us')")
        cur.execute("SELECT delta_sync.track('t_parts')")
        cur.execute("INSERT INTO t_parts VALUES (1, 'eu', 'a'), (2, 'us', 'b')")
    setup.close()

    writer_conn = connect()
    w = writer_conn.cursor()
    other = connect().cursor()

    # The version and updated_at dropped and added again by the other session: new numbers.
    warm(w, "t_cols")
    other.execute("ALTER TABLE t_cols DROP COLUMN updated_at, "
                  "ADD COLUMN updated_at timestamptz NOT NULL DEFAULT '2000-01-01'")
    other.execute("ALTER TABLE t_cols DROP COLUMN delta_sync_changed_xid, "
                  "ADD COLUMN delta_sync_changed_xid xid8 NOT NULL DEFAULT '1'")
    writer_conn.autocommit = False
    w.execute("UPDATE t_cols SET v = 'moved' WHERE id = 1")
    check("columns re-added: stamped", stamped(w, "t_cols"), True)
    writer_conn.commit()
    writer_conn.autocommit = True

    # A renamed tracking column: the writer's next statement misses it.
    warm(w, "t_cols")
    other.execute("ALTER TABLE t_cols RENAME COLUMN created_at TO made_at")
    check("created_at renamed: refused", sqlstate(w, "UPDATE t_cols SET v = 'x' WHERE id = 1"), "55000")
    other.execute("ALTER TABLE t_cols RENAME COLUMN made_at TO created_at")
    check("renamed back: accepted", sqlstate(w, "UPDATE t_cols SET v = 'x' WHERE id = 1"), None)

    # A new primary key: the key the trigger guards is the new one.
    warm(w, "t_key")
    check("old key guarded", sqlstate(w, "UPDATE t_key SET id = 10 WHERE id = 1"), "0A000")
    other.execute("ALTER TABLE t_key DROP CONSTRAINT t_key_pkey, ADD PRIMARY KEY (alt)")
    check("new key: old key column free", sqlstate(w, "UPDATE t_key SET id = 10 WHERE id = 1"), None)
    check("new key guarded", sqlstate(w, "UPDATE t_key SET alt = 999 WHERE id = 10"), "0A000")

    # A prepared statement and a PL/pgSQL function in the writer, the table changed in between.
    w.execute("PREPARE touch AS UPDATE t_prep SET v = v || '.' WHERE id = 1")
    for _ in range(7):
        w.execute("EXECUTE touch")
    other.execute("ALTER TABLE t_prep DROP COLUMN updated_at, "
                  "ADD COLUMN updated_at timestamptz NOT NULL DEFAULT '2000-01-01'")
    writer_conn.autocommit = False
    w.execute("EXECUTE touch")
    check("prepared, updated_at re-added: stamped", stamped(w, "t_prep"), True)
    writer_conn.commit()
    writer_conn.autocommit = True
    w.execute("""CREATE FUNCTION pg_temp.touch() RETURNS void LANGUAGE plpgsql AS $$
        BEGIN UPDATE t_plpgsql SET v = v || '.' WHERE id = 1; END $$""")
    for _ in range(7):
        w.execute("SELECT pg_temp.touch()")
    other.execute("ALTER TABLE t_plpgsql DROP CONSTRAINT t_plpgsql_pkey, ADD PRIMARY KEY (alt)")
    other.execute("ALTER TABLE t_plpgsql DROP COLUMN delta_sync_changed_xid, "
                  "ADD COLUMN delta_sync_changed_xid xid8 NOT NULL DEFAULT '1'")
    writer_conn.autocommit = False
    w.execute("SELECT pg_temp.touch()")
    check("PL/pgSQL, version re-added: stamped", stamped(w, "t_plpgsql"), True)
    writer_conn.commit()
    writer_conn.autocommit = True
    check("PL/pgSQL, new key: old key column free",
          sqlstate(w, "UPDATE t_plpgsql SET id = 10 WHERE id = 1"), None)

    # The writer in an open transaction (which has not touched the table yet) when the change
    # commits: its next statement on the table takes the table's lock, which reads the change.
    warm(w, "t_open")
    writer_conn.autocommit = False
    w.execute("UPDATE t_cols SET v = 'elsewhere' WHERE id = 2")
    other.execute("ALTER TABLE t_open DROP COLUMN updated_at, "
                  "ADD COLUMN updated_at timestamptz NOT NULL DEFAULT '2000-01-01'")
    w.execute("UPDATE t_open SET v = 'after' WHERE id = 2")
    check("open transaction, updated_at re-added: stamped", stamped(w, "t_open", 2), True)
    writer_conn.commit()
    writer_conn.autocommit = True

    # A composite key replaced by the other session under the writer's kept shape.
    warm(w, "t_pair")
    check("composite: second key column guarded",
          sqlstate(w, "UPDATE t_pair SET alt = 500 WHERE id = 1"), "0A000")
    other.execute("ALTER TABLE t_pair DROP CONSTRAINT t_pair_pkey, ADD PRIMARY KEY (id, c)")
    check("composite, new key: old column free",
          sqlstate(w, "UPDATE t_pair SET alt = 500 WHERE id = 1"), None)
    check("composite, new key guarded", sqlstate(w, "UPDATE t_pair SET c = 9 WHERE id = 1"), "0A000")
    w.execute("SELECT string_agg(format('%s:%s:%s:%s', id, alt, c, v), ' ' ORDER BY id) FROM t_pair")
    check("t_pair rows", w.fetchone()[0], "1:500:1001:a 2:102:1002:b")

    # A partition detached and attached again by the other session under the writer's kept shape:
    # detached, its writes are not stamped; attached, a move out of it writes the root's tombstone.
    warm(w, "t_parts")
    other.execute("ALTER TABLE t_parts DETACH PARTITION t_parts_eu")
    writer_conn.autocommit = False
    w.execute("UPDATE t_parts_eu SET v = 'alone' WHERE id = 1")
    check("detached partition: not stamped", stamped(w, "t_parts_eu"), False)
    writer_conn.commit()
    writer_conn.autocommit = True
    other.execute("ALTER TABLE t_parts ATTACH PARTITION t_parts_eu FOR VALUES IN ('eu')")
    writer_conn.autocommit = False
    w.execute("UPDATE t_parts SET v = 'back' WHERE id = 1")
    check("attached again: stamped", stamped(w, "t_parts"), True)
    w.execute("UPDATE t_parts SET region = 'us' WHERE id = 1")
    check("moved: stamped", stamped(w, "t_parts"), True)
    writer_conn.commit()
    writer_conn.autocommit = True
    w.execute("SELECT string_agg(format('%s:%s:%s', id, region, tableoid::regclass), ' ' "
              "ORDER BY id) FROM t_parts")
    check("t_parts rows", w.fetchone()[0], "1:us:t_parts_us 2:us:t_parts_us")
    w.execute("SELECT string_agg(format('%s:%s', key_1, key_2), ' ') FROM t_parts_delta_sync_tombstones")
    check("t_parts tombstones", w.fetchone()[0], "1:eu")

    # Nothing else in the rows changed on the way.
    w.execute("SELECT string_agg(format('%s:%s:%s', id, v, alt), ' ' ORDER BY id) FROM t_key")
    check("t_key rows", w.fetchone()[0], "2:b:102 10:a:101")

    writer_conn.close()
    other.connection.close()
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE {DB}")
    admin.close()
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
