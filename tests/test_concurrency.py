#!/usr/bin/env python3
"""Concurrency: four writers against one tracked table for about 30 seconds, one client pulling
deltas all along; at the end the client's copy must equal the table.

The writers use multi-statement transactions (inserts, updates, DELETEs that become soft deletes,
undeletes, inserts of keys that may be soft-deleted), hold some open across several pulls (late commits: the trap that loses changes with
`updated_at > since`), and roll some back. The client alternates plain pulls, paged pulls, and
pulls with a tiny max_changes that force full resyncs (and, halfway, one pull of each table
after a few changes of its own, so that every table resyncs under load at least once). Prints `diverged rows: 0 of N`; any other
count, or any error, fails.

A second table, tracked with deletes => 'hard', gets the same load at the same time, with real
DELETEs (tombstones), re-inserts of deleted keys (INSERT ... ON CONFLICT DO NOTHING of keys that
were used) and primary-key changes instead of undeletes; a second client copy of it must equal it.

A third table, order_lines, has a composite primary key (line text, order_id bigint), its text
with quotes and commas: the same soft-delete load, whole orders deleted at once, keys inserted
again; its client copy keys rows by both columns and reads deleted keys as JSON arrays.

A fourth table, parted_items, partitioned in two levels by id and keyed by (id, region), tracked
through its parent in soft-delete mode, gets writers that move rows between partitions (UPDATE of
the key's partition column, sometimes of both key columns), write through the parent and into
partitions directly, soft-delete and undelete; a fourth client copy must equal it.

All along, the real client `delta-sync pull --watch items hard_items order_lines parted_items`
keeps a SQLite replica of the four tables; after the writers stop it must catch up, exit 0 on
SIGTERM, and its replica must equal the live rows (tests/watchclient.py). Prints
`watch: diverged rows 0 of N` per table.
"""
import json
import os
import random
import sys
import threading
import time

import psycopg2
import psycopg2.errors

sys.dont_write_bytecode = True  # no tests/__pycache__ from importing watchclient
import watchclient

DURATION = float(os.environ.get("CONCURRENCY_SECONDS", "30"))
WRITERS = 4
DB = "delta_sync_concurrency"


def connect(dbname=DB, autocommit=True):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = autocommit
    return conn


def setup():
    admin = connect("postgres")
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        cur.execute(f"CREATE DATABASE {DB}")
    admin.close()
    conn = connect()
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION delta_sync")
        cur.execute("""CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL,
                       qty integer NOT NULL, tags text[], attrs jsonb)""")
        cur.execute("""INSERT INTO items SELECT g, 'item ' || g, g % 17, ARRAY['t' || (g % 5)],
                       jsonb_build_object('g', g) FROM generate_series(1, 500) g""")
        cur.execute("SELECT delta_sync.track('items')")
        cur.execute("CREATE TABLE hard_items (LIKE items INCLUDING ALL)")
        cur.execute("INSERT INTO hard_items SELECT * FROM items")
        cur.execute("SELECT delta_sync.track('hard_items', deletes => 'hard')")
        cur.execute("""CREATE TABLE order_lines (order_id bigint, line text, qty integer NOT NULL,
                       note text, PRIMARY KEY (line, order_id))""")
        cur.execute("""INSERT INTO order_lines SELECT g / 4 + 1, format('line %s, "%s"', g % 4, g % 4),
                       g % 9, 'n' FROM generate_series(0, 499) g""")
        cur.execute("SELECT delta_sync.track('order_lines')")
        # Keys of three ranges: base 0, 1000000 (itself split in two) and 2000000 (the default).
        # A composite key, as PostgreSQL requires of a partitioned table keyed otherwise than by its
        # partition key alone: (id, region), region with a comma and quotes.
        cur.execute("CREATE TABLE parted_items (LIKE items INCLUDING DEFAULTS, region text NOT NULL,"
                    " PRIMARY KEY (id, region)) PARTITION BY RANGE (id)")
        cur.execute("CREATE TABLE parted_low PARTITION OF parted_items FOR VALUES FROM (0) TO (1000000)")
        cur.execute("CREATE TABLE parted_mid PARTITION OF parted_items FOR VALUES FROM (1000000) TO (2000000)"
                    " PARTITION BY RANGE (id)")
        cur.execute("CREATE TABLE parted_mid_a PARTITION OF parted_mid FOR VALUES FROM (1000000) TO (1500000)")
        cur.execute("CREATE TABLE parted_mid_b PARTITION OF parted_mid FOR VALUES FROM (1500000) TO (2000000)")
        cur.execute("CREATE TABLE parted_rest PARTITION OF parted_items DEFAULT")
        cur.execute("INSERT INTO parted_items SELECT i.*, CASE WHEN i.id % 3 = 0 THEN 'eu'"
                    " ELSE 'us, \"west\"' END FROM items i")
        cur.execute("SELECT delta_sync.track('parted_items')")
    conn.close()


