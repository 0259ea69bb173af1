#!/usr/bin/env python3
"""delta_sync.wait() across sessions, on real clusters: once without preloading (polling the
transaction completion counter) and once with shared_preload_libraries = 'delta_sync' (woken by
commits through shared memory), each with a streaming hot standby.

On each primary:
- a wait returns on the commit of a change and not before (the writer holds its transaction open
  while the waiter is checked to be still waiting), and returns that table only;
- not on a rolled-back write (the wait runs into its timeout); on timeout, an empty array;
- cancelled by pg_cancel_backend and by statement_timeout (57014), and the same session waits
  again afterwards; a terminated waiter leaves no trace (57P01); a client that disappears (killed
  psql) ends its wait;
- 20 tables and 40 waiters on 3 tables each: a commit to one table wakes exactly the waiters of
  that table, with that table; the others keep waiting;
- a waiting backend killed with SIGKILL: the postmaster restarts every backend (that is what
  PostgreSQL does when a backend dies that way); the server comes back, the other waiters get a
  connection error, reconnect, wait again with their cursors and are woken by the next commit,
  and no committed change is lost.
On the standby: a wait started there returns once the primary's commit is replayed, and not while
replay is paused.
With the client built (build/delta-sync): `pull --watch` of two tables from the standby and from
the primary, with the poll set to an hour so only delta_sync.wait() can wake it, holds one server
connection, applies each commit, and survives its connection being terminated (a commit made
while it is away arrives too). The observed commit-to-replica latencies are printed (not checked:
speed is shown by make bench).
"""
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2
import psycopg2.errors

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgcluster  # noqa: E402

PORTS = {False: (5481, 5482), True: (5483, 5484)}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIENT = os.environ.get("DELTA_SYNC_CLIENT", os.path.join(ROOT, "build", "delta-sync"))
PATIENCE = 20  # seconds a wait that must return gets; a wait that must not return gets 1


def fail(msg):
    print("FAILED: " + msg, file=sys.stderr)
    raise SystemExit(1)


class Waiter(threading.Thread):
    """One wait in its own connection and thread; result is the list of tables or an exception."""

    def __init__(self, cluster, tables, since, timeout="30 s"):
        super().__init__(daemon=True)
        self.conn = cluster.connect()
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            self.pid = cur.fetchone()[0]
        self.tables, self.since, self.timeout = tables, since, timeout
        self.result = None
        self.error = None

    def run(self):
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT delta_sync.wait(%s::regclass[], %s::text[], %s)::text[]",
                            (self.tables, self.since, self.timeout))
                self.result = cur.fetchone()[0]
        except psycopg2.Error as e:
            self.error = e

    def waiting(self, cluster):
        """Whether the backend is inside the wait (so the check below it is not vacuous)."""
        return cluster.value("SELECT count(*) FROM pg_stat_activity WHERE pid = %s "
                             "AND query LIKE '%%delta_sync.wait%%' AND state = 'active'",
                             (self.pid,)) == 1

    def finish(self, what):
        self.join(PATIENCE)
        if self.is_alive():
            fail(f"{what}: the wait did not return")
        return self


def cursor_now(conn, table):
    with conn.cursor() as cur:
        cur.execute("SELECT d->>'serverVersion' FROM delta_since(%s, NULL) d", (table,))
        return cur.fetchone()[0]


def started(w, cluster):
    w.start()
    deadline = time.monotonic() + PATIENCE
    while not w.waiting(cluster):
        if time.monotonic() > deadline or not w.is_alive():
            fail(f"the waiter never started waiting ({w.error})")
        time.sleep(0.01)
    return w


