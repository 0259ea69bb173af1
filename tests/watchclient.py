"""The real client, `delta-sync pull --watch`, run beside the concurrency and standby scripts.

start() launches it on some tables with a SQLite replica of its own; finish() waits (bounded)
until the replica equals the server's live rows, stops the client with SIGTERM (it must exit 0),
and counts the rows that differ, compared independently of the client: the server's to_json of
each live row, parsed here, against the SQLite row (tests/client/integration/clientlib.py).
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "client", "integration"))
import clientlib  # noqa: E402

CLIENT = os.environ.get("DELTA_SYNC_CLIENT", os.path.join(HERE, "..", "build", "delta-sync"))
CATCH_UP_SECONDS = 15


class Watch:
    def __init__(self, tables, dsn, keys=None, extra_args=()):
        if not os.access(CLIENT, os.X_OK):
            raise RuntimeError(f"the client {CLIENT} is not built (cmake -S . -B build && "
                               "cmake --build build)")
        self.tables = tables
        self.keys = keys or {}  # table -> its key columns, when not "id"
        base = os.environ.get("DELTA_SYNC_TEST_DIR") or tempfile.gettempdir()
        self.work = tempfile.mkdtemp(prefix="watch_", dir=base)
        self.replica = os.path.join(self.work, "replica.db")
        self.stderr = open(os.path.join(self.work, "stderr"), "w+")
        self.proc = subprocess.Popen([CLIENT, "pull", *tables, "--replica", self.replica,
                                      "--watch", "--quiet", "--dsn", dsn, *extra_args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.stderr)

    def diverged(self, conn, table):
        """(rows that differ, live rows on the server) for one table."""
        key = self.keys.get(table, "id")
        want = clientlib.server_records(conn, table, key)
        jsons = clientlib.json_columns(conn, table)
        try:
            have = clientlib.replica_records(self.replica, table, key)
        except Exception:  # not created yet, or busy: all rows count as different
            have = {}
        bad = 0
        for k in want.keys() | have.keys():
            w, h = want.get(k), have.get(k)
            if w is None or h is None:
                bad += 1
                continue
            for name, value in w.items():
                same = clientlib.same_json if name in jsons else clientlib.same_value
                if name not in h or not same(value, h[name]):
                    bad += 1
                    break
        return bad, len(want)

    def finish(self, conn, label="watch"):
        """Waits for the replica to catch up with `conn`'s server, stops the client, prints
        `watch: diverged rows D of N` per table; returns a failure message or None."""
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            counts = {t: self.diverged(conn, t) for t in self.tables}
            if all(d == 0 for d, _ in counts.values()) or time.monotonic() > deadline \
                    or self.proc.poll() is not None:
                break
            time.sleep(0.1)
        waited = CATCH_UP_SECONDS - max(0.0, deadline - time.monotonic())
        exited_early = self.proc.poll()
        if exited_early is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        rc = self.proc.returncode
        self.stderr.seek(0)
        err = self.stderr.read()
        self.stderr.close()
        for t, (d, n) in counts.items():
            print(f"{label}: diverged rows {d} of {n}" + (f" ({t})" if len(self.tables) > 1 else ""))
        print(f"{label}: pull --watch of {', '.join(self.tables)} caught up in {waited:.1f} s "
              f"after the writers stopped; exit status {rc} after SIGTERM")
        problems = []
        if exited_early is not None:
            problems.append(f"pull --watch exited by itself with status {rc}")
        elif rc != 0:
            problems.append(f"pull --watch exited {rc} after SIGTERM")
        if any(d for d, _ in counts.values()):
            problems.append("the watch's replica differs from the server")
        if problems:
            return "; ".join(problems) + f"\nclient stderr (last lines):\n{err[-2000:]}"
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