LINE_KEY = ("line", "order_id")
PARTED_KEY = ("id", "region")
REGIONS = ("eu", 'us, "west"')


def line_name(rng):
    n = rng.randint(0, 3)
    return f'line {n}, "{n}"'


class Writer(threading.Thread):
    def __init__(self, n, stop, next_ids, stats):
        super().__init__(daemon=True)
        self.rng = random.Random(n)
        self.stop = stop
        self.next_ids = next_ids
        self.next_id = next_ids["items"]
        self.stats = stats
        self.error = None

    def new_id(self):
        with self.next_id["lock"]:
            self.next_id["value"] += 1
            return self.next_id["value"]

    def run(self):
        try:
            conn = connect(autocommit=False)
            cur = conn.cursor()
            cur.execute("SET lock_timeout = '2s'")
            conn.commit()
            while not self.stop.is_set():
                try:
                    self.transaction(cur)
                    if self.rng.random() < 0.1:
                        conn.rollback()
                        self.stats["rolled_back"] += 1
                    else:
                        conn.commit()
                        self.stats["committed"] += 1
                except (psycopg2.errors.DeadlockDetected, psycopg2.errors.LockNotAvailable,
                        psycopg2.errors.SerializationFailure):
                    # (40001: a row another writer moved to another partition meanwhile)
                    conn.rollback()
                    self.stats["conflicts"] += 1
            conn.close()
        except Exception as e:  # reported by the main thread
            self.error = e

    def transaction(self, cur):
        rng = self.rng
        kind = rng.random()
        if kind < 0.25:
            return self.parted_transaction(cur)
        if kind < 0.5:
            return self.hard_transaction(cur)
        if kind < 0.75:
            return self.composite_transaction(cur)
        self.next_id = self.next_ids["items"]
        hi = self.next_id["value"]
        for _ in range(rng.randint(1, 5)):
            op = rng.random()
            if op < 0.3:
                i = self.new_id()
                cur.execute("INSERT INTO items (id, name, qty, tags, attrs) VALUES (%s, %s, %s, %s, %s)",
                            (i, f"new {i}", rng.randint(0, 9), ["a", None, "b"], json.dumps({"w": i})))
            elif op < 0.65:
                cur.execute("UPDATE items SET qty = qty + 1, name = %s WHERE id = %s",
                            (f"upd {rng.random():.6f}", rng.randint(1, hi)))
            elif op < 0.85:
                cur.execute("DELETE FROM items WHERE id = %s", (rng.randint(1, hi),))
            elif op < 0.93:
                cur.execute("UPDATE items SET deleted_at = NULL WHERE id = %s AND deleted_at IS NOT NULL",
                            (rng.randint(1, hi),))
            else:
                # A key that may be soft-deleted comes back as a new row.
                cur.execute("INSERT INTO items (id, name, qty) VALUES (%s, 'again', 1)"
                            " ON CONFLICT (id) DO NOTHING", (rng.randint(1, hi),))
            if rng.random() < 0.3:
                # Held open across pulls: commits late, after cursors newer than its writes.
                time.sleep(rng.uniform(0.05, 0.6))


    def hard_transaction(self, cur):
        rng = self.rng
        self.next_id = self.next_ids["hard_items"]
        hi = self.next_id["value"]
        for _ in range(rng.randint(1, 5)):
            op = rng.random()
            if op < 0.25:
                i = self.new_id()
                cur.execute("INSERT INTO hard_items (id, name, qty, tags, attrs) VALUES (%s, %s, %s, %s, %s)",
                            (i, f"new {i}", rng.randint(0, 9), ["a", None, "b"], json.dumps({"w": i})))
            elif op < 0.55:
                cur.execute("UPDATE hard_items SET qty = qty + 1, name = %s WHERE id = %s",
                            (f"upd {rng.random():.6f}", rng.randint(1, hi)))
            elif op < 0.75:
                cur.execute("DELETE FROM hard_items WHERE id = %s", (rng.randint(1, hi),))
            elif op < 0.9:
                # A key that may have been deleted comes back.
                cur.execute("INSERT INTO hard_items (id, name, qty) VALUES (%s, 'again', 1)"
                            " ON CONFLICT (id) DO NOTHING", (rng.randint(1, hi),))
            else:
                # A key change, to a fresh key (or to one that may have been deleted).
                new = self.new_id() if rng.random() < 0.5 else rng.randint(1, hi)
                cur.execute("SAVEPOINT rekey")
                try:
                    cur.execute("UPDATE hard_items SET id = %s WHERE id = %s", (new, rng.randint(1, hi)))
                    cur.execute("RELEASE SAVEPOINT rekey")
                except psycopg2.errors.UniqueViolation:
                    cur.execute("ROLLBACK TO SAVEPOINT rekey")
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0.05, 0.6))


    def composite_transaction(self, cur):
        rng = self.rng
        self.next_id = self.next_ids["order_lines"]
        hi = self.next_id["value"]
        for _ in range(rng.randint(1, 5)):
            op = rng.random()
            order, line = rng.randint(1, hi), line_name(rng)
            if op < 0.25:
                cur.execute("INSERT INTO order_lines (order_id, line, qty, note) VALUES (%s, %s, %s, 'new')",
                            (self.new_id(), line, rng.randint(0, 9)))
            elif op < 0.55:
                cur.execute("UPDATE order_lines SET qty = qty + 1, note = %s WHERE order_id = %s AND line = %s",
                            (f"upd {rng.random():.6f}", order, line))
            elif op < 0.7:
                cur.execute("DELETE FROM order_lines WHERE order_id = %s AND line = %s", (order, line))
            elif op < 0.78:
                cur.execute("DELETE FROM order_lines WHERE order_id = %s", (order,))  # a whole order
            elif op < 0.9:
                cur.execute("UPDATE order_lines SET deleted_at = NULL WHERE order_id = %s AND line = %s"
                            " AND deleted_at IS NOT NULL", (order, line))
            else:
                # A key that may be soft-deleted comes back as a new row.
                cur.execute("INSERT INTO order_lines (order_id, line, qty) VALUES (%s, %s, 1)"
                            " ON CONFLICT (line, order_id) DO NOTHING", (order, line))
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0.05, 0.6))


    def parted_transaction(self, cur):
        rng = self.rng
        self.next_id = self.next_ids["parted_items"]
        hi = self.next_id["value"]
        bases = (0, 1000000, 1500000, 2000000)
        partitions = ("parted_low", "parted_mid_a", "parted_mid_b", "parted_rest")

        def some_key():
            return rng.choice(bases) + rng.randint(1, hi)

        for _ in range(rng.randint(1, 5)):
            op = rng.random()
            if op < 0.2:
                i = rng.choice(bases) + self.new_id()
                cur.execute("INSERT INTO parted_items (id, name, qty, tags, attrs, region)"
                            " VALUES (%s, %s, %s, %s, %s, %s)",
                            (i, f"new {i}", rng.randint(0, 9), ["a", None, "b"], json.dumps({"w": i}),
                             rng.choice(REGIONS)))
            elif op < 0.4:
                cur.execute("UPDATE parted_items SET qty = qty + 1, name = %s WHERE id = %s",
                            (f"upd {rng.random():.6f}", some_key()))
            elif op < 0.65:
                # A move to another partition (or within one): the key changes, its partition
                # column always, its other column sometimes.
                cur.execute("SAVEPOINT move")
                try:
                    region = rng.choice(REGIONS + (None,))
                    cur.execute("UPDATE parted_items SET id = %s, region = coalesce(%s, region), qty = qty + 1"
                                " WHERE (id, region) = (SELECT p.id, p.region FROM parted_items p"
                                " WHERE p.id >= %s ORDER BY p.id, p.region LIMIT 1)",
                                (some_key(), region, some_key()))
                    cur.execute("RELEASE SAVEPOINT move")
                except psycopg2.errors.UniqueViolation:
                    cur.execute("ROLLBACK TO SAVEPOINT move")
            elif op < 0.8:
                # A delete through the parent, or on a partition directly.
                if rng.random() < 0.5:
                    cur.execute("DELETE FROM parted_items WHERE (id, region) = (SELECT p.id, p.region"
                                " FROM parted_items p WHERE p.id >= %s ORDER BY p.id, p.region LIMIT 1)",
                                (some_key(),))
                else:
                    k = rng.randrange(len(bases))
                    cur.execute(f"DELETE FROM {partitions[k]} WHERE id = %s", (bases[k] + rng.randint(1, hi),))
            elif op < 0.9:
                cur.execute("UPDATE parted_items SET deleted_at = NULL WHERE id = %s AND deleted_at IS NOT NULL",
                            (some_key(),))
            else:
                cur.execute("INSERT INTO parted_items (id, name, qty, region) VALUES (%s, 'again', 1, %s)"
                            " ON CONFLICT (id, region) DO NOTHING", (some_key(), rng.choice(REGIONS)))
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0.05, 0.6))


