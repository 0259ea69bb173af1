"""Tables with composite primary keys in the replica: keys of two and three columns of mixed types
(text with quotes and commas, numeric, uuid, timestamptz, boolean, bytea) are the SQLite tables'
composite PRIMARY KEY, in the server's key order; rows created, updated, soft- and hard-deleted
and re-keyed on the server reach the replica (in pages too), `diff` agrees with the server, and
finds a changed value and a row the server no longer has, naming the row by its whole key."""
import decimal
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import (check, database, json_columns, replica_records, require_server, run,  # noqa: E402
                       same_json, same_value, scratch_dir, server_records, sql)

require_server()
work = scratch_dir("composite_keys")

# table, key columns in key order, CREATE TABLE body
TABLES = [
    ("order_lines", ("line", "order_no"),
     "order_no numeric, line text, qty integer, attrs jsonb, PRIMARY KEY (line, order_no)"),
    ("readings", ("sensor", "taken_at", "seq"),
     "sensor uuid, taken_at timestamptz, seq numeric(10,2), reading double precision, "
     "PRIMARY KEY (sensor, taken_at, seq)"),
    ("flags", ("owner", "on", "blob"),
     'owner integer, "on" boolean, blob bytea, note text, PRIMARY KEY (owner, "on", blob)'),
]


def replica_key(path, table):
    db = sqlite3.connect(path)
    try:
        return tuple(r[0] for r in db.execute(
            "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,)))
    finally:
        db.close()


def normal(value):
    """A key value as comparable text: numbers by their decimal value, booleans as 1/0, bytea
    as its hex text (the replica holds numerics as REAL or TEXT, the server's JSON as numbers)."""
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, bool):
        return str(int(value))
    try:  # both sides alike: a text that reads as a number is taken for it on each
        return str(decimal.Decimal(str(value)).normalize())
    except decimal.InvalidOperation:
        return value


def compare(conn, path):
    """Independently of the client: every live row, by its whole key, equals the replica's row."""
    for table, key, _ in TABLES:
        jsons = json_columns(conn, table)
        want = {tuple(normal(v) for v in k): r for k, r in server_records(conn, table, key).items()}
        have = {tuple(normal(v) for v in k): r for k, r in replica_records(path, table, key).items()}
        check(want.keys() == have.keys(), "%s: keys only on the server %s, only in the replica %s"
              % (table, sorted(want.keys() - have.keys())[:3], sorted(have.keys() - want.keys())[:3]))
        for k, record in want.items():
            for name, value in record.items():
                if name in key:
                    continue
                same = same_json if name in jsons else same_value
                check(same(value, have[k][name]), "%s %r: %s is %r in the replica, %r on the server"
                      % (table, k, name, have[k][name], value))


def diff_ok(dsn, path):
    for table, _, _ in TABLES:
        p = run(["diff", table, "--replica", path], dsn, check_rc=None)
        check(p.returncode == 0, "diff %s exited %d: %s %s" % (table, p.returncode, p.stdout, p.stderr))


def main():
    with database("composite_keys") as (dsn, conn):
        for table, _, body in TABLES:
            sql(conn, "CREATE TABLE %s (%s)" % (table, body))
        sql(conn, """INSERT INTO order_lines SELECT g % 7 + (g % 3) / 4.0, format('line %s, "q" \\ %s', g % 5, g),
                     g, CASE WHEN g % 4 = 0 THEN 'null'::jsonb WHEN g % 4 = 1 THEN NULL
                             ELSE jsonb_build_object('g', g) END
                     FROM generate_series(1, 60) g""")
        sql(conn, """INSERT INTO readings SELECT ('00000000-0000-0000-0000-00000000000' || (g % 3))::uuid,
                     '2024-01-02 03:04:05.123456+00'::timestamptz + (g / 9) * interval '1 hour',
                     (g % 9) / 4.0, g * 0.5 FROM generate_series(1, 80) g""")
        sql(conn, """INSERT INTO flags SELECT g / 2, g % 2 = 0, decode(lpad(to_hex(g), 4, '0'), 'hex'), 'n'
                     FROM generate_series(1, 40) g""")
        for table, _, _ in TABLES:
            sql(conn, "SELECT delta_sync.track(%s)", (table,))
        sql(conn, "SELECT delta_sync.track('readings', deletes => 'hard')")

        replica = os.path.join(work, "replica.db")
        tables = [t for t, _, _ in TABLES]
        run(["pull", *tables, "--replica", replica, "--page-size", "7"], dsn)
        for table, key, _ in TABLES:
            check(replica_key(replica, table) == key,
                  "%s: the replica's primary key is %r, the server's %r" % (table, replica_key(replica, table), key))
        compare(conn, replica)
        diff_ok(dsn, replica)

        # Every bucket, soft and hard deletes, a key change (hard mode), keys inserted again.
        sql(conn, """INSERT INTO order_lines VALUES (100, 'new, "one"', 1, '{"a": null}'), (100, 'new, "two"', 2, 'null')""")
        sql(conn, "UPDATE order_lines SET qty = -qty, attrs = 'null' WHERE qty % 3 = 0")
        sql(conn, "DELETE FROM order_lines WHERE qty % 5 = 1")
        sql(conn, """UPDATE order_lines SET deleted_at = now() WHERE qty % 7 = 2""")
        sql(conn, "INSERT INTO order_lines SELECT order_no, line, 1000, NULL FROM order_lines WHERE qty = 11"
                  " ON CONFLICT DO NOTHING")  # a soft-deleted key inserted again
        sql(conn, "DELETE FROM readings WHERE seq = 0.5")
        sql(conn, "UPDATE readings SET seq = seq + 10 WHERE seq = 1.25")  # re-keyed: old key deleted
        sql(conn, "UPDATE readings SET reading = -reading WHERE seq = 2")
        sql(conn, "DELETE FROM flags WHERE owner % 4 = 0")
        sql(conn, """UPDATE flags SET note = 'changed, "x"' WHERE "on" """)
        p = run(["pull", *tables, "--replica", replica, "--page-size", "5"], dsn)
        deleted = sum(int(line.split(", ")[2].split()[0]) for line in p.stdout.strip().splitlines())
        check(deleted > 0, "the pull deleted nothing: %s" % p.stdout)
        compare(conn, replica)
        diff_ok(dsn, replica)

        # diff is not blind to composite keys: a changed value and a row the server does not have.
        db = sqlite3.connect(replica)
        db.execute("UPDATE order_lines SET qty = 424242 WHERE rowid = (SELECT min(rowid) FROM order_lines)")
        db.execute("""INSERT INTO readings (sensor, taken_at, seq, reading, created_at, updated_at)
                      VALUES ('00000000-0000-0000-0000-000000000009', '2024-01-02T03:04:05.123456+00:00',
                              3.5, 1, '', '')""")
        db.commit()
        db.close()
        p = run(["diff", "order_lines", "--replica", replica], dsn, check_rc=1)
        check("1 different" in p.stdout and "qty is" in p.stdout and "line " in p.stdout
              and "order_no " in p.stdout, "diff of a changed value: %s" % p.stdout)
        p = run(["diff", "readings", "--replica", replica], dsn, check_rc=1)
        check("1 extra" in p.stdout and "00000000-0000-0000-0000-000000000009" in p.stdout,
              "diff of an extra row: %s" % p.stdout)
        print(p.stdout.strip())
        print("composite keys of %d tables: pulled, applied and diffed" % len(TABLES))


main()
