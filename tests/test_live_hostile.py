#!/usr/bin/env python3
"""Live changes under hostile use, on a cluster with shared_preload_libraries = 'delta_sync':
- the per-backend cache of a table's NOTIFY setting is never filled from an old snapshot: a
  REPEATABLE READ transaction that began before set_notify(tbl, true) committed writes the table,
  and that backend's later writes still notify (they were silent for good before);
- a transaction that wrote a table with NOTIFY on cannot be prepared (0A000), as without
  preloading, where the writer's own NOTIFY forbids it: the notify worker never hears of COMMIT
  PREPARED, so the notification was lost; with NOTIFY off it prepares and commits;
- delta_sync.wait() with no cursor waits for changes from now on (it returned at once, judging its
  own cursor to be from another WAL history)."""
import os
import select
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster  # noqa: E402

PORT = 5497
DB = "live_hostile"


def fail(msg):
    print("FAILED: " + msg, file=sys.stderr)
    raise SystemExit(1)


def drain(listener, wait):
    got = []
    end = time.time() + wait
    while time.time() < end:
        select.select([listener], [], [], 0.1)
        listener.poll()
        while listener.notifies:
            n = listener.notifies.pop(0)
            if n.channel == "delta_sync":
                got.append(n.payload)
    return got


def notify_cache(cluster):
    owner = cluster.connect(DB)
    cur = owner.cursor()
    cur.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
    cur.execute("SELECT delta_sync.track('t')")
    listener = cluster.connect(DB)
    listener.cursor().execute("LISTEN delta_sync")

    rr = cluster.connect(DB, autocommit=False)
    rr.set_session(isolation_level="REPEATABLE READ")
    rcur = rr.cursor()
    rcur.execute("SELECT 1")  # the transaction's snapshot predates set_notify's commit
    cur.execute("SELECT delta_sync.set_notify('t', true)")
    rcur.execute("INSERT INTO t VALUES (1, 'old snapshot')")
    rr.commit()
    drain(listener, 1.0)  # whatever that transaction sent
    rr.autocommit = True
    for i in range(2, 4):
        rcur.execute("INSERT INTO t VALUES (%s, 'later')", (i,))
        got = drain(listener, 5.0)
        if got != ["public.t"]:
            fail("a later write of the backend that read the setting through an old snapshot "
                 "sent %r, not one notification of public.t" % (got,))
    # Turned off again: the same backend falls silent.
    cur.execute("SELECT delta_sync.set_notify('t', false)")
    rcur.execute("INSERT INTO t VALUES (10, 'off')")
    got = drain(listener, 1.5)
    if got:
        fail("a write after set_notify(false) still notified: %r" % (got,))
    print("notify setting cache: ok")


def prepared(cluster):
    owner = cluster.connect(DB)
    cur = owner.cursor()
    cur.execute("SELECT delta_sync.set_notify('t', true)")
    try:
        cur.execute("BEGIN; INSERT INTO t VALUES (20, '2pc'); PREPARE TRANSACTION 'live_hostile'")
    except psycopg2.Error as e:
        if e.pgcode != "0A000":
            fail("PREPARE after a write to a notifying table failed with %s: %s" % (e.pgcode, e))
        cur.execute("ROLLBACK")
    else:
        cur.execute("COMMIT PREPARED 'live_hostile'")
        fail("a transaction that wrote a table with NOTIFY on was prepared (its notification is lost)")
    cur.execute("SELECT delta_sync.set_notify('t', false)")
    cur.execute("BEGIN; INSERT INTO t VALUES (21, '2pc'); PREPARE TRANSACTION 'live_hostile'")
    cur.execute("COMMIT PREPARED 'live_hostile'")
    if cluster.value("SELECT count(*) FROM t WHERE id = 21", dbname=DB) != 1:
        fail("the prepared write to a table with NOTIFY off did not commit")
    print("prepared transactions: ok")


def wait_from_now(cluster):
    conn = cluster.connect(DB)
    cur = conn.cursor()
    start = time.time()
    cur.execute("SELECT delta_sync.wait('{t}', NULL, '1 s')")
    got = cur.fetchone()[0]
    if got != "{}" or time.time() - start < 0.9:
        fail("a wait from now on an idle table returned %r after %.2f s, not {} at the timeout"
             % (got, time.time() - start))
    print("wait from now: ok")


def main():
    try:
        cluster = pgcluster.start_primary("live_hostile", PORT,
                                          "shared_preload_libraries = 'delta_sync'",
                                          "max_prepared_transactions = 2")
        cluster.query("CREATE DATABASE " + DB)
        cluster.query("CREATE EXTENSION delta_sync", dbname=DB)
        notify_cache(cluster)
        prepared(cluster)
        wait_from_now(cluster)
    finally:
        pgcluster.stop_all()
    print("test_live_hostile: ok")


if __name__ == "__main__":
    main()
