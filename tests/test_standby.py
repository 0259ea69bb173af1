#!/usr/bin/env python3
"""Hot standby: delta_since on a streaming replica loses nothing (docs/design.md §7, §9.2, §9.3).

A primary and a standby made with `pg_basebackup -c fast -R`, both on private sockets.

First, deterministic checks of the two ways a standby can lose changes:
- an open primary transaction (xid assigned, rows written in a subtransaction, a later xid already
  committed) must stay in progress in a cursor taken on the standby: after it commits and is
  replayed, the next pull from that cursor holds its rows. As a control, a cursor built from the
  standby's pg_current_snapshot() (which reports that xid as finished) must be shown to miss them,
  so this check can fail; the same with more than 64 subtransactions (an overflowed standby
  snapshot); and a row created while standby snapshots overflow, pulled and then deleted, must
  reach the client as deleted;
- cursors move both ways: a cursor from the primary used on a standby whose replay is paused goes
  back in time; a row the client got from the primary and that is deleted afterwards must still
  reach the client as deleted.

Then four writers on the primary run multi-statement transactions (inserts, updates, DELETEs that
become soft deletes, undeletes, savepoints, now and then more than 64 subtransactions), hold some
open for a fraction of a second, and roll some back, while a lag thread pauses the standby's replay
now and then. One client pulls from the standby all along (plain, paged, and with a tiny
max_changes that forces full resyncs), and now and then from the primary with the same cursor.
After replay has caught up it pulls once more from the standby; its copy must equal the primary's
table. Prints `standby: diverged rows 0 of N`; anything else fails.

All along, the real client `delta-sync pull --watch items` keeps a SQLite replica from the standby
(where it waits with delta_sync.wait(): LISTEN is refused there); after replay has caught up it
must catch up too, exit 0 on SIGTERM, and its replica must equal the primary's live rows
(tests/watchclient.py). Prints `watch: diverged rows 0 of N`.
"""
import json
import os
import random
import sys
import threading
import time

import psycopg2

sys.dont_write_bytecode = True  # no tests/__pycache__ from importing pgcluster
import psycopg2.errors

import pgcluster
import watchclient
from pgcluster import fail

DURATION = float(os.environ.get("STANDBY_SECONDS", "20"))
WRITERS = 4
DB = "delta_sync_standby"
PRIMARY_PORT, STANDBY_PORT = 5470, 5471
RETRYABLE = (psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected)


def setup(primary):
    primary.query(f"CREATE DATABASE {DB}")
    conn = primary.connect(DB)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION delta_sync")
        cur.execute("""CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL,
                       qty integer NOT NULL, price numeric(10,2), tags text[], attrs jsonb)""")
        cur.execute("""INSERT INTO items SELECT g, 'item ' || g, g % 17, g * 1.25,
                       ARRAY['t' || (g % 5)], jsonb_build_object('g', g)
                       FROM generate_series(1, 500) g""")
        cur.execute("SELECT delta_sync.track('items')")
    conn.close()


class Replica:
    """The client's copy: rows by id and the cursor; applies documents as docs/design.md §1 says."""

    def __init__(self):
        self.rows = {}
        self.cursor = None
        self.stats = {"standby pulls": 0, "primary pulls": 0, "pages": 0, "full resyncs": 0,
                      "applied": 0, "recovery conflicts retried": 0}

    def fetch(self, conn, since, max_changes=None, page_size=None):
        for attempt in range(20):
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT d::text FROM delta_since('items', %s, %s, %s) d",
                                (since, max_changes, page_size))
                    docs = [json.loads(r[0]) for r in cur.fetchall()]
                break
            except RETRYABLE:  # a standby query cancelled by replay: a client retries
                self.stats["recovery conflicts retried"] += 1
                time.sleep(0.05)
        else:
            raise RuntimeError("delta_since kept failing with recovery conflicts")
        assert docs, "delta_since returned no document"
        versions = {d["serverVersion"] for d in docs}
        assert len(versions) == 1, f"pages disagree on serverVersion: {versions}"
        if page_size:
            for d in docs:
                n = len(d["created"]) + len(d["updated"]) + len(d["deleted"])
                assert n <= page_size, f"page of {n} entries exceeds page_size {page_size}"
        return docs

    def pull(self, conn, where, max_changes=None, page_size=None):
        """Pulls and applies; returns the documents (after a resync: those of the full sync)."""
        self.stats[f"{where} pulls"] += 1
        docs = self.fetch(conn, self.cursor, max_changes, page_size)
        if docs[0]["fullResyncRequired"]:
            assert len(docs) == 1 and not docs[0]["created"] and not docs[0]["updated"] \
                and not docs[0]["deleted"], "a fullResyncRequired document carries changes"
            self.stats["full resyncs"] += 1
            docs = self.fetch(conn, None, None, page_size)
            assert not docs[0]["fullResyncRequired"], "a full sync asked for a full resync"
            self.rows = {}
        for d in docs:
            self.stats["pages"] += 1
            for i in d["deleted"]:
                self.rows.pop(int(i), None)
            for r in d["updated"] + d["created"]:
                self.rows[r["id"]] = r
            self.stats["applied"] += len(d["created"]) + len(d["updated"]) + len(d["deleted"])
        self.cursor = docs[0]["serverVersion"]
        return docs


