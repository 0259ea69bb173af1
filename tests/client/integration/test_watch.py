"""pull --watch: applies each commit (LISTEN delta_sync; the poll is set to an hour so only the
notification path can do it), survives its connection being killed (backoff, reconnect, nothing
skipped, even a commit made while it was away), and stops cleanly on SIGTERM and on SIGINT.
Waits are generous (30 s) because the machine is shared; the observed latency is printed."""
import os
import select
import signal
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import (BINARY, assert_replica_equals, check, create_products, database,  # noqa: E402
                       require_server, run, scratch_dir, sql)

require_server()
work = scratch_dir("watch")
replica = os.path.join(work, "replica.db")
APP = "delta_sync_watch_test_%d" % os.getpid()


def replica_value(query, args=()):
    db = sqlite3.connect(replica, timeout=30)
    try:
        row = db.execute(query, args).fetchone()
        return row[0] if row else None
    except sqlite3.OperationalError:  # the table is not there yet
        return None
    finally:
        db.close()


def wait_for(query, expected, what, timeout=30.0):
    """Seconds until the replica answers query with expected; fails after timeout."""
    start = time.time()
    while time.time() - start < timeout:
        if replica_value(query) == expected:
            return time.time() - start
        time.sleep(0.02)
    raise AssertionError("%s: not applied within %.0fs (replica says %r)"
                         % (what, timeout, replica_value(query)))


def start_watch(dsn):
    return subprocess.Popen([BINARY, "pull", "products", "--replica", replica, "--watch",
                             "--poll-interval", "3600", "--dsn", dsn + " application_name=" + APP],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop(proc, sig):
    proc.send_signal(sig)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("--watch did not stop within 30s of signal %d" % sig)
    check(proc.returncode == 0, "--watch exited %d on signal %d: %s" % (proc.returncode, sig, err))
    return out, err


with database("watch") as (dsn, conn):
    create_products(conn, 1000)
    proc = start_watch(dsn)
    try:
        wait_for("SELECT count(*) FROM products", 1000, "first sync")
        latencies = []

        sql(conn, "INSERT INTO products (id, name) VALUES (5001, 'watched')")
        latencies.append(wait_for("SELECT name FROM products WHERE id = 5001", "watched", "insert"))

        sql(conn, "BEGIN; UPDATE products SET name = 'changed' WHERE id = 1; "
                  "DELETE FROM products WHERE id = 2; COMMIT")
        latencies.append(wait_for("SELECT name FROM products WHERE id = 1", "changed", "update"))
        check(replica_value("SELECT count(*) FROM products WHERE id = 2") == 0, "delete in the same commit")

        # Kill the watcher's session: it must come back by itself and miss nothing.
        killed = sql(conn, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = %s", (APP,))[0][0]
        check(killed == 1, "the watcher's session was found (%d)" % killed)
        sql(conn, "UPDATE products SET name = 'while away' WHERE id = 3")  # maybe before it is back
        wait_for("SELECT name FROM products WHERE id = 3", "while away", "commit during reconnect")
        # Once reconnected, notifications work again.
        deadline = time.time() + 30
        while time.time() < deadline:
            if sql(conn, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (APP,))[0][0]:
                break
            time.sleep(0.05)
        sql(conn, "INSERT INTO products (id, name) VALUES (5002, 'after reconnect')")
        latencies.append(wait_for("SELECT name FROM products WHERE id = 5002", "after reconnect",
                                  "insert after reconnect"))
        out, err = stop(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check("connection lost" in err and "retrying" in err, "the loss was reported: %r" % err)
    check("products: full sync, 1,000 rows" in out, out)
    assert_replica_equals(conn, replica)
    run(["diff", "products", "--replica", replica], dsn)

    # A second watcher, on an up-to-date replica, stops on SIGINT too; no commit is lost between.
    sql(conn, "UPDATE products SET name = 'between runs' WHERE id = 4")
    proc = start_watch(dsn)
    try:
        wait_for("SELECT name FROM products WHERE id = 4", "between runs", "commit between runs")
        out, err = stop(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    check(err == "", "a clean stop says nothing on stderr: %r" % err)
    assert_replica_equals(conn, replica)
    print("ok: commit-to-replica latency %s s" % ", ".join("%.3f" % x for x in latencies))