class Replica:
    def __init__(self, table="items", key=None):
        self.table = table
        self.key = key  # the columns of a composite key, or None for id
        self.rows = {}
        self.cursor = None
        self.stats = {"pulls": 0, "resyncs": 0, "pages": 0, "applied": 0}

    def fetch(self, conn, since, max_changes=None, page_size=None):
        with conn.cursor() as cur:
            cur.execute("SELECT d::text FROM delta_since(%s, %s, %s, %s) d",
                        (self.table, since, max_changes, page_size))
            docs = [json.loads(r[0]) for r in cur.fetchall()]
        assert docs, "delta_since returned no document"
        versions = {d["serverVersion"] for d in docs}
        assert len(versions) == 1, f"pages disagree on serverVersion: {versions}"
        if page_size:
            for d in docs:
                n = len(d["created"]) + len(d["updated"]) + len(d["deleted"])
                assert n <= page_size, f"page of {n} entries exceeds page_size {page_size}"
        return docs

    def pull(self, conn, max_changes=None, page_size=None):
        self.stats["pulls"] += 1
        docs = self.fetch(conn, self.cursor, max_changes, page_size)
        if docs[0]["fullResyncRequired"]:
            assert len(docs) == 1 and not docs[0]["created"] and not docs[0]["updated"]
            self.stats["resyncs"] += 1
            docs = self.fetch(conn, None, None, page_size)
            self.rows = {}
        for d in docs:
            self.stats["pages"] += 1
            for i in d["deleted"]:
                self.rows.pop(tuple(json.loads(i)) if self.key else int(i), None)
            for r in d["updated"] + d["created"]:
                self.rows[tuple(r[c] for c in self.key) if self.key else r["id"]] = r
            self.stats["applied"] += len(d["created"]) + len(d["updated"]) + len(d["deleted"])
        self.cursor = docs[0]["serverVersion"]