def table_rows(cluster):
    """The live rows as the client must have them: to_json of each, minus internal columns."""
    rows = {}
    for (text,) in cluster.query("SELECT to_json(t)::text FROM items t WHERE deleted_at IS NULL",
                                 dbname=DB):
        row = json.loads(text)
        for k in [k for k in row if k.startswith("delta_sync_")]:
            del row[k]
        rows[row["id"]] = row
    return rows


def diverged(want, have):
    return sorted(k for k in want.keys() | have.keys() if want.get(k) != have.get(k))


def single(conn, since):
    with conn.cursor() as cur:
        cur.execute("SELECT d::text FROM delta_since('items', %s) d", (since,))
        docs = [json.loads(r[0]) for r in cur.fetchall()]
    assert len(docs) == 1
    return docs[0]


def ids(rows):
    return {r["id"] for r in rows}


def check_open_transaction(primary, standby, subtransactions):
    """A cursor taken on the standby while a primary transaction is open (xid assigned, rows
    written in subtransactions, a later xid committed) must keep that xid in progress."""
    base = -1000 * (subtransactions + 1)
    held = primary.connect(DB, autocommit=False)
    hc = held.cursor()
    for i in range(subtransactions):
        hc.execute("SAVEPOINT s")
        hc.execute("INSERT INTO items (id, name, qty) VALUES (%s, 'held', 0)", (base - i,))
        hc.execute("RELEASE SAVEPOINT s")
    hc.execute("UPDATE items SET name = %s WHERE id = 7", (f"held {subtransactions}",))
    hc.execute("SELECT pg_current_xact_id()::text::bigint")
    xid = hc.fetchone()[0]
    primary.query("INSERT INTO items (id, name, qty) VALUES (%s, 'later', 0)", (base + 1,),
                  dbname=DB)
    pgcluster.wait_for_replay(primary, standby)

    sid = standby.value("SELECT system_identifier FROM pg_control_system()")
    snap, naive_sees = standby.query(
        "SELECT pg_current_snapshot()::text, pg_visible_in_snapshot(%s::text::xid8, "
        "pg_current_snapshot())", (xid,), dbname=DB)[0]
    conn = standby.connect(DB)
    full = single(conn, None)
    if any(i <= base for i in ids(full["created"])):
        fail(f"a full sync on the standby returned rows of the open transaction {xid}")
    if base + 1 not in ids(full["created"]):
        fail("a full sync on the standby misses a replayed, committed row")
    cursor = full["serverVersion"]
    _, xmin, xmax, xip = pgcluster.decode_cursor(cursor)
    if xmin <= xid < xmax and xid not in xip or xid < xmin:
        fail(f"the standby's cursor {xmin}:{xmax}:{xip} marks the open xid {xid} as finished")
    naive = pgcluster.cursor_from_snapshot_text(sid, snap)

    held.commit()
    held.close()
    pgcluster.wait_for_replay(primary, standby)
    want = {base - i for i in range(subtransactions)}
    delta = single(conn, cursor)
    if not want <= ids(delta["created"]) or 7 not in ids(delta["updated"]):
        fail(f"after the open transaction {xid} committed, a pull from the standby's cursor "
             f"misses {len(want - ids(delta['created']))} of its {len(want)} inserted rows "
             f"and {'not ' if 7 in ids(delta['updated']) else ''}its update")
    control = single(conn, naive)
    missed = len(want - ids(control["created"])) + (7 not in ids(control["updated"]))
    conn.close()
    print(f"standby: open xid {xid} with {subtransactions} subtransaction(s): standby snapshot "
          f"{xmin}:{xmax}:{len(xip)} xids; pg_current_snapshot() says {snap} "
          f"(xid visible: {naive_sees}); a cursor built from it misses {missed} of "
          f"{len(want) + 1} changes, delta_since's cursor misses 0")
    if not naive_sees or missed == 0:
        fail("the control did not reproduce the standby trap: this check proves nothing")


