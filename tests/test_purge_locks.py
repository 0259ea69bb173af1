#!/usr/bin/env python3
"""purge() against TRUNCATE, ALTER TABLE and untrack on the same table: no deadlock in any order;
and no resync loop after purges while an old transaction is open in another database.

Locks: every path that writes a table's registry row takes the table first. For each of the three
operations, two sessions overlap it with a purge in three orders: the purge first (its
transaction held open while the operation waits), the operation first (held open while the purge
waits), and the operation's table lock first with the purge started before the operation itself
runs (the order that deadlocked when purge took the registry row before the table). The waiting
statement must finish once the other transaction commits, without 40P01. deadlock_timeout is short
so a deadlock would be found quickly.

Resync loop: a transaction with an xid stays open in another database of the cluster while a
table is written and purged over and over; a cursor taken after each purge must keep working (no
fullResyncRequired), while a cursor from before a purged deletion must still resync.
"""
import json
import sys
import threading
import time

import psycopg2

sys.dont_write_bytecode = True  # no tests/__pycache__ from importing pgcluster

import pgcluster
from pgcluster import fail

PORT = 5479
DB = "delta_sync_purge_locks"

OPERATIONS = {
    "TRUNCATE": "TRUNCATE {t}",
    "ALTER TABLE": "ALTER TABLE {t} ALTER COLUMN v TYPE varchar(100)",
    "untrack": "SELECT delta_sync.untrack('{t}')",
}


def setup_table(cluster, name, extra=""):
    conn = cluster.connect(DB)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {name} (id integer PRIMARY KEY, v text{extra})")
        cur.execute(f"INSERT INTO {name} SELECT g, 'v' || g FROM generate_series(1, 200) g")
        cur.execute(f"SELECT delta_sync.track('{name}')")
        cur.execute(f"DELETE FROM {name} WHERE id % 2 = 0")
    conn.close()


class Waiter(threading.Thread):
    """Runs one statement in its own session; records the error, if any."""

    def __init__(self, conn, sql):
        super().__init__(daemon=True)
        self.conn, self.sql, self.error = conn, sql, None
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.pid = cur.fetchone()[0]

    def run(self):
        try:
            with self.conn.cursor() as cur:
                cur.execute(self.sql)
        except psycopg2.Error as e:
            self.error = e


