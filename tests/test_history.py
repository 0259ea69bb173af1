#!/usr/bin/env python3
"""Cursors that know their history (docs/design.md §7, src/extension/history.cpp): failovers, pg_rewind and
point-in-time restores never leave a client with rows the server answering it does not have.

Failover. A primary A and an asynchronous streaming standby B. One client syncs from A and waits
(its cursor is taken before the split). The standby stops receiving WAL; A commits 30 updates; a
second client pulls them from A. A goes down and B is promoted (timeline 2); B runs 100
transactions of its own, more than A ran after the split, so B's transaction ids pass the second
client's cursor. That client must get fullResyncRequired, and its copy, resynced, must equal B's
table: prints `failover: diverged rows 0 of N`. The control: the same client state with its cursor
re-encoded at a point of B's own history (what a server that ignored history would accept) keeps
the 30 rows B never had, so the check above can fail. The first client gets an ordinary delta.

pg_rewind. A is rewound onto B's timeline and reattached as B's standby. The cursor from A's lost
history resyncs there too; cursors move between B and its standby A both ways, including to A
while its replay is paused behind the cursor, without a resync and without loss.

PITR. A third primary archives its WAL; a base backup of it is restored with recovery.signal to a
restore point and promoted (a new timeline), then runs more transactions than the original ran
after that point. A cursor taken after the restore point resyncs; one taken before it gets a delta.
Nothing is done by hand between the restore and the pulls.
"""
import json
import os
import shutil
import sys
import time

sys.dont_write_bytecode = True  # no tests/__pycache__ from importing pgcluster

import pgcluster
from pgcluster import fail

DB = "delta_sync_history"
A_PORT, B_PORT, P_PORT, R_PORT = 5475, 5476, 5477, 5478
# pg_rewind needs full page writes, hint bits in WAL (or data checksums), and the target's WAL
# back to the last checkpoint before the divergence.
REWINDABLE = ("wal_log_hints = on", "full_page_writes = on", "wal_keep_size = '256MB'")


class Client:
    """A client's copy of `items`: rows by id and its cursor; applies documents as docs/design.md §1 says."""

    def __init__(self, name):
        self.name = name
        self.rows = {}
        self.cursor = None
        self.resyncs = 0

    def clone(self, name):
        c = Client(name)
        c.rows = dict(self.rows)
        c.cursor = self.cursor
        return c

    def pull(self, cluster):
        """Pulls and applies; returns whether the server asked for a full resync."""
        docs = fetch(cluster, self.cursor)
        resync = docs[0]["fullResyncRequired"]
        if resync:
            self.resyncs += 1
            docs = fetch(cluster, None)
            self.rows = {}
        for d in docs:
            for i in d["deleted"]:
                self.rows.pop(int(i), None)
            for r in d["updated"] + d["created"]:
                self.rows[r["id"]] = r
        self.cursor = docs[0]["serverVersion"]
        return resync


def fetch(cluster, since):
    for _ in range(50):
        try:
            rows = cluster.query("SELECT d::text FROM delta_since('items', %s) d", (since,),
                                 dbname=DB)
            return [json.loads(r[0]) for r in rows]
        except Exception as e:  # a standby query cancelled by replay: a client retries
            if getattr(e, "pgcode", None) not in ("40001", "40P01"):
                raise
            time.sleep(0.05)
    raise RuntimeError("delta_since kept failing with recovery conflicts")


def table_rows(cluster):
    rows = {}
    for (text,) in cluster.query("SELECT to_json(t)::text FROM items t WHERE deleted_at IS NULL",
                                 dbname=DB):
        row = json.loads(text)
        for k in [k for k in row if k.startswith("delta_sync_")]:
            del row[k]
        rows[row["id"]] = row
    return rows


def diverged(cluster, client):
    want = table_rows(cluster)
    return sorted(k for k in want.keys() | client.rows.keys()
                  if want.get(k) != client.rows.get(k)), len(want)


def expect_in_sync(cluster, client, where):
    bad, n = diverged(cluster, client)
    if bad:
        fail(f"{where}: {client.name}'s copy differs from the server's in {len(bad)} rows: "
             f"{bad[:10]}")
    return n


def point(cursor):
    c = pgcluster.decode_cursor_full(cursor)
    if c["timeline"] is None:
        return "no point of history (a cursor of version 1.1)"
    return f"timeline {c['timeline']} at {pgcluster.lsn_text(c['lsn'])}"


def setup(primary):
    primary.query(f"CREATE DATABASE {DB}")
    conn = primary.connect(DB)
    with conn.cursor() as cur:
        cur.execute("CREATE EXTENSION delta_sync")
        cur.execute("CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL, "
                    "qty integer NOT NULL)")
        cur.execute("INSERT INTO items SELECT g, 'item ' || g, g FROM generate_series(1, 100) g")
        cur.execute("SELECT delta_sync.track('items')")
    conn.close()