FORCE_KEYS = {"items": "id", "hard_items": "id", "order_lines": "line, order_id",
              "parted_items": "id, region"}


def force_resync(conn, r):
    """At least four rows of the table changed since the replica's last pull, then a pull with
    max_changes 3: one full resync under load for every table, whatever the writers happened to
    write between its pulls. Rows the writers hold locked are skipped, never waited for."""
    if r.cursor is None:
        r.pull(conn)
    key, changed = FORCE_KEYS[r.table], 0
    with conn.cursor() as cur:
        while changed < 4:
            cur.execute(f"UPDATE {r.table} SET qty = qty + 1 WHERE ({key}) IN (SELECT {key} FROM"
                        f" {r.table} ORDER BY {key} LIMIT 8 FOR UPDATE SKIP LOCKED)")
            changed += cur.rowcount
    before = r.stats["resyncs"]
    r.pull(conn, max_changes=3)
    assert r.stats["resyncs"] == before + 1, f"{r.table}: {changed} changes did not exceed max_changes 3"


def expected_rows(conn, table="items"):
    columns, key = "id, name, qty, tags, attrs", None
    if table == "order_lines":
        columns, key = "order_id, line, qty, note", LINE_KEY
    elif table == "parted_items":
        columns, key = "id, name, qty, tags, attrs, region", PARTED_KEY
    with conn.cursor() as cur:
        cur.execute(f"""SELECT to_json(r)::text FROM (SELECT {columns}, created_at,
                       updated_at, deleted_at FROM {table} WHERE deleted_at IS NULL) r""")
        return {(tuple(row[c] for c in key) if key else row["id"]): row
                for row in (json.loads(t) for (t,) in cur.fetchall())}


def main():
    setup()
    watch = watchclient.Watch(["items", "hard_items", "order_lines", "parted_items"], f"dbname={DB}",
                              keys={"order_lines": LINE_KEY, "parted_items": PARTED_KEY})
    try:
        return run(watch)
    finally:
        watch.kill()