def check_overflow_then_delete(primary, standby):
    """While a primary transaction with more than 64 subtransactions is open, standby snapshots
    are overflowed (their subxids are incomplete, their top-level xids are not). A row created
    meanwhile, pulled from the standby and then deleted, must reach the client as deleted: the
    cursor must see the creation of every row the client holds."""
    client = Replica()
    sconn = standby.connect(DB)
    client.pull(sconn, "standby")
    held = primary.connect(DB, autocommit=False)
    hc = held.cursor()
    for i in range(70):
        hc.execute("SAVEPOINT s")
        hc.execute("INSERT INTO items (id, name, qty) VALUES (%s, 'overflow', 0)", (-500 - i,))
        hc.execute("RELEASE SAVEPOINT s")
    primary.query("INSERT INTO items (id, name, qty) VALUES (-5, 'born during overflow', 0)",
                  dbname=DB)
    pgcluster.wait_for_replay(primary, standby)
    overflowed = standby.value("SELECT pg_current_snapshot()::text", dbname=DB)
    client.pull(sconn, "standby")
    if -5 not in client.rows:
        fail("a row committed and replayed was not delivered by the standby")
    primary.query("DELETE FROM items WHERE id = -5", dbname=DB)
    pgcluster.wait_for_replay(primary, standby)
    client.pull(sconn, "standby")
    held.commit()
    held.close()
    pgcluster.wait_for_replay(primary, standby)
    client.pull(sconn, "standby")
    sconn.close()
    bad = diverged(table_rows(primary), client.rows)
    if bad:
        fail(f"a row created and deleted while standby snapshots were overflowed ({overflowed}) "
             f"stayed in the client's copy: rows {bad} differ")
    print("standby: a row created and deleted while standby snapshots overflow reaches the client "
          "as deleted")


def check_cursor_goes_back(primary, standby):
    """A cursor from the primary used on a lagging standby: the standby answers from an older
    snapshot. A row the client already has from the primary, deleted afterwards, must still be
    delivered as deleted."""
    client = Replica()
    pconn, sconn = primary.connect(DB), standby.connect(DB)
    client.pull(sconn, "standby")
    standby.query("SELECT pg_wal_replay_pause()")
    deadline = time.monotonic() + 30
    while standby.value("SELECT pg_get_wal_replay_pause_state()") != "paused":
        if time.monotonic() > deadline:
            fail("the standby's replay did not pause")
        time.sleep(0.02)
    try:
        primary.query("INSERT INTO items (id, name, qty) VALUES (-3, 'back and forth', 0)",
                      dbname=DB)
        primary.query("UPDATE items SET qty = qty + 100 WHERE id = 8", dbname=DB)
        got = client.pull(pconn, "primary")
        assert -3 in ids(got[0]["created"]) and -3 in client.rows
        client.pull(sconn, "standby")  # replay paused: an older snapshot than the cursor's
        primary.query("DELETE FROM items WHERE id = -3", dbname=DB)
        primary.query("UPDATE items SET qty = qty + 100 WHERE id = 8", dbname=DB)
    finally:
        standby.query("SELECT pg_wal_replay_resume()")
    pgcluster.wait_for_replay(primary, standby)
    client.pull(sconn, "standby")
    pconn.close()
    sconn.close()
    bad = diverged(table_rows(primary), client.rows)
    if bad:
        fail(f"a cursor that went back in time on a paused standby lost changes: rows {bad} differ "
             f"(client has {[client.rows.get(k) for k in bad]})")
    print("standby: a cursor moved from the primary to a paused standby and back loses nothing")


