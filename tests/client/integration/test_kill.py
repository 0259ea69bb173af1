"""kill -9 in the middle of a first sync and of a big delta, then a rerun: the replica equals the
server. After each kill the replica must be exactly as before the pull (same rows, same cursor):
never half applied. The pull is watched through a pseudo-terminal, where it draws its progress,
so the kill provably lands while pages are still being applied; a few more kills land at random
moments, each leaving the replica either as before or as after that pull.

The progress is redrawn ten times a second, so on a fast machine a whole pull fits in a few
redraws and would jump over a kill window. The watched pull is therefore slowed down by the test,
not by the client: it is stopped (SIGSTOP) most of the time and let run in short slices (SIGCONT),
so each redraw covers a few thousand rows whatever the machine's speed."""
import os
import pty
import random
import re
import select
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import (BINARY, assert_replica_equals, check, create_products, cursor_of,  # noqa: E402
                       database, replica_fingerprint, require_server, run, scratch_dir, sql)

require_server()
work = scratch_dir("kill")
replica = os.path.join(work, "replica.db")
PROGRESS = re.compile(rb"\r[^\r:]+: ([\d,]+) rows")


def kill_when(args, dsn, rows_at_least, rows_below):
    """Runs a pull with stderr on a terminal; SIGKILLs it once its progress shows at least
    rows_at_least (and fewer than rows_below) rows applied. True when it was killed there."""
    def kill(proc):
        proc.send_signal(signal.SIGSTOP)  # frozen where it stands, then killed
        alive = proc.poll() is None
        proc.kill()
        return alive
    acted, returncode, seen = act_when(args, dsn, rows_at_least, rows_below, kill)
    if not (acted and returncode == -signal.SIGKILL):
        shown = [c.decode() for c in PROGRESS.findall(seen)]
        print(f"no kill between {rows_at_least} and {rows_below} rows (exit {returncode}); "
              f"progress seen: {shown[-8:]}", file=sys.stderr)
    return acted and returncode == -signal.SIGKILL


RUN_SLICE = 0.004   # seconds the watched pull runs ...
STOP_SLICE = 0.016  # ... then seconds it stands still: a fifth of its own speed