def wait_until_blocked(cluster, pid, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cluster.value("SELECT wait_event_type IS NOT DISTINCT FROM 'Lock' FROM pg_stat_activity "
                         "WHERE pid = %s", (pid,)):
            return
        time.sleep(0.02)
    fail(f"backend {pid} never waited for a lock")


def overlap(cluster, op, order, table):
    """One overlap of purge and `op` on `table`; returns the error codes of both sessions."""
    setup_table(cluster, table)
    purge_sql = f"SELECT delta_sync.purge('{table}', '0 seconds')"
    op_sql = OPERATIONS[op].format(t=table)
    first = cluster.connect(DB)
    second = cluster.connect(DB)
    codes = []
    with first.cursor() as cur:
        cur.execute("BEGIN")
        if order == "purge first":
            cur.execute(purge_sql)
            waiter = Waiter(second, op_sql)
        elif order == "operation first":
            cur.execute(op_sql)
            waiter = Waiter(second, purge_sql)
        else:  # the operation's table lock, then the purge, then the operation
            cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            waiter = Waiter(second, purge_sql)
        waiter.start()
        wait_until_blocked(cluster, waiter.pid)
        try:
            if order == "table locked, purge, operation":
                time.sleep(0.3)  # past deadlock_timeout: a cycle would be found now
                cur.execute(op_sql)
            cur.execute("COMMIT")
        except psycopg2.Error as e:
            codes.append(e.pgcode)
            first.rollback()
    waiter.join(60)
    if waiter.is_alive():
        fail(f"{op}, {order}: the waiting session never finished")
    if waiter.error is not None:
        codes.append(waiter.error.pgcode)
    first.close()
    second.close()
    return codes


def during_rewrite(cluster, table, rows=300000):
    """A purge started while ALTER TABLE ... ALTER COLUMN ... TYPE rewrites the table: the ALTER
    must not be aborted after its rewrite. Returns the error codes, or None when the purge did not
    start before the rewrite ended (the table was too small to overlap)."""
    conn = cluster.connect(DB)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY, v text)")
        cur.execute(f"INSERT INTO {table} SELECT g, repeat('v', 40) FROM generate_series(1, {rows}) g")
        cur.execute(f"SELECT delta_sync.track('{table}')")
        cur.execute(f"DELETE FROM {table} WHERE id <= 100")
    conn.close()
    alter = Waiter(cluster.connect(DB), f"ALTER TABLE {table} ALTER COLUMN v TYPE varchar(200)")
    purge = Waiter(cluster.connect(DB), f"SELECT delta_sync.purge('{table}', '0 seconds')")
    alter.start()
    deadline = time.time() + 30
    while not cluster.value("SELECT count(*) FROM pg_locks WHERE pid = %s AND granted "
                            "AND mode = 'AccessExclusiveLock' AND relation = %s::regclass",
                            (alter.pid, table), dbname=DB):
        if not alter.is_alive() or time.time() > deadline:
            break
        time.sleep(0.005)
    purge.start()
    overlapped = False
    while purge.is_alive() and alter.is_alive():
        if cluster.value("SELECT wait_event_type IS NOT DISTINCT FROM 'Lock' FROM pg_stat_activity "
                         "WHERE pid = %s", (purge.pid,)):
            overlapped = True
            break
        time.sleep(0.005)
    alter.join(120)
    purge.join(120)
    if alter.is_alive() or purge.is_alive():
        fail("ALTER TABLE during a purge: a session never finished")
    alter.conn.close()
    purge.conn.close()
    if not overlapped:
        return None
    return [w.error.pgcode for w in (alter, purge) if w.error is not None]


def registry_then_truncate(cluster, first_sql, table, extra=""):
    """Session 1 writes the table's registry row (track of a tracked table, an ALTER TYPE on a
    column's type) and keeps its transaction open; session 2 purges; session 1 then truncates.
    Every path takes the table before the row, so the purge waits at the table, not holding
    anything session 1 needs."""
    setup_table(cluster, table, extra)
    first = cluster.connect(DB)
    second = cluster.connect(DB)
    codes = []
    with first.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute(first_sql.format(t=table))
        waiter = Waiter(second, f"SELECT delta_sync.purge('{table}', '0 seconds')")
        waiter.start()
        wait_until_blocked(cluster, waiter.pid)
        try:
            time.sleep(0.3)
            cur.execute(f"TRUNCATE {table}")
            cur.execute("COMMIT")
        except psycopg2.Error as e:
            codes.append(e.pgcode)
            first.rollback()
    waiter.join(60)
    if waiter.is_alive():
        fail(f"{first_sql}: the purge never finished")
    if waiter.error is not None:
        codes.append(waiter.error.pgcode)
    first.close()
    second.close()
    return codes


