#!/usr/bin/env python3
"""NOTIFY delta_sync is opt-in per table (delta_sync.set_notify): a newly tracked table sends
nothing; once turned on, each committed writing statement wakes a listener with
'<schema>.<table>', each name quoted as quote_ident does so that any name round-trips through
::regclass; rolled-back ones do not; set_notify(tbl, false) silences it again (its TRUNCATE still
makes older cursors resync); only the owner may change it.

Then the same table on a cluster with shared_preload_libraries = 'delta_sync': the writers send
nothing themselves, the notify worker sends one notification per changed table at most every
delta_sync.notify_interval (many commits coalesce into few notifications, the last commit is
always followed by one), with the same quoted payload, and not for rolled-back writes."""
import os
import select
import sys
import threading
import time

import psycopg2
import psycopg2.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster  # noqa: E402

DB = "delta_sync_notify"
PRELOADED_PORT = 5480
ODD_SCHEMA = '"Shop ""Floor"""'
ODD = ODD_SCHEMA + '."it.ems"'


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
    w.execute(f"CREATE SCHEMA {ODD_SCHEMA}")
    w.execute(f"CREATE TABLE {ODD} (id integer PRIMARY KEY)")
    w.execute("SELECT delta_sync.track(%s)", (ODD,))
    listener = connect()
    listener.cursor().execute("LISTEN delta_sync")

    # Off by default: writers take no cluster-wide lock.
    w.execute("INSERT INTO shop.items VALUES (0, 'z')")
    w.execute(f"INSERT INTO {ODD} VALUES (0)")
    if drain(listener, 0.5):
        fail("a newly tracked table notified before set_notify turned it on")
    w.execute("SELECT delta_sync.set_notify('shop.items', true)")
    w.execute("SELECT delta_sync.set_notify(%s, true)", (ODD,))

    w.execute("INSERT INTO shop.items VALUES (1, 'a')")
    got = drain(listener, 5)
    if got != ["shop.items"]:
        fail(f"an insert notified {got}, not ['shop.items']")
    w.execute(f"INSERT INTO {ODD} VALUES (1)")
    got = drain(listener, 5)
    if got != [ODD]:
        fail(f"an insert into {ODD} notified {got}")
    w.execute("SELECT %s::regclass = %s::regclass", (got[0], ODD))
    if not w.fetchone()[0]:
        fail(f"the payload {got[0]} does not name the table")
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
    print("notify: off by default; once on, committed statements notify 'shop.items' and "
          f"'{ODD}' (round-trips), rolled-back ones do not; set_notify(false) silences the table "
          "(TRUNCATE still resyncs), true restores it; owner only")
    writer.close()
    listener.close()
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE {DB}")
        cur.execute("DROP ROLE delta_sync_notify_other")
    admin.close()
    preloaded()
    return 0


def preloaded():
    """The notify worker of a preloaded library: coalesced, quoted, on commit only."""
    cluster = pgcluster.start_primary("notify_preloaded", PRELOADED_PORT,
                                      "shared_preload_libraries = 'delta_sync'",
                                      "delta_sync.notify_interval = '100ms'")
    try:
        conn = cluster.connect()
        cur = conn.cursor()
        cur.execute("CREATE EXTENSION delta_sync")
        cur.execute(f"CREATE SCHEMA {ODD_SCHEMA}")
        cur.execute(f"CREATE TABLE {ODD} (id integer PRIMARY KEY)")
        cur.execute("SELECT delta_sync.track(%s)", (ODD,))
        cur.execute("CREATE TABLE quiet (id integer PRIMARY KEY)")
        cur.execute("SELECT delta_sync.track('quiet')")
        cur.execute("SELECT delta_sync.set_notify(%s, true)", (ODD,))
        listener = cluster.connect()
        listener.cursor().execute("LISTEN delta_sync")

        cur.execute(f"INSERT INTO {ODD} VALUES (0)")
        got = drain(listener, 10)
        if got != [ODD]:
            fail(f"preloaded: one insert notified {got}, not [{ODD!r}]")
        conn.autocommit = False
        cur.execute(f"INSERT INTO {ODD} VALUES (-1)")
        cur.execute("INSERT INTO quiet VALUES (-1)")
        conn.rollback()
        cur.execute("INSERT INTO quiet VALUES (1)")
        conn.commit()
        conn.autocommit = True
        if drain(listener, 1):
            fail("preloaded: a rolled-back write or a table with notifications off notified")

        # Four writers, many small commits: few notifications, the last after the last commit.
        # The notification of the last commit to complete is sent after every commit was issued
        # (each is issued before that one completes): one must arrive later than the last issue.
        # (It may arrive while the writers' threads are still ending: arrival times, not the
        # moment the threads are seen to end, decide.)
        commits = 0
        last_issued = 0.0
        lock = threading.Lock()

        def writer(k):
            nonlocal commits, last_issued
            c = cluster.connect()
            wc = c.cursor()
            for i in range(100):
                with lock:
                    last_issued = time.monotonic()
                wc.execute(f"INSERT INTO {ODD} VALUES (%s)", (1000 * (k + 1) + i,))
                with lock:
                    commits += 1
            c.close()

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        payloads, arrived = [], []

        def receive(wait):
            got = drain(listener, wait)
            payloads.extend(got)
            arrived.extend([time.monotonic()] * len(got))
            return got

        while any(t.is_alive() for t in threads):
            receive(0.05)
        for t in threads:
            t.join()
        if not any(a > last_issued for a in arrived):
            receive(10)
        if not any(a > last_issued for a in arrived):
            fail("preloaded: no notification followed the last commit")
        if any(p != ODD for p in payloads):
            fail(f"preloaded: unexpected payloads {set(payloads)}")
        if len(payloads) >= commits:
            fail(f"preloaded: {len(payloads)} notifications for {commits} commits: not coalesced")
        print(f"notify (preloaded): {commits} commits, {len(payloads)} notifications, all '{ODD}'; "
              "one after the last commit; none for rollbacks or tables with notifications off")
        listener.close()
        conn.close()
    finally:
        pgcluster.stop_all()


if __name__ == "__main__":
    sys.exit(main())