def run(cluster, statements):
    conn = cluster.connect(DB)
    with conn.cursor() as cur:
        for sql, args in statements:
            cur.execute(sql, args)  # autocommit: each its own transaction
    conn.close()


def snapshot_xmax(cluster):
    return int(cluster.value("SELECT pg_snapshot_xmax(pg_current_snapshot())::text", dbname=DB))


def wait_until(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def failover():
    a = pgcluster.start_primary("history_a", A_PORT, *REWINDABLE)
    setup(a)
    b = pgcluster.from_base_backup(a, "history_b", B_PORT, True)
    pgcluster.wait_for_replay(a, b)

    early, late = Client("the client synced before the split"), Client("the client")
    early.pull(a)
    late.pull(a)
    run(a, [("UPDATE items SET qty = qty + 1000 WHERE id = %s", (i,)) for i in range(91, 96)])
    pgcluster.wait_for_replay(a, b)  # B has everything up to here: the split is after this

    # The standby stops receiving WAL.
    b.query("ALTER SYSTEM SET primary_conninfo = ''")
    b.query("SELECT pg_reload_conf()")
    wait_until("the standby's WAL receiver to stop",
               lambda: b.value("SELECT count(*) FROM pg_stat_wal_receiver") == 0)

    run(a, [("UPDATE items SET name = %s WHERE id = %s", (f"only on A {i}", i))
            for i in range(1, 31)])
    if late.pull(a):
        fail("a pull on the primary itself asked for a resync")
    held = late.cursor
    print(f"failover: the client holds the 30 updates only A has; its cursor is at {point(held)}, "
          f"xmax {pgcluster.decode_cursor(held)[2]}")
    a.stop()

    b.query("SELECT pg_promote()")
    wait_until("the promotion", lambda: not b.value("SELECT pg_is_in_recovery()"))
    history = b.query("SELECT pg_read_file('pg_wal/00000002.history')")[0][0].strip()
    print(f"failover: B promoted; its timeline 2 history file says: {history!r}")
    run(b, [("UPDATE items SET qty = qty + 1 WHERE id = %s", (31 + i % 70,)) for i in range(90)]
        + [("INSERT INTO items VALUES (%s, 'new on B', 0)", (1000 + i,)) for i in range(10)])
    b_xmax, held_xmax = snapshot_xmax(b), pgcluster.decode_cursor(held)[2]
    if b_xmax <= held_xmax:
        fail(f"B ran fewer transactions than A (xmax {b_xmax} <= {held_xmax}): this proves nothing")

    control = late.clone("the control client")
    b_now = int(b.value("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text"))
    control.cursor = pgcluster.reencode_cursor(held, timeline=2, lsn=b_now)

    if not late.pull(b):
        fail("a cursor holding commits the new primary never had was answered with a delta")
    n = expect_in_sync(b, late, "failover")
    print(f"failover: on B (transaction ids at {b_xmax}, past the cursor's {held_xmax}) the cursor "
          f"gets fullResyncRequired; after the resync: diverged rows 0 of {n}")

    if control.pull(b):
        fail("the control cursor (a point in B's own history) was refused: it shows nothing")
    bad, _ = diverged(b, control)
    print(f"failover (control): the same cursor re-encoded at a point of B's history is answered "
          f"with a delta and leaves diverged rows {len(bad)} of {n} (the 30 updates B never had, "
          f"and {len(bad) - 30} of B's own changes whose transaction ids the cursor took for A's)")
    if not set(range(1, 31)) <= set(bad):
        fail(f"the control should keep the 30 rows only A had; it differs in {bad}")

    if early.pull(b):
        fail(f"a cursor taken before the split ({point(held)}) was refused by the new primary")
    expect_in_sync(b, early, "failover, cursor taken before the split")
    print(f"failover: the client synced before the split gets an ordinary delta on B "
          f"(no resync), diverged rows 0")
    return a, b, held, early


def rewind(a, b, held, early):
    b_conn = f"host={b.sock} port={b.port} user=postgres dbname=postgres"
    # pg_rewind reads the source's timeline from its control file, which a promotion updates only
    # at the next checkpoint (the documented step before rewinding against a new primary).
    b.query("CHECKPOINT")
    pgcluster._run(pgcluster._as_owner([os.path.join(pgcluster.PGBIN, "pg_rewind"),
                                        "--target-pgdata", a.data, "--source-server", b_conn,
                                        "--write-recovery-conf"]))
    # pg_rewind copied B's configuration: A keeps its own port and socket, and follows B.
    a.configure("# rewound", f"port = {a.port}", f"unix_socket_directories = '{a.sock}'")
    with open(os.path.join(a.data, "postgresql.auto.conf"), "a") as f:
        f.write(f"primary_conninfo = '{b_conn}'\n")
    a.start()
    pgcluster.wait_for_replay(b, a)
    a_cursor = fetch(a, None)[0]["serverVersion"]
    print(f"rewind: A rewound with pg_rewind and replaying B's WAL as its standby, at "
          f"{point(a_cursor)}")

    stale = Client("the client")
    stale.cursor = held
    if not stale.pull(a):
        fail("the rewound standby answered a cursor from the history it was rewound out of")
    expect_in_sync(a, stale, "rewind")

    # Cursors move between B and its standby A, both ways, also to A while it lags behind them.
    mover = early.clone("a client moving between B and its standby A")
    mover.resyncs = 0
    if mover.pull(a):
        fail("a cursor taken before the split was refused by the rewound standby")
    for i in range(3):
        run(b, [("UPDATE items SET qty = qty + 7 WHERE id = %s", (40 + i,)),
                ("INSERT INTO items VALUES (%s, 'moving', 0)", (2000 + i,)),
                ("DELETE FROM items WHERE id = %s", (60 + i,))])
        mover.pull(b)
        a.query("SELECT pg_wal_replay_pause()")
        wait_until("A's replay to pause",
                   lambda: a.value("SELECT pg_get_wal_replay_pause_state()") == "paused")
        run(b, [("UPDATE items SET name = 'while A lags' WHERE id = %s", (70 + i,)),
                ("DELETE FROM items WHERE id = %s", (2000 + i,))])
        mover.pull(b)
        mover.pull(a)  # the cursor is ahead of A's replay
        a.query("SELECT pg_wal_replay_resume()")
        pgcluster.wait_for_replay(b, a)
        mover.pull(a)
        expect_in_sync(b, mover, "moving between B and A")
    if mover.resyncs:
        fail(f"moving between a primary and its standby resynced {mover.resyncs} times")
    print("rewind: the old cursor resyncs on the rewound standby; a client moving between B and A "
          "(A paused behind its cursor each time) resyncs 0 times, diverged rows 0")


def pitr():
    archive = pgcluster.scratch("history_archive")
    os.makedirs(archive)
    if os.getuid() == 0:
        shutil.chown(archive, "postgres", "postgres")
    p = pgcluster.start_primary("history_p", P_PORT, "archive_mode = on",
                                f"archive_command = 'cp %p {archive}/%f'")
    setup(p)
    restored = pgcluster.take_base_backup(p, "history_restored", R_PORT)

    before, after = Client("a client synced before the restore point"), Client("the client")
    before.pull(p)
    run(p, [("UPDATE items SET qty = qty + 1 WHERE id = %s", (i,)) for i in range(1, 6)])
    p.query("SELECT pg_create_restore_point('before_the_mistake')")
    run(p, [("UPDATE items SET name = 'after the restore point' WHERE id = %s", (i,))
            for i in range(10, 30)])
    after.pull(p)
    segment = p.value("SELECT pg_walfile_name(pg_switch_wal())")
    wait_until("the archiver", lambda: p.value(
        "SELECT coalesce(last_archived_wal >= %s, false) FROM pg_stat_archiver", (segment,)))
    p_xmax = snapshot_xmax(p)
    p.stop()

    # PostgreSQL's point-in-time recovery: recovery.signal, a target, promote at the end.
    restored.configure(f"restore_command = 'cp {archive}/%f %p'",
                       "recovery_target_name = 'before_the_mistake'",
                       "recovery_target_action = 'promote'", "archive_mode = off")
    open(os.path.join(restored.data, "recovery.signal"), "w").close()
    if os.getuid() == 0:
        shutil.chown(os.path.join(restored.data, "recovery.signal"), "postgres", "postgres")
    restored.start()
    wait_until("the restored server's promotion",
               lambda: not restored.value("SELECT pg_is_in_recovery()"))
    run(restored, [("UPDATE items SET qty = qty + 2 WHERE id = %s", (50 + i % 40,))
                   for i in range(40)])
    r_xmax, held_xmax = snapshot_xmax(restored), pgcluster.decode_cursor(after.cursor)[2]
    if r_xmax <= held_xmax:
        fail(f"the restored server ran too few transactions ({r_xmax} <= {held_xmax})")
    if not after.pull(restored):
        fail("a cursor taken after the restore point was answered with a delta on the restored server")
    n = expect_in_sync(restored, after, "PITR")
    if before.pull(restored):
        fail("a cursor taken before the restore point was refused by the restored server")
    expect_in_sync(restored, before, "PITR, cursor taken before the restore point")
    print(f"pitr: restored to a restore point and promoted ({point(fetch(restored, None)[0]['serverVersion'])}), "
          f"transaction ids at {r_xmax} past the original's {p_xmax}: the cursor taken after the "
          f"restore point resyncs (diverged rows 0 of {n}); the one taken before it gets a delta")


def main():
    try:
        a, b, held, early = failover()
        rewind(a, b, held, early)
        a.stop()
        b.stop()
        pitr()
    finally:
        pgcluster.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
