"""Shared helpers of the delta-sync integration tests: a database of its own per test on the
server of `make test` (PG* variables), the program under test, and an independent comparison of
a replica with the server's rows (to_json, parsed here, not by the client)."""
import contextlib
import decimal
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import tempfile

import psycopg2

BINARY = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/delta-sync"
INTERNAL = ("delta_sync_created_xid", "delta_sync_changed_xid")


def require_server():
    """Exit 77 (ctest: skipped) when no server was given to us."""
    if not (os.environ.get("PGHOST") or os.environ.get("DATABASE_URL")):
        print("skipped: no PostgreSQL (PGHOST unset)")
        sys.exit(77)


def scratch_dir(name):
    base = os.environ.get("DELTA_SYNC_TEST_DIR") or tempfile.gettempdir()
    return tempfile.mkdtemp(prefix="client_%s_" % name, dir=base)


@contextlib.contextmanager
def database(name):
    """A fresh database with the extension; yields (dsn, autocommit connection)."""
    dbname = "client_%s_%d" % (name, os.getpid())
    admin = psycopg2.connect(dbname=os.environ.get("PGDATABASE", "postgres"))
    admin.autocommit = True
    with admin.cursor() as c:
        c.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % dbname)
        c.execute('CREATE DATABASE "%s"' % dbname)
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    with conn.cursor() as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS delta_sync")
    try:
        yield "dbname=%s" % dbname, conn
    finally:
        conn.close()
        with admin.cursor() as c:
            c.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % dbname)
        admin.close()


def sql(conn, statement, args=None):
    with conn.cursor() as c:
        c.execute(statement, args)
        return c.fetchall() if c.description else None


def create_products(conn, rows, table="products", max_changes=1000):
    sql(conn, """CREATE TABLE %s (id bigint PRIMARY KEY, name text, price numeric, stock int,
                 tags text[], attrs jsonb)""" % table)
    add_products(conn, 1, rows, table)
    sql(conn, "SELECT delta_sync.track(%s, max_changes => %s)", (table, max_changes))


def add_products(conn, first, last, table="products"):
    sql(conn, """INSERT INTO """ + table + """ SELECT g, 'product ' || g, mod(g, 1000) / 10.0 + 0.05,
                 mod(g, 50), ARRAY['t' || mod(g, 7), 'x'],
                 jsonb_build_object('color', 'c' || mod(g, 5), 'weight', g * 1.5, 'n', NULL)
                 FROM generate_series(%s, %s) g""", (first, last))


def run(args, dsn=None, check_rc=0, env=None, **kwargs):
    """Runs delta-sync; asserts the exit status unless check_rc is None."""
    cmd = [BINARY] + list(args) + (["--dsn", dsn] if dsn else [])
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=280, **kwargs)
    if check_rc is not None and p.returncode != check_rc:
        raise AssertionError("%s exited %d, expected %d\nstdout: %s\nstderr: %s"
                             % (" ".join(cmd), p.returncode, check_rc, p.stdout, p.stderr))
    return p


def key_of(row, key):
    """A row's key: row[key], or the tuple of the values of a composite key's columns."""
    if isinstance(key, str):
        return row[key]
    return tuple(row[k] for k in key)


def server_records(conn, table, key="id"):
    """key -> record of every live row, from the server's own to_json (key: a column, or a tuple
    of the columns of a composite key)."""
    rows = sql(conn, "SELECT to_json(whole_row)::text FROM %s whole_row WHERE deleted_at IS NULL" % table)
    out = {}
    for (text,) in rows:
        record = json.loads(text, parse_float=decimal.Decimal)
        for name in INTERNAL:
            record.pop(name, None)
        out[key_of(record, key)] = record
    return out


def replica_records(path, table, key="id"):
    db = sqlite3.connect(path)
    try:
        cur = db.execute('SELECT * FROM "%s"' % table)
        names = [d[0] for d in cur.description]
        return {key_of(dict(zip(names, row)), key): dict(zip(names, row)) for row in cur}
    finally:
        db.close()


def same_value(server, replica):
    if server is None:
        return replica is None
    if isinstance(server, bool):
        return replica == int(server) and isinstance(replica, int)
    if isinstance(server, int):
        return isinstance(replica, int) and replica == server or (
            isinstance(replica, (str, float)) and decimal.Decimal(str(replica)) == server)
    if isinstance(server, decimal.Decimal):
        return isinstance(replica, (int, float, str)) and decimal.Decimal(str(replica)) == server
    if isinstance(server, str):
        if server in ("Infinity", "-Infinity") and isinstance(replica, float):
            return replica == float(server.replace("Infinity", "inf"))  # REAL inf, -inf
        return replica == server
    return isinstance(replica, str) and json.loads(replica, parse_float=decimal.Decimal) == server


def json_columns(conn, table):
    """Columns of type json or jsonb: the replica holds their JSON text ('"a"', 'null')."""
    rows = sql(conn, "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
                     "AND NOT attisdropped AND atttypid IN ('json'::regtype, 'jsonb'::regtype)", (table,))
    return {r[0] for r in rows}


def same_json(server, replica):
    # A record renders JSON null and SQL NULL alike; the replica tells them apart.
    if replica is None:
        return server is None
    return isinstance(replica, str) and json.loads(replica, parse_float=decimal.Decimal) == server


def assert_replica_equals(conn, path, table="products", key="id", replica_table=None):
    expected = server_records(conn, table, key)
    jsons = json_columns(conn, table)
    actual = replica_records(path, replica_table or table, key)
    missing = sorted(set(expected) - set(actual), key=str)
    extra = sorted(set(actual) - set(expected), key=str)
    assert not missing and not extra, "missing %s, extra %s" % (missing[:5], extra[:5])
    for k, record in expected.items():
        for name, value in record.items():
            assert name in actual[k], "column %s missing in the replica" % name
            same = same_json if name in jsons else same_value
            assert same(value, actual[k][name]), \
                "%s %r: %s is %r in the replica, %r on the server" % (key, k, name, actual[k][name], value)
    return len(expected)


def replica_fingerprint(path, table="products"):
    """(hash of the table's rows, stored cursor): equal fingerprints, equal replicas."""
    db = sqlite3.connect(path)
    try:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        h = hashlib.sha256()
        if table in tables:
            for row in db.execute('SELECT * FROM "%s" ORDER BY 1' % table):
                h.update(repr(row).encode())
        else:
            h.update(b"no table")
    finally:
        db.close()
    return h.hexdigest(), cursor_of(path, table)


def cursor_of(path, table="products"):
    db = sqlite3.connect(path)
    try:
        row = db.execute("SELECT server_version FROM _delta_sync_state WHERE table_name = ?",
                         (table,)).fetchone()
        return row[0] if row else None
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()


def check(condition, message):
    if not condition:
        raise AssertionError(message)
