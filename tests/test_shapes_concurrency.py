#!/usr/bin/env python3
"""Shapes under concurrency: three writers move rows of one table in and out of three overlapping
shapes (updates of the filtered columns, inserts, soft deletes and undeletes, rollbacks,
transactions held open across pulls) for about 20 seconds, while

  - three real clients, `delta-sync pull items --where F --columns C --watch`, one per shape, keep
    SQLite replicas, and
  - three SQL clients, one per shape, pull delta_since(..., columns, filter) all along, with pages
    and now and then a tiny max_changes that forces a resync, and apply each document (deleted,
    then updated, then created) to a copy in memory.

At the end every copy must equal the shape's rows on the server (the live rows that match the
filter, the shape's columns): prints `diverged rows D of N` per copy; any D other than 0, or any
error, fails.
"""
import decimal
import json
import os
import random
import sys
import threading
import time

import psycopg2
import psycopg2.errors

sys.dont_write_bytecode = True
import watchclient  # noqa: E402
from watchclient import clientlib  # noqa: E402

DURATION = float(os.environ.get("SHAPES_CONCURRENCY_SECONDS", "20"))
WRITERS = 3
DB = "delta_sync_shapes_concurrency"
# (name, columns or None for all, filter): they overlap (a row can be in all three at once).
ID_LOCK = threading.Lock()
SHAPES = [
    ("low_groups", ["grp", "qty"], "grp IN (0, 1)"),
    ("mid_qty", ["qty", "name"], "qty BETWEEN 5 AND 14 AND name LIKE 'item%'"),
    ("ones", None, "grp = 1 OR name ILIKE '%1'"),
]


def connect(dbname=DB, autocommit=True):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = autocommit
    return conn


def setup():
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {DB}")
    admin.close()
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION delta_sync")
        cur.execute("""CREATE TABLE items (id bigint PRIMARY KEY, grp integer NOT NULL,
                       qty integer NOT NULL, name text NOT NULL, price numeric(10,2))""")
        cur.execute("""INSERT INTO items SELECT g, g % 4, g % 20, 'item ' || g, g / 7.0
                       FROM generate_series(1, 400) g""")
        cur.execute("SELECT delta_sync.track('items')")
    conn.close()


class Writer(threading.Thread):
    def __init__(self, n, stop, next_id, errors):
        super().__init__(daemon=True)
        self.rng = random.Random(1000 + n)
        self.stop, self.next_id, self.errors = stop, next_id, errors
        self.commits = 0

    def run(self):
        try:
            conn = connect(autocommit=False)
            cur = conn.cursor()
            while not self.stop.is_set():
                try:
                    for _ in range(self.rng.randint(1, 5)):
                        self.step(cur)
                    if self.rng.random() < 0.15:  # held open across pulls: a late commit
                        time.sleep(self.rng.uniform(0.05, 0.4))
                    if self.rng.random() < 0.1:
                        conn.rollback()
                    else:
                        conn.commit()
                        self.commits += 1
                except psycopg2.errors.DeadlockDetected:
                    conn.rollback()  # writers update random rows in random order
            conn.close()
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"writer: {e!r}")

    def step(self, cur):
        r = self.rng
        row = r.randint(1, self.next_id[0])
        op = r.random()
        if op < 0.3:
            cur.execute("UPDATE items SET grp = %s WHERE id = %s", (r.randint(0, 3), row))
        elif op < 0.55:
            cur.execute("UPDATE items SET qty = %s WHERE id = %s", (r.randint(0, 20), row))
        elif op < 0.65:
            cur.execute("UPDATE items SET name = %s WHERE id = %s",
                        (r.choice(["item ", "thing ", "ITEM "]) + str(r.randint(1, 99)), row))
        elif op < 0.72:
            cur.execute("UPDATE items SET price = price + 1 WHERE id = %s", (row,))
        elif op < 0.82:
            cur.execute("DELETE FROM items WHERE id = %s", (row,))
        elif op < 0.9:
            cur.execute("UPDATE items SET deleted_at = NULL WHERE id = %s AND deleted_at IS NOT NULL",
                        (row,))
        else:
            with ID_LOCK:
                self.next_id[0] += 1
                new = self.next_id[0]
            cur.execute("INSERT INTO items VALUES (%s, %s, %s, %s, 1) ON CONFLICT DO NOTHING",
                        (new, r.randint(0, 3), r.randint(0, 20), "item " + str(new)))


def shape_rows(conn, columns, where):
    """id -> the shape's record of each live matching row, from the server's own to_json."""
    rows = clientlib.sql(conn, "SELECT to_json(t)::text FROM items t WHERE deleted_at IS NULL AND (%s)"
                         % where)
    out = {}
    for (text,) in rows:
        record = json.loads(text, parse_float=decimal.Decimal)
        for name in clientlib.INTERNAL:
            record.pop(name, None)
        if columns is not None:
            record = {k: v for k, v in record.items() if k == "id" or k in columns}
        out[record["id"]] = record
    return out


