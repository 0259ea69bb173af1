#!/usr/bin/env python3
"""NOTIFY delta_sync: each committed writing statement on a tracked table wakes a listener with
'<schema>.<table>'; rolled-back ones do not; delta_sync.set_notify(tbl, false) silences a table
(its TRUNCATE still makes older cursors resync) and true brings it back; only the owner may."""
import select
import sys

import psycopg2
import psycopg2.errors

DB = "delta_sync_notify"


def connect(dbname=DB):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


def fail(msg):
    print("FAILED: " + msg, file=sys.stderr)
    sys.exit(1)


def drain(listener, wait):
    """Notifications that arrive within `wait` seconds, as payloads."""
    got = []
    if select.select([listener], [], [], wait)[0]:
        listener.poll()
    listener.poll()
    while listener.notifies:
        n = listener.notifies.pop(0)
        if n.channel == "delta_sync":
            got.append(n.payload)
    return got


def main():
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
        cur.execute("DROP ROLE IF EXISTS delta_sync_notify_other")
        cur.execute("CREATE ROLE delta_sync_notify_other")
    writer = connect()
    w = writer.cursor()
    w.execute("CREATE EXTENSION delta_sync")
    w.execute("CREATE SCHEMA shop")
    w.execute("CREATE TABLE shop.items (id integer PRIMARY KEY, v text)")
    w.execute("SELECT delta_sync.track('shop.items')")
    listener = connect()
    listener.cursor().execute("LISTEN delta_sync")

    w.execute("INSERT INTO shop.items VALUES (1, 'a')")
    got = drain(listener, 5)
    if got != ["shop.items"]:
        fail(f"an insert notified {got}, not ['shop.items']")
    writer.autocommit = False
    w.execute("UPDATE shop.items SET v = 'b'")
    writer.rollback()
    writer.autocommit = True
    if drain(listener, 0.5):
        fail("a rolled-back update notified")

    w.execute("SELECT delta_sync.set_notify('shop.items', false)")
    w.execute("SELECT d->>'serverVersion' FROM delta_since('shop.items') d")
    cursor = w.fetchone()[0]
    w.execute("INSERT INTO shop.items VALUES (2, 'c')")
    w.execute("DELETE FROM shop.items WHERE id = 1")
    if drain(listener, 0.5):
        fail("a table with notifications off notified")
    w.execute("SELECT (d->'fullResyncRequired')::text, json_array_length(d->'created') FROM delta_since('shop.items', %s) d", (cursor,))
    if w.fetchone() != ("false", 1):
        fail("with notifications off the delta is not delivered as usual")
    w.execute("TRUNCATE shop.items")
    w.execute("SELECT (d->'fullResyncRequired')::text FROM delta_since('shop.items', %s) d", (cursor,))
    if w.fetchone()[0] != "true":
        fail("TRUNCATE with notifications off did not make an older cursor resync")

    w.execute("SELECT delta_sync.set_notify('shop.items', true)")
    w.execute("INSERT INTO shop.items VALUES (3, 'd')")
    if drain(listener, 5) != ["shop.items"]:
        fail("notifications did not come back on")

    for stmt, state in (("SELECT delta_sync.set_notify('shop.items', NULL)", "22004"),
                        ("SELECT delta_sync.set_notify('pg_class', false)", "55000")):
        try:
            w.execute(stmt)
            fail(f"{stmt} was accepted")
        except psycopg2.Error as e:
            if e.pgcode != state:
                fail(f"{stmt} raised {e.pgcode}, not {state}")
    w.execute("GRANT USAGE ON SCHEMA shop TO delta_sync_notify_other")
    w.execute("SET ROLE delta_sync_notify_other")
    try:
        w.execute("SELECT delta_sync.set_notify('shop.items', false)")
        fail("a role that does not own the table changed its notifications")
    except psycopg2.Error as e:
        if e.pgcode != "42501":
            fail(f"a non-owner got {e.pgcode}, not 42501")
    w.execute("RESET ROLE")
    print("notify: committed statements notify 'shop.items', rolled-back ones do not; "
          "set_notify(false) silences the table (TRUNCATE still resyncs), true restores it; "
          "owner only")
    writer.close()
    listener.close()
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE {DB}")
        cur.execute("DROP ROLE delta_sync_notify_other")
    admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