class Writer(threading.Thread):
    def __init__(self, n, primary, stop, next_id, stats):
        super().__init__(daemon=True)
        self.rng = random.Random(n)
        self.primary = primary
        self.stop = stop
        self.next_id = next_id
        self.stats = stats
        self.recent = []  # ids this writer inserted last
        self.error = None

    def new_id(self):
        with self.next_id["lock"]:
            self.next_id["value"] += 1
            return self.next_id["value"]

    def run(self):
        try:
            conn = self.primary.connect(DB, autocommit=False)
            cur = conn.cursor()
            cur.execute("SET lock_timeout = '2s'")
            conn.commit()
            while not self.stop.is_set():
                try:
                    self.transaction(cur)
                    if self.rng.random() < 0.1:
                        conn.rollback()
                        self.stats["rolled back"] += 1
                    else:
                        conn.commit()
                        self.stats["committed"] += 1
                except (psycopg2.errors.DeadlockDetected, psycopg2.errors.LockNotAvailable):
                    conn.rollback()
                    self.stats["lock conflicts"] += 1
            conn.close()
        except Exception as e:  # reported by the main thread
            self.error = e

    def transaction(self, cur):
        rng = self.rng
        hi = self.next_id["value"]
        if rng.random() < 0.02:
            # More than 64 subtransactions: standby snapshots overflow while this is open.
            for _ in range(70):
                cur.execute("SAVEPOINT s")
                i = self.new_id()
                cur.execute("INSERT INTO items (id, name, qty) VALUES (%s, %s, 0)", (i, f"sub {i}"))
                cur.execute("RELEASE SAVEPOINT s")
            self.stats["overflowing"] += 1
            time.sleep(rng.uniform(0.05, 0.4))
        for _ in range(rng.randint(1, 5)):
            savepoint = rng.random() < 0.2
            if savepoint:
                cur.execute("SAVEPOINT s")
            op = rng.random()
            if op < 0.3:
                i = self.new_id()
                self.recent = (self.recent + [i])[-3:]
                cur.execute("INSERT INTO items (id, name, qty, price, tags, attrs) "
                            "VALUES (%s, %s, %s, %s, %s, %s)",
                            (i, f"new {i}", rng.randint(0, 9), rng.randint(0, 99999) / 100,
                             ["a", None, "b"], json.dumps({"w": i})))
            elif op < 0.65:
                cur.execute("UPDATE items SET qty = qty + 1, name = %s WHERE id = %s",
                            (f"upd {rng.random():.6f}", rng.randint(1, hi)))
            elif op < 0.85:
                # Half of the deletes hit this writer's newest rows, which a client may have
                # only from the primary while the standby lags.
                if self.recent and rng.random() < 0.5:
                    victim = self.recent[-rng.randint(1, len(self.recent))]
                else:
                    victim = rng.randint(1, hi)
                cur.execute("DELETE FROM items WHERE id = %s", (victim,))
            else:
                cur.execute("UPDATE items SET deleted_at = NULL "
                            "WHERE id = %s AND deleted_at IS NOT NULL", (rng.randint(1, hi),))
            if savepoint:
                cur.execute("ROLLBACK TO SAVEPOINT s" if rng.random() < 0.3 else "RELEASE SAVEPOINT s")
            if rng.random() < 0.3:
                time.sleep(rng.uniform(0.05, 0.6))  # held open across pulls: commits late


class Lag(threading.Thread):
    """Pauses the standby's replay now and then, so that pulls there go back in time."""

    def __init__(self, standby, stop):
        super().__init__(daemon=True)
        self.standby = standby
        self.stop = stop
        self.pauses = 0
        self.error = None

    def run(self):
        rng = random.Random(7)
        try:
            conn = self.standby.connect()
            cur = conn.cursor()
            while not self.stop.wait(rng.uniform(0.3, 1.2)):
                cur.execute("SELECT pg_wal_replay_pause()")
                self.pauses += 1
                self.stop.wait(rng.uniform(0.2, 0.8))
                cur.execute("SELECT pg_wal_replay_resume()")
            conn.close()
        except Exception as e:
            self.error = e


