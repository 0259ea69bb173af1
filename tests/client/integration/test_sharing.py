"""One replica file shared: a pull holds SQLite's write lock only while it applies (not while the
server answers), and a --watch waits for another writer instead of exiting. Many watched tables:
dropping one is reported and the others are followed on; a renamed table keeps its wake-ups
(the poll is an hour, so only a notification can apply the change)."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import psycopg2

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import (BINARY, assert_replica_equals, check, create_products, database,  # noqa: E402
                       require_server, run, scratch_dir, sql)

require_server()
work = scratch_dir("sharing")
replica = os.path.join(work, "replica.db")


def replica_value(query):
    db = sqlite3.connect(replica, timeout=30)
    try:
        row = db.execute(query).fetchone()
        return row[0] if row else None
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()


def wait_for(query, expected, what, timeout=30.0):
    start = time.time()
    while time.time() - start < timeout:
        if replica_value(query) == expected:
            return time.time() - start
        time.sleep(0.05)
    raise AssertionError("%s: not applied within %.0fs (replica says %r)" % (what, timeout, replica_value(query)))


def wait_server(conn, query, what, timeout=30.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sql(conn, query):
            return
        time.sleep(0.05)
    raise AssertionError(what)


def watch(dsn, tables, poll, app):
    return subprocess.Popen([BINARY, "pull"] + tables + ["--replica", replica, "--watch", "--poll-interval",
                            str(poll), "--dsn", dsn + " application_name=" + app],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("--watch did not stop")
    check(proc.returncode == 0, "--watch exited %d: %s" % (proc.returncode, err))
    return out, err


with database("sharing") as (dsn, conn):
    create_products(conn, 100)
    create_products(conn, 10, table="orders")
    run(["pull", "products", "orders", "--replica", replica], dsn)

    # 7a. While the server makes a pull wait (the table is locked), the replica stays writable.
    sql(conn, "UPDATE products SET name = 'waited' WHERE id = 1")
    # Its own session: one transaction would see pg_stat_activity frozen at its first look.
    locker_conn = psycopg2.connect(dsn)
    locker_conn.autocommit = True
    locker = locker_conn.cursor()
    locker.execute("BEGIN; LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen([BINARY, "pull", "products", "--replica", replica, "--dsn",
                             dsn + " application_name=blocked_pull"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_server(conn, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'blocked_pull' "
                          "AND wait_event_type = 'Lock'", "the pull waits for the server")
        other = sqlite3.connect(replica, timeout=0.5, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # "database is locked" if the pull held the lock
        other.execute("CREATE TABLE IF NOT EXISTS my_notes (n INTEGER)")
        other.execute("INSERT INTO my_notes VALUES (1)")
        other.execute("COMMIT")
        other.close()
    finally:
        locker.execute("ROLLBACK")
        out, err = proc.communicate(timeout=60)
    check(proc.returncode == 0 and out == "products: 0 created, 1 updated, 0 deleted\n", (out, err))
    check(replica_value("SELECT name FROM products WHERE id = 1") == "waited", "applied")
    check(replica_value("SELECT count(*) FROM my_notes") == 1, "the other writer's row")

    # 7b. A --watch outlasts another writer holding the replica for longer than SQLite's default
    # patience (the earlier client gave up after 10 s), then applies what it was waiting with.
    proc = watch(dsn, ["products", "orders"], 3600, "sharing_watch")
    try:
        # Up: between pulls (idle), or in delta_sync.wait() (active, holding no lock).
        wait_server(conn, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'sharing_watch' "
                          "AND (state = 'idle' OR query LIKE '%delta_sync.wait%')", "the watch is up")
        time.sleep(0.5)
        writer = sqlite3.connect(replica, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")
        sql(conn, "UPDATE products SET name = 'while locked' WHERE id = 2")
        time.sleep(12)
        check(proc.poll() is None, "the watch is still running")
        writer.execute("COMMIT")
        writer.close()
        wait_for("SELECT name FROM products WHERE id = 2", "while locked", "change after the lock")

        # 8. Dropping one watched table: reported, the other is followed on.
        sql(conn, "DROP TABLE orders")
        sql(conn, "UPDATE products SET name = 'after drop' WHERE id = 3")
        wait_for("SELECT name FROM products WHERE id = 3", "after drop", "change after the drop")
        # The drop itself is found by the next pull of orders: on a reconnect, as any lost session.
        sql(conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sharing_watch'")
        time.sleep(2)
        sql(conn, "UPDATE products SET name = 'after reconnect' WHERE id = 4")
        wait_for("SELECT name FROM products WHERE id = 4", "after reconnect", "change after reconnect")
        check(proc.poll() is None, "the watch goes on without orders")

        # A renamed table keeps its wake-ups: only a notification can apply this within the hour.
        # Back: between pulls (idle), or in delta_sync.wait() (active, holding no lock).
        wait_server(conn, "SELECT 1 FROM pg_stat_activity WHERE application_name = 'sharing_watch' "
                          "AND (state = 'idle' OR query LIKE '%delta_sync.wait%')", "the watch is back")
        sql(conn, "ALTER TABLE products RENAME TO goods")
        sql(conn, "UPDATE goods SET name = 'renamed' WHERE id = 5")
        wait_for("SELECT name FROM products WHERE id = 5", "renamed", "change after rename")
        sql(conn, "UPDATE goods SET name = 'renamed again' WHERE id = 6")
        wait_for("SELECT name FROM products WHERE id = 6", "renamed again", "second change after rename")
    finally:
        if proc.poll() is None:
            out, err = stop(proc)
        else:
            out, err = proc.communicate()
            raise AssertionError("the watch ended: %d %s" % (proc.returncode, err))
    check("orders was dropped; no longer watching orders" in err, err)
    check("database is locked" not in err, err)
    assert_replica_equals(conn, replica, "goods", replica_table="products")

    # A pull waiting for another writer stops promptly on SIGINT (130), having written nothing.
    writer = sqlite3.connect(replica, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    sql(conn, "UPDATE goods SET name = 'held' WHERE id = 7")
    proc = subprocess.Popen([BINARY, "pull", "goods", "--replica", replica, "--dsn", dsn],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2)
    check(proc.poll() is None, "the pull waits for the replica")
    start = time.time()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    waited = time.time() - start
    writer.execute("ROLLBACK")
    writer.close()
    check(proc.returncode == 130 and "interrupted" in err, "exit %d: %r" % (proc.returncode, err))
    check(waited < 5, "stopped %.1fs after SIGINT" % waited)
    check(replica_value("SELECT name FROM products WHERE id = 7") != "held", "nothing written")
print("ok")