def resync_loop(cluster, rounds=12):
    cluster.query("CREATE DATABASE delta_sync_elsewhere")
    old = cluster.connect("delta_sync_elsewhere", autocommit=False)
    with old.cursor() as cur:
        cur.execute("SELECT pg_current_xact_id()")  # an xid, held open below
    conn = cluster.connect(DB)
    resyncs = 0
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE churn (id integer PRIMARY KEY, v text)")
            cur.execute("INSERT INTO churn SELECT g, 'v' FROM generate_series(1, 100) g")
            cur.execute("SELECT delta_sync.track('churn')")

            def doc(since=None):
                cur.execute("SELECT d::text FROM delta_since('churn', %s) d", (since,))
                return json.loads(cur.fetchone()[0])

            for i in range(1, rounds + 1):
                before_delete = doc()["serverVersion"]
                cur.execute("DELETE FROM churn WHERE id = %s", (i,))
                cur.execute("SELECT delta_sync.purge('churn', '0 seconds')")
                if cur.fetchone()[0] != 1:
                    fail(f"round {i}: the purge removed nothing")
                if not doc(before_delete)["fullResyncRequired"]:
                    fail(f"round {i}: a cursor from before the purged deletion did not resync")
                after_purge = doc()["serverVersion"]
                cur.execute("INSERT INTO churn VALUES (%s, 'new')", (1000 + i,))
                d = doc(after_purge)
                if d["fullResyncRequired"]:
                    resyncs += 1
                elif [r["id"] for r in d["created"]] != [1000 + i]:
                    fail(f"round {i}: unexpected delta {d}")
    finally:
        old.rollback()
        old.close()
        conn.close()
    print(f"resync loop: {rounds} purges with an old transaction open in another database, "
          f"{resyncs} resyncs of cursors taken after the purge")
    return resyncs, rounds


def main():
    cluster = pgcluster.start_primary("purge_locks", PORT, "deadlock_timeout = 100ms")
    try:
        cluster.query(f"CREATE DATABASE {DB}")
        cluster.query("CREATE EXTENSION delta_sync", dbname=DB)
        deadlocks = []
        n = 0
        for op in OPERATIONS:
            for order in ("purge first", "operation first", "table locked, purge, operation"):
                n += 1
                codes = overlap(cluster, op, order, f"t{n}")
                print(f"{op:12} {order:32} errors: {codes or 'none'}")
                if "40P01" in codes:
                    deadlocks.append(f"{op}, {order}")
                # Only a purge after untrack may fail, and only as 'not tracked'.
                bad = [c for c in codes if c != "40P01" and not (op == "untrack" and c == "55000")]
                if bad:
                    fail(f"{op}, {order}: unexpected errors {bad}")
        cluster.query("CREATE TYPE colour AS ENUM ('red')", dbname=DB)
        for name, sql, extra in (
                ("track of a tracked table", "SELECT delta_sync.track('{t}', 500)", ""),
                ("ALTER TYPE of a column", "ALTER TYPE colour RENAME VALUE 'red' TO 'rot'",
                 ", c colour DEFAULT 'red'")):
            n += 1
            codes = registry_then_truncate(cluster, sql, f"t{n}", extra)
            print(f"{name:24} then purge, then TRUNCATE     errors: {codes or 'none'}")
            if "40P01" in codes:
                deadlocks.append(f"{name}, purge, TRUNCATE")
            elif codes:
                fail(f"{name}, purge, TRUNCATE: unexpected errors {codes}")
        rows = 300000
        for attempt in range(3):
            codes = during_rewrite(cluster, f"big{attempt}", rows)
            if codes is not None:
                break
            rows *= 2
        if codes is None:
            print("note: no purge started during an ALTER TABLE rewrite (the rewrites were too fast)")
        else:
            print(f"ALTER TABLE rewriting {rows} rows, purge started during it: errors: {codes or 'none'}")
            if "40P01" in codes:
                deadlocks.append("purge during an ALTER TABLE rewrite")
            elif codes:
                fail(f"purge during an ALTER TABLE rewrite: unexpected errors {codes}")
        resyncs, rounds = resync_loop(cluster)
        if deadlocks:
            fail(f"deadlocks (40P01): {'; '.join(deadlocks)}")
        print(f"ok: {n} overlaps of purge with TRUNCATE, ALTER TABLE, untrack, track and ALTER TYPE, no deadlock")
        if resyncs:
            fail(f"{resyncs} of {rounds} cursors taken after a purge had to resync")
        print("ok: no resync of cursors taken after a purge")
    finally:
        pgcluster.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
