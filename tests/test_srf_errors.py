#!/usr/bin/env python3
"""delta_since's refusals that need more than one pg_regress session can show:
  - a forged serverVersion with a valid checksum and xmin 0 (or 1, 2: below the first normal xid)
    is refused with 22023 like every invalid cursor, not with 22P02 from inside a query;
  - a document that would pass the 1 GB limit of a text value without page_size fails with 54000
    and a hint to pass page_size (with page_size: to pass a smaller one).
Needs the PG* variables of a running cluster (make test exports them)."""
import os
import sys

import psycopg2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pgcluster import encode_cursor, decode_cursor, fail  # noqa: E402

DB = "delta_sync_srf_errors"


def connect(dbname=DB):
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


def error_of(cur, sql, args=None):
    try:
        cur.execute(sql, args)
        cur.fetchall()
    except psycopg2.Error as e:
        return e
    return None


def main():
    admin = connect("postgres")
    admin.cursor().execute(f"DROP DATABASE IF EXISTS {DB}")
    admin.cursor().execute(f"CREATE DATABASE {DB}")
    conn = connect()
    cur = conn.cursor()
    cur.execute("CREATE EXTENSION delta_sync")
    cur.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    cur.execute("SELECT delta_sync.track('t')")
    cur.execute("INSERT INTO t VALUES (1, 'a')")
    cur.execute("SELECT d->>'serverVersion' FROM delta_since('t') d")
    system_id, xmin, xmax, xip = decode_cursor(cur.fetchone()[0])

    # Forged cursors: a valid checksum over an xmin no snapshot has.
    for forged_xmin, forged_xmax in [(0, 0), (0, xmax), (1, 2), (2, xmax)]:
        forged = encode_cursor(system_id, forged_xmin, forged_xmax)
        e = error_of(cur, "SELECT * FROM delta_since('t', %s)", (forged,))
        if e is None or e.pgcode != "22023":
            fail(f"a cursor with xmin {forged_xmin}, xmax {forged_xmax}: "
                 f"{'accepted' if e is None else e.pgcode + ' ' + e.pgerror}")
    # The real one still works.
    if error_of(cur, "SELECT * FROM delta_since('t', %s)", (encode_cursor(system_id, xmin, xmax, xip),)):
        fail("the genuine cursor was refused")

    # More than 1 GB in one document: two rows of 95 MB of \x01, each written as \u0001 (570 MB).
    cur.execute("CREATE TABLE huge (id int PRIMARY KEY, v text)")
    cur.execute("SELECT delta_sync.track('huge')")
    cur.execute("INSERT INTO huge SELECT g, repeat(chr(1), 95000000) FROM generate_series(1, 2) g")
    e = error_of(cur, "SELECT length(d::text) FROM delta_since('huge') d")
    if e is None or e.pgcode != "54000":
        fail(f"a document over 1 GB: {'no error' if e is None else e.pgcode + ' ' + e.pgerror}")
    if "page_size" not in (e.diag.message_hint or ""):
        fail(f"a document over 1 GB gave no hint to use page_size: {e.pgerror}")
    e = error_of(cur, "SELECT length(d::text) FROM delta_since('huge', NULL, page_size => 2) d")
    if e is None or e.pgcode != "54000" or "smaller page_size" not in (e.diag.message_hint or ""):
        fail(f"a page over 1 GB: {'no error' if e is None else e.pgcode + ' ' + str(e.diag.message_hint)}")
    cur.execute("DROP TABLE huge")

    conn.close()
    admin.cursor().execute(f"DROP DATABASE {DB}")
    print("ok: forged cursors refused with 22023; a document over 1 GB fails with 54000 and a page_size hint")


if __name__ == "__main__":
    main()