def primary_checks(p, label):
    conn = p.connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION delta_sync")
    for i in range(20):
        cur.execute(f"CREATE TABLE t{i} (id integer PRIMARY KEY, v text)")
        cur.execute(f"SELECT delta_sync.track('t{i}')")
    v0 = cursor_now(conn, "t0")

    # Commit, not before.
    w = started(Waiter(p, ["t0", "t1"], [v0]), p)
    writer = p.connect(autocommit=False)
    wc = writer.cursor()
    wc.execute("INSERT INTO t1 VALUES (1, 'a')")
    time.sleep(1)
    if not w.is_alive() or not w.waiting(p):
        fail(f"{label}: the wait returned on an uncommitted write ({w.result}, {w.error})")
    writer.commit()
    w.finish(f"{label}: commit")
    if w.error or w.result != ["t1"]:
        fail(f"{label}: a commit to t1 returned {w.result} {w.error}")

    # Not on a rollback; an empty array at the timeout.
    v1 = cursor_now(conn, "t1")
    w = started(Waiter(p, ["t1"], [v1], "2 s"), p)
    wc.execute("INSERT INTO t1 VALUES (2, 'b')")
    wc.execute("UPDATE t1 SET v = 'c'")
    writer.rollback()
    w.finish(f"{label}: rollback")
    if w.error or w.result != []:
        fail(f"{label}: a rolled-back write returned {w.result} {w.error}")

    # Cancelled, by pg_cancel_backend and by statement_timeout; the session carries on.
    w = started(Waiter(p, ["t1"], [v1], "1 hour"), p)
    p.query("SELECT pg_cancel_backend(%s)", (w.pid,))
    w.finish(f"{label}: pg_cancel_backend")
    if not isinstance(w.error, psycopg2.errors.QueryCanceled):
        fail(f"{label}: pg_cancel_backend gave {w.error!r}")
    with w.conn.cursor() as c:
        c.execute("SET statement_timeout = '300ms'")
        try:
            c.execute("SELECT delta_sync.wait('{t1}', %s, '1 hour')", ([v1],))
            fail(f"{label}: statement_timeout did not end the wait")
        except psycopg2.errors.QueryCanceled:
            pass
        c.execute("RESET statement_timeout")
        c.execute("SELECT delta_sync.wait('{t1}', %s, '10 ms')::text", ([v1],))
        if c.fetchone()[0] != "{}":
            fail(f"{label}: a session could not wait again after a cancel")
    w = started(Waiter(p, ["t1"], [v1], "1 hour"), p)
    p.query("SELECT pg_terminate_backend(%s)", (w.pid,))
    w.finish(f"{label}: pg_terminate_backend")
    if w.error is None:
        fail(f"{label}: a terminated wait returned {w.result}")

    # A client that goes away (killed, so it cannot cancel) ends its wait within seconds.
    app = f"delta_sync_wait_gone_{os.getpid()}"
    psql = subprocess.Popen([os.path.join(pgcluster.PGBIN, "psql"), "-X", "-q", "-h", p.sock, "-p",
                             str(p.port), "-U", "postgres", "-d", "postgres", "-c",
                             "SELECT delta_sync.wait('{t1}', NULL, '1 hour')"],
                            env=dict(os.environ, PGAPPNAME=app), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    count = lambda: p.value("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (app,))
    deadline = time.monotonic() + PATIENCE
    while count() == 0:
        if time.monotonic() > deadline:
            fail(f"{label}: the psql waiter never connected")
        time.sleep(0.05)
    psql.kill()
    psql.wait()
    deadline = time.monotonic() + PATIENCE
    while count() != 0:
        if time.monotonic() > deadline:
            fail(f"{label}: a wait outlived its client by {PATIENCE}s")
        time.sleep(0.1)

    # Many tables, many waiters: exactly the waiters of the written table wake, with that table.
    v = cursor_now(conn, "t0")
    waiters = []
    for k in range(40):
        tables = [f"t{(k + j * 7) % 20}" for j in range(3)]
        waiters.append(started(Waiter(p, tables, [v], "1 hour"), p))
    cur.execute("INSERT INTO t5 VALUES (1, 'x')")
    expect = [w for w in waiters if "t5" in w.tables]
    for w in expect:
        w.finish(f"{label}: many waiters")
        if w.error or w.result != ["t5"]:
            fail(f"{label}: a waiter on {w.tables} got {w.result} {w.error}")
    time.sleep(1)
    others = [w for w in waiters if w not in expect]
    if any(not w.is_alive() for w in others):
        fail(f"{label}: waiters not on t5 returned")
    for w in others:
        p.query("SELECT pg_cancel_backend(%s)", (w.pid,))
        w.finish(f"{label}: cancelling the others")

    # SIGKILL of a waiting backend.
    v = cursor_now(conn, "t2")
    waiters = [started(Waiter(p, ["t2"], [v], "1 hour"), p) for _ in range(5)]
    conn.close()
    writer.close()
    os.kill(waiters[0].pid, signal.SIGKILL)
    for w in waiters:
        w.finish(f"{label}: after SIGKILL")
        if w.error is None:
            fail(f"{label}: a waiter survived the crash restart without an error ({w.result})")
    deadline = time.monotonic() + 60
    while True:
        try:
            p.value("SELECT 1")
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                fail(f"{label}: the server did not come back after a waiter was killed\n" + p.log_tail())
            time.sleep(0.2)
    # The other waiters reconnect and wait again with their cursors; the next commit wakes them.
    again = [started(Waiter(p, ["t2"], [v], "1 hour"), p) for _ in range(4)]
    p.query("INSERT INTO t2 VALUES (1, 'after the crash')")
    for w in again:
        w.finish(f"{label}: waiters after the crash")
        if w.error or w.result != ["t2"]:
            fail(f"{label}: a waiter after the crash got {w.result} {w.error}")
    if p.value("SELECT count(*) FROM t1 WHERE id = 1") != 1:
        fail(f"{label}: a committed change was lost in the crash restart")
    print(f"wait ({label}): returns on commit and not before, not on rollback, {{}} at the timeout; "
          "cancel, statement_timeout, terminate, a vanished client; 40 waiters on 20 tables woken exactly; a SIGKILLed "
          "waiter: server back, the others reconnect and are woken")


def standby_checks(p, s, label):
    w = None
    pgcluster.wait_for_replay(p, s)
    sconn = s.connect()
    v = cursor_now(sconn, "t3")
    s.query("SELECT pg_wal_replay_pause()")
    w = started(Waiter(s, ["t3", "t4"], [v], "1 hour"), s)
    p.query("INSERT INTO t3 VALUES (1, 'replayed')")
    time.sleep(1)
    if not w.is_alive():
        fail(f"{label} standby: the wait returned while replay was paused ({w.result}, {w.error})")
    s.query("SELECT pg_wal_replay_resume()")
    w.finish(f"{label} standby: replay")
    if w.error or w.result != ["t3"]:
        fail(f"{label} standby: a replayed commit returned {w.result} {w.error}")
    v = cursor_now(sconn, "t4")
    w = started(Waiter(s, ["t4"], [v], "2 s"), s)
    wr = p.connect(autocommit=False)
    wr.cursor().execute("INSERT INTO t4 VALUES (1, 'never')")
    wr.rollback()
    wr.close()
    w.finish(f"{label} standby: rollback")
    if w.error or w.result != []:
        fail(f"{label} standby: a rolled-back write returned {w.result} {w.error}")
    sconn.close()
    print(f"wait ({label}, hot standby): returns once the commit is replayed, not while replay is "
          "paused, not on rollback")


def replica_value(path, query):
    try:
        db = sqlite3.connect(path, timeout=30)
        try:
            row = db.execute(query).fetchone()
            return row[0] if row else None
        finally:
            db.close()
    except sqlite3.OperationalError:  # not created yet
        return None


def until_replica(path, query, expected, what):
    start = time.monotonic()
    while time.monotonic() - start < 60:
        if replica_value(path, query) == expected:
            return time.monotonic() - start
        time.sleep(0.002)
    fail(f"{what}: the replica never showed {expected!r} (it says {replica_value(path, query)!r})")


def watch_checks(primary, server, label):
    """pull --watch of t6 and t7 from `server` (the primary or its standby)."""
    if not os.access(CLIENT, os.X_OK):
        print(f"wait ({label}): client not built, pull --watch not checked")
        return
    work = tempfile.mkdtemp(prefix="delta_sync_wait_watch.")
    replica = os.path.join(work, "replica.db")
    app = f"delta_sync_wait_watch_{os.getpid()}"
    dsn = f"host={server.sock} port={server.port} user=postgres dbname=postgres application_name={app}"
    proc = subprocess.Popen([CLIENT, "pull", "t6", "t7", "--replica", replica, "--watch",
                             "--poll-interval", "3600", "--dsn", dsn],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        key = int(time.time() * 1000) % 1000000
        primary.query("INSERT INTO t6 VALUES (%s, 'first')", (key,))
        until_replica(replica, f"SELECT v FROM t6 WHERE id = {key}", "first", f"{label}: first sync")
        connections = server.value("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                                   (app,))
        if connections != 1:
            fail(f"{label}: pull --watch of two tables holds {connections} connections, not 1")
        latencies = []
        for i in range(20):
            table = "t6" if i % 2 else "t7"
            # A durable commit: with synchronous_commit = off (the test clusters) the WAL would
            # reach a standby only at the WAL writer's next round (200 ms).
            primary.query(f"SET synchronous_commit = on; INSERT INTO {table} VALUES (%s, 'w')",
                          (key + 1 + i,))
            latencies.append(until_replica(replica, f"SELECT v FROM {table} WHERE id = {key + 1 + i}",
                                           "w", f"{label}: commit {i}"))
        server.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                     (app,))
        primary.query("UPDATE t6 SET v = 'while away' WHERE id = %s", (key,))
        until_replica(replica, f"SELECT v FROM t6 WHERE id = {key}", "while away",
                      f"{label}: commit while the connection was lost")
        primary.query("UPDATE t7 SET v = 'after' WHERE id = %s", (key + 1,))
        until_replica(replica, f"SELECT v FROM t7 WHERE id = {key + 1}", "after",
                      f"{label}: commit after reconnecting")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        if proc.returncode != 0:
            fail(f"{label}: pull --watch exited {proc.returncode}: {err}")
        if "connection lost" not in err:
            fail(f"{label}: the lost connection was not reported: {err!r}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    latencies.sort()
    print(f"wait ({label}): pull --watch of 2 tables on 1 connection applied 20 commits and "
          f"survived a terminated connection; commit-to-replica latency p50 "
          f"{statistics.median(latencies) * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms "
          "(observed, not checked)")


def main():
    try:
        for preloaded in (False, True):
            label = "preloaded" if preloaded else "not preloaded"
            conf = ["shared_preload_libraries = 'delta_sync'"] if preloaded else []
            pport, sport = PORTS[preloaded]
            p = pgcluster.start_primary(f"wait_primary_{int(preloaded)}", pport, *conf)
            primary_checks(p, label)
            watch_checks(p, p, label)
            s = pgcluster.from_base_backup(p, f"wait_standby_{int(preloaded)}", sport, True)
            standby_checks(p, s, label)
            watch_checks(p, s, label + ", hot standby")
            s.stop()
            p.stop()
    finally:
        pgcluster.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