def run(watch):
    stop = threading.Event()
    next_ids = {t: {"value": 500, "lock": threading.Lock()} for t in ("items", "hard_items", "parted_items")}
    next_ids["order_lines"] = {"value": 125, "lock": threading.Lock()}
    stats = {"committed": 0, "rolled_back": 0, "conflicts": 0}
    writers = [Writer(n, stop, next_ids, stats) for n in range(WRITERS)]
    for w in writers:
        w.start()

    replica = Replica()
    hard_replica = Replica("hard_items")
    line_replica = Replica("order_lines", LINE_KEY)
    parted_replica = Replica("parted_items", PARTED_KEY)
    conn = connect()
    rng = random.Random(42)
    deadline = time.monotonic() + DURATION
    forced = False
    while time.monotonic() < deadline:
        if not forced and time.monotonic() > deadline - DURATION / 2:
            forced = True
            for each in (replica, hard_replica, line_replica, parted_replica):
                force_resync(conn, each)
        mode = rng.random()
        r = rng.choice([replica, hard_replica, line_replica, parted_replica])
        if mode < 0.15:
            r.pull(conn, max_changes=3)       # forces resyncs under load
        elif mode < 0.45:
            r.pull(conn, page_size=rng.choice([1, 7, 50]))
        else:
            r.pull(conn)
        time.sleep(rng.uniform(0, 0.05))
    stop.set()
    for w in writers:
        w.join(timeout=30)
        if w.error:
            raise w.error
    replica.pull(conn)  # everything has committed or rolled back now
    hard_replica.pull(conn)
    line_replica.pull(conn)
    parted_replica.pull(conn)

    want = expected_rows(conn)
    have = replica.rows
    diverged = sum(1 for k in want.keys() | have.keys() if want.get(k) != have.get(k))
    hard_want = expected_rows(conn, "hard_items")
    hard_have = hard_replica.rows
    hard_diverged = sum(1 for k in hard_want.keys() | hard_have.keys()
                        if hard_want.get(k) != hard_have.get(k))
    line_want = expected_rows(conn, "order_lines")
    line_have = line_replica.rows
    line_diverged = sum(1 for k in line_want.keys() | line_have.keys()
                        if line_want.get(k) != line_have.get(k))
    parted_want = expected_rows(conn, "parted_items")
    parted_have = parted_replica.rows
    parted_diverged = sum(1 for k in parted_want.keys() | parted_have.keys()
                          if parted_want.get(k) != parted_have.get(k))
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM hard_items_delta_sync_tombstones")
        tombstones = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM order_lines WHERE deleted_at IS NOT NULL")
        line_deleted = cur.fetchone()[0]
        # Rows that live in another partition than their first: the moves happened.
        cur.execute("SELECT count(*) FROM parted_items_delta_sync_tombstones")
        parted_tombstones = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM parted_items WHERE id >= 1000000")
        parted_moved = cur.fetchone()[0]
    watch_failure = watch.finish(conn)
    print(f"writers: {stats['committed']} committed, {stats['rolled_back']} rolled back, "
          f"{stats['conflicts']} lock conflicts")
    print(f"client: {replica.stats['pulls']} pulls, {replica.stats['pages']} pages, "
          f"{replica.stats['resyncs']} full resyncs, {replica.stats['applied']} entries applied")
    print(f"diverged rows: {diverged} of {len(want)}")
    print(f"hard-delete table: {hard_replica.stats['pulls']} pulls, {hard_replica.stats['resyncs']} "
          f"full resyncs, {tombstones} tombstones; diverged rows: {hard_diverged} of {len(hard_want)}")
    print(f"composite-key table: {line_replica.stats['pulls']} pulls, {line_replica.stats['resyncs']} "
          f"full resyncs, {line_deleted} rows deleted; diverged rows: {line_diverged} of {len(line_want)}")
    print(f"partitioned table: {parted_replica.stats['pulls']} pulls, {parted_replica.stats['resyncs']} "
          f"full resyncs, {parted_tombstones} keys moved or deleted for real, {parted_moved} rows "
          f"outside the first partition; diverged rows: {parted_diverged} of {len(parted_want)}")
    conn.close()
    if (diverged or hard_diverged or line_diverged or parted_diverged or stats["committed"] < 100
            or replica.stats["resyncs"] == 0 or hard_replica.stats["resyncs"] == 0
            or line_replica.stats["resyncs"] == 0 or tombstones == 0 or line_deleted == 0
            or parted_replica.stats["resyncs"] == 0 or parted_tombstones == 0 or parted_moved == 0):
        print("FAILED: the copy differs, or the run exercised too little", file=sys.stderr)
        return 1
    if watch_failure:
        print(f"FAILED: {watch_failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