def diverged(want, have, exact_keys=True):
    """Rows missing, extra or different (a copy of a shape holds its columns: exact_keys
    for records of delta_since; a replica table may add generated columns)."""
    bad = 0
    for k in want.keys() | have.keys():
        w, h = want.get(k), have.get(k)
        if w is None or h is None or (exact_keys and set(w) != set(h)) or not set(w) <= set(h):
            bad += 1
            continue
        if any(not clientlib.same_value(v, h[name]) for name, v in w.items()):
            bad += 1
    return bad


class SqlClient(threading.Thread):
    """Pulls one shape with delta_since and applies the documents to a dict."""

    def __init__(self, n, shape, stop, writers_done, errors):
        super().__init__(daemon=True)
        self.writers_done = writers_done
        self.name_, self.columns, self.where = shape
        self.rng = random.Random(2000 + n)
        self.stop, self.errors = stop, errors
        self.copy, self.cursor = {}, None
        self.pulls = self.resyncs = 0
        self.conn = connect()

    def pull(self, page_size=None, max_changes=None):
        with self.conn.cursor() as cur:
            cur.execute("SELECT d::text FROM delta_since('items', %s, %s, %s, %s, %s) d",
                        (self.cursor, max_changes, page_size, self.columns, self.where))
            docs = [json.loads(t, parse_float=decimal.Decimal) for (t,) in cur.fetchall()]
        if docs[0]["fullResyncRequired"]:
            self.resyncs += 1
            self.cursor = None
            return self.pull(page_size)
        if self.cursor is None:
            self.copy = {}
        for d in docs:  # one snapshot: apply every page, then keep the cursor
            for key in d["deleted"]:
                self.copy.pop(int(key), None)
            for rec in d["updated"] + d["created"]:
                self.copy[rec["id"]] = rec
        versions = {d["serverVersion"] for d in docs}
        if len(versions) != 1:
            raise AssertionError(f"pages with different serverVersions: {versions}")
        self.cursor = versions.pop()
        self.pulls += 1

    def run(self):
        try:
            while not self.stop.is_set():
                r = self.rng.random()
                self.pull(page_size=self.rng.choice([None, 3, 50]),
                          max_changes=3 if r < 0.05 else None)
                time.sleep(self.rng.uniform(0, 0.05))
            self.writers_done.wait()  # the last pull sees every commit
            self.pull()
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"sql client {self.name_}: {e!r}")


class ShapeWatch(watchclient.Watch):
    """pull --watch of one shape; its replica is compared with the shape's rows."""

    def __init__(self, shape, dsn):
        self.shape = shape
        _, columns, where = shape
        extra = ["--where", where] + (["--columns", ",".join(columns)] if columns else [])
        super().__init__(["items"], dsn, extra_args=extra)

    def diverged(self, conn, table):
        _, columns, where = self.shape
        want = shape_rows(conn, columns, where)
        try:
            have = clientlib.replica_records(self.replica, table)
        except Exception:  # noqa: BLE001 (not created yet, or busy)
            have = {}
        return diverged(want, have, exact_keys=False), len(want)


def main():
    setup()
    stop = threading.Event()
    errors = []
    next_id = [400]
    watches = [ShapeWatch(s, f"dbname={DB}") for s in SHAPES]
    writers_done = threading.Event()
    sql_clients = [SqlClient(i, s, stop, writers_done, errors) for i, s in enumerate(SHAPES)]
    writers = [Writer(i, stop, next_id, errors) for i in range(WRITERS)]
    for t in writers + sql_clients:
        t.start()
    time.sleep(DURATION)
    stop.set()
    for t in writers:
        t.join(timeout=60)
    writers_done.set()
    for t in sql_clients:
        t.join(timeout=120)
    conn = connect()
    failures = list(errors)
    for c in sql_clients:
        want = shape_rows(conn, c.columns, c.where)
        bad = sum(1 for k in want.keys() | c.copy.keys() if want.get(k) != c.copy.get(k))
        print(f"sql client {c.name_}: diverged rows {bad} of {len(want)} "
              f"({c.pulls} pulls, {c.resyncs} resyncs)")
        if bad:
            failures.append(f"sql client {c.name_} diverged")
        if not want:
            failures.append(f"shape {c.name_} is empty: the test shows nothing")
    for w in watches:
        problem = w.finish(conn, label=f"watch {w.shape[0]}")
        if problem:
            failures.append(problem)
    print(f"writers: {sum(w.commits for w in writers)} commits")
    # The shapes overlap: some row is in two of them at the end.
    sets = [set(shape_rows(conn, c, f)) for _, c, f in SHAPES]
    overlap = len((sets[0] & sets[1]) | (sets[0] & sets[2]) | (sets[1] & sets[2]))
    print(f"rows in more than one shape at the end: {overlap}")
    if not overlap:
        failures.append("the shapes did not overlap")
    conn.close()
    for w in watches:
        w.kill()
    if failures:
        print("FAILED:\n" + "\n".join(failures))
        return 1
    print("ok: three shapes, three watch clients and three SQL clients: 0 diverged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