def random_run(primary, standby):
    stop = threading.Event()
    top = primary.value("SELECT max(id) FROM items", dbname=DB)
    next_id = {"value": top, "lock": threading.Lock()}
    stats = {"committed": 0, "rolled back": 0, "lock conflicts": 0, "overflowing": 0}
    writers = [Writer(n, primary, stop, next_id, stats) for n in range(WRITERS)]
    lag = Lag(standby, stop)
    watch = watchclient.Watch(["items"], f"host={standby.sock} port={standby.port} user=postgres "
                                         f"dbname={DB} application_name=delta_sync_standby_watch")
    try:
        random_writes(primary, standby, writers, lag, stop, stats, watch)
    finally:
        watch.kill()


def random_writes(primary, standby, writers, lag, stop, stats, watch):
    for t in writers + [lag]:
        t.start()

    client = Replica()
    sconn, pconn = standby.connect(DB), primary.connect(DB)
    rng = random.Random(42)
    start = time.monotonic()
    try:
        while time.monotonic() < start + DURATION:
            # Full resyncs heal any loss: the last third of the run has none, so that a change
            # lost there shows in the final comparison.
            heal = time.monotonic() < start + DURATION * 2 / 3
            mode = rng.random()
            if mode < 0.15:
                client.pull(pconn, "primary")
            elif mode < 0.22:
                client.pull(pconn, "primary", page_size=rng.choice([5, 40]))
            elif mode < 0.30 and heal:
                time.sleep(0.3)  # lets a few changes pile up, more than max_changes
                client.pull(sconn, "standby", max_changes=1)  # forces resyncs
            elif mode < 0.55:
                client.pull(sconn, "standby", page_size=rng.choice([1, 7, 50]))
            else:
                client.pull(sconn, "standby")
            time.sleep(rng.uniform(0, 0.05))
    finally:
        stop.set()
        for t in writers + [lag]:
            t.join(timeout=30)
        standby.query("SELECT pg_wal_replay_resume()")
    for t in writers + [lag]:
        if t.error:
            raise t.error

    pgcluster.wait_for_replay(primary, standby)  # every writer has committed or rolled back
    client.pull(sconn, "standby")
    sconn.close()
    pconn.close()

    want = table_rows(primary)
    bad = diverged(want, client.rows)
    replicated = diverged(want, table_rows(standby))
    s = client.stats
    print(f"writers: {stats['committed']} committed, {stats['rolled back']} rolled back, "
          f"{stats['lock conflicts']} lock conflicts, {stats['overflowing']} with >64 "
          f"subtransactions; replay paused {lag.pauses} times")
    print(f"client: {s['standby pulls']} pulls on the standby, {s['primary pulls']} on the primary, "
          f"{s['pages']} pages, {s['full resyncs']} full resyncs, {s['applied']} entries applied, "
          f"{s['recovery conflicts retried']} recovery conflicts retried")
    print(f"standby: diverged rows {len(bad)} of {len(want)}")
    if bad:
        for k in bad[:10]:
            print(f"  id {k}: primary {want.get(k)}\n  {' ' * len(str(k))}    client  "
                  f"{client.rows.get(k)}", file=sys.stderr)
    if replicated:
        fail(f"the standby's own table differs from the primary's: {replicated[:10]}")
    if bad or stats["committed"] < 100 or s["full resyncs"] == 0 or s["primary pulls"] == 0:
        fail("the copy differs, or the run exercised too little")
    pconn = primary.connect(DB)
    watch_failure = watch.finish(pconn)
    pconn.close()
    if watch_failure:
        fail(watch_failure)


def main():
    try:
        primary = pgcluster.start_primary("standby_primary", PRIMARY_PORT)
        setup(primary)
        standby = pgcluster.from_base_backup(primary, "standby_replica", STANDBY_PORT, True)
        pgcluster.wait_for_replay(primary, standby)
        check_open_transaction(primary, standby, 1)
        check_open_transaction(primary, standby, 70)
        check_overflow_then_delete(primary, standby)
        check_cursor_goes_back(primary, standby)
        random_run(primary, standby)
    finally:
        pgcluster.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