class Throttle:
    """Runs proc in short slices: SIGCONT, RUN_SLICE, SIGSTOP, STOP_SLICE, until stopped. stop()
    returns with the process stopped (SIGSTOP), so it cannot advance while the test acts on it;
    resume() lets it run freely again."""

    def __init__(self, proc):
        self.proc = proc
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _signal(self, sig):
        if self.proc.returncode is None:
            try:
                os.kill(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def _run(self):
        while not self.done.is_set():
            self._signal(signal.SIGCONT)
            time.sleep(RUN_SLICE)
            self._signal(signal.SIGSTOP)
            self.done.wait(STOP_SLICE)

    def stop(self):
        self.done.set()
        self.thread.join()

    def resume(self):
        self._signal(signal.SIGCONT)


def act_when(args, dsn, rows_at_least, rows_below, action):
    """Runs a pull with stderr on a terminal, slowed down (Throttle), and calls action(proc),
    with the pull stopped, once its progress shows between rows_at_least and rows_below rows
    applied; the pull then runs freely again if still alive. Returns (whether action ran while
    the pull was running, exit status, everything the pull wrote on the terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([BINARY] + args + ["--dsn", dsn], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    throttle = Throttle(proc)
    seen = b""
    acted = False
    deadline = time.time() + 300
    try:
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the pull ended and closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            counts = PROGRESS.findall(seen)
            if counts:
                rows = int(counts[-1].replace(b",", b""))
                if not acted and rows_at_least <= rows < rows_below:
                    throttle.stop()
                    acted = action(proc)
                    throttle.resume()
                    if not acted:
                        break
    finally:
        throttle.stop()
        throttle.resume()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        os.close(master)
    return acted, proc.returncode, seen


def kill_mid_pull(args, dsn, rows_at_least, rows_below, attempts=5):
    """kill_when, retried: a pull descheduled at the wrong moment can still jump over the window
    and finish. Such a pull is undone by putting the replica's files back as they were, and
    tried again."""
    files = [replica + suffix for suffix in ("", "-wal", "-shm")]
    saved = {}
    for f in files:
        if os.path.exists(f):
            with open(f, "rb") as fh:
                saved[f] = fh.read()
    for _ in range(attempts):
        if kill_when(args, dsn, rows_at_least, rows_below):
            return True
        for f in files:
            if os.path.exists(f):
                os.remove(f)
        for f, data in saved.items():
            with open(f, "wb") as fh:
                fh.write(data)
    return False


def replica_tables(path):
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    finally:
        db.close()


def kill_after(args, dsn, seconds):
    proc = subprocess.Popen([BINARY] + args + ["--dsn", dsn], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    proc.kill()
    proc.wait()


with database("kill") as (dsn, conn):
    total = 200000
    create_products(conn, total, max_changes=1000000)
    # Small pages: more round trips spread the progress the kills watch for over more redraws.
    pull = ["pull", "products", "--replica", replica, "--page-size", "200"]

    # First sync, killed at 10%, 50% and 80% of its rows: nothing of it may remain.
    for fraction in (0.1, 0.5, 0.8):
        # Below the total the last page is not applied yet, so the commit cannot have happened.
        check(kill_mid_pull(pull, dsn, int(total * fraction), total),
              "the first sync was not killed mid-way at %d%%" % (fraction * 100))
        check(cursor_of(replica) is None, "a killed first sync stored a cursor")
        check(replica_tables(replica) <= {"_delta_sync_state", "_delta_sync_source"},
              "a killed first sync left tables behind: %s" % replica_tables(replica))
    started = time.time()
    run(pull, dsn)
    first_sync_seconds = time.time() - started
    check(assert_replica_equals(conn, replica) == total, "row count after the rerun")
    run(["diff", "products", "--replica", replica], dsn)

    # A big delta: 150,000 rows changed, killed at three points while pages are applied.
    before = replica_fingerprint(replica)
    cursor_before = cursor_of(replica)
    sql(conn, "UPDATE products SET stock = stock + 1000, name = name || ' v2' WHERE id <= 150000")
    sql(conn, "DELETE FROM products WHERE id > 195000")
    for rows in (15000, 75000, 120000):
        check(kill_mid_pull(pull, dsn, rows, 155000),  # 150,000 updates + 5,000 deletes
              "the delta was not killed mid-way at %d rows" % rows)
        check(cursor_of(replica) == cursor_before, "a killed delta moved the cursor")
        check(replica_fingerprint(replica) == before, "a killed delta changed rows")

    # Kills at random moments of a delta: the replica is always before or after, never between.
    rng = random.Random(int(os.environ.get("DELTA_SYNC_SEED", "4")))
    outcomes = []
    for _ in range(4):
        kill_after(pull, dsn, rng.uniform(0, 3 * first_sync_seconds))
        outcomes.append(replica_fingerprint(replica))
    run(pull, dsn)
    after = replica_fingerprint(replica)
    check(after[0] != before[0] and after[1] != before[1], "the rerun applied the delta")
    for rows, cursor in outcomes:
        # Before: old rows, old cursor. After: new rows with a newer cursor (a later idle pull
        # moves the cursor on, so only the rows are compared).
        check((rows, cursor) == before or (rows == after[0] and cursor not in (None, before[1])),
              "a random kill left the replica between two states")
    assert_replica_equals(conn, replica)
    run(["diff", "products", "--replica", replica], dsn)
    # A one-shot pull whose session dies mid-way reconnects after a backoff and starts over from
    # the stored cursor (here: none, a first sync), completing with an exact copy.
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(replica + suffix):
            os.remove(replica + suffix)
    app = "delta_sync_kill_test_%d" % os.getpid()

    def terminate_session(proc):
        return sql(conn, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = %s", (app,))[0][0] == 1
    acted, returncode, seen = act_when(pull,
                                       dsn + " application_name=" + app, 50000, 180000,
                                       terminate_session)
    check(acted, "the pull's session was not terminated mid-way")
    check(returncode == 0, "the pull did not recover from its lost session: %r" % seen[-300:])
    check(b"connection lost" in seen and b"retrying" in seen, seen[-300:])
    assert_replica_equals(conn, replica)
    print("ok: random kills after %s: %s" % (
        "first sync of %.1fs" % first_sync_seconds,
        ", ".join("before" if o == before else "after" for o in outcomes)))
