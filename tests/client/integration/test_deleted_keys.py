"""Deleted rows leave the replica whatever the key's type: for a table keyed by each type the
replica maps (boolean, the integers, numeric of each of its three mappings, float, text, varchar,
uuid, citext, an enum, a domain, date, timestamp, timestamptz, interval, bytea, an array and a
composite), rows are pulled, some deleted (hard and soft), pulled again; the replica then holds
exactly the server's live rows and `diff` finds nothing. The server's `deleted` entries are JSON
strings ("true", "12.50", "[1,2]"): the client must turn each into exactly the value the row's
key was stored as."""
import decimal
import json
import math
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import check, database, require_server, run, scratch_dir, sql  # noqa: E402

require_server()
decimal.getcontext().prec = 200
work = scratch_dir("deleted_keys")

# (table, key type, keys to insert as SQL literals, keys to delete (indexes into the list)).
CASES = [
    ("k_bool", "boolean", ["true", "false"], [0]),
    ("k_bool2", "boolean", ["true", "false"], [1]),
    ("k_int2", "smallint", ["-32768", "0", "32767"], [0, 2]),
    ("k_int4", "integer", ["-2147483648", "7", "2147483647"], [0, 2]),
    ("k_int8", "bigint", ["-9223372036854775808", "9007199254740993", "5"], [0, 1]),
    ("k_oid", "oid", ["4294967295", "1"], [0]),
    ("k_num_int", "numeric(18,0)", ["999999999999999999", "-3", "0"], [0, 1]),
    ("k_num_real", "numeric(10,2)", ["12.50", "-0.01", "99999999.99", "0"], [0, 1, 2]),
    ("k_num_wide", "numeric", ["12.50", "12345678901234567890.123456789", "1e-30", "'NaN'", "7"],
     [0, 1, 2, 3]),
    ("k_num_wide2", "numeric(40,20)", ["1.5", "-0.00000000000000000001", "3"], [0, 1]),
    ("k_float8", "double precision", ["1.5", "0.30000000000000004", "-1e300", "'Infinity'", "2"],
     [0, 1, 2, 3]),
    ("k_float4", "real", ["1.5", "'0.1'::real", "3"], [0, 1]),
    ("k_text", "text", ["'a'", "'true'", "'12.50'", "'[1,2]'", "'with \"quotes\" and \\\\'", "'z'"],
     [0, 1, 2, 3, 4]),
    ("k_varchar", "varchar(20)", ["'x y'", "'12'", "'q'"], [0, 1]),
    ("k_uuid", "uuid", ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'00000000-0000-0000-0000-000000000000'"],
     [0]),
    ("k_citext", "citext", ["'MiXed'", "'other'"], [0]),
    ("k_enum", "mood", ["'happy'", "'sad'"], [1]),
    ("k_domain", "positive", ["1", "42", "7"], [0, 1]),
    ("k_text_domain", "short_text", ["'1'", "'abc'", "'k'"], [0, 1]),
    ("k_date", "date", ["'2024-02-29'", "'0044-03-15 BC'", "'infinity'", "'2000-01-01'"], [0, 1, 2]),
    ("k_ts", "timestamp", ["'2024-01-02 03:04:05.123456'", "'1999-12-31 23:59:59'", "'2000-01-01'"],
     [0, 1]),
    ("k_tstz", "timestamptz", ["'2024-06-01 00:00:00+05:30'", "'2000-02-29 12:00:00-08'", "'2001-01-01Z'"],
     [0, 1]),
    ("k_interval", "interval", ["'1 year 2 mons'", "'-1 days -00:00:01'", "'1 day'"], [0, 1]),
    ("k_bytea", "bytea", ["'\\x00ff10'", "'\\x'", "'\\xdeadbeef'", "'\\x01'"], [0, 1, 2]),
    ("k_int_array", "integer[]", ["'{1,2}'", "'{}'", "'{3,NULL}'", "'{9}'"], [0, 1, 2]),
    ("k_text_array", "text[]", ["'{a,\"b c\"}'", "'{\"\"}'", "'{z}'"], [0, 1]),
    ("k_jsonb", "jsonb", ["'\"a\"'", "'{\"x\": 1, \"y\": [true, null]}'", "'[1, 2]'", "'12.5'",
                          "'\"tab\\there\"'", "'\"z\"'"], [0, 1, 2, 3, 4]),
    ("k_composite", "pair", ["ROW(1, 'x')::pair", "ROW(2, 'y \"q\"')::pair", "ROW(3, NULL)::pair"],
     [0, 1]),
]


def normal(value):
    """A key as comparable text: numbers by their decimal value, booleans as 1/0."""
    if isinstance(value, bytes):
        return "\\x" + value.hex()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    try:
        return str(decimal.Decimal(str(value)).normalize())
    except decimal.InvalidOperation:
        return value


def compare(conn, replica, table, key_type):
    """The replica's keys are the server's live keys (values are diff's business)."""
    texts = [r[0] for r in sql(conn, "SELECT to_json(k)::text FROM %s WHERE deleted_at IS NULL" % table)]
    db = sqlite3.connect(replica)
    try:
        local = [r[0] for r in db.execute('SELECT k FROM "%s"' % table)]
    finally:
        db.close()
    # Arrays, composites and jsonb are stored as their JSON text.
    if key_type.endswith("[]") or key_type in ("pair", "jsonb"):
        want = sorted(json.dumps(json.loads(k)) for k in texts)
        have = sorted(json.dumps(json.loads(k)) for k in local)
    else:
        want = sorted(normal(json.loads(k, parse_float=decimal.Decimal)) for k in texts)
        have = sorted(normal(k) for k in local)
    assert [repr(k) for k in want] == [repr(k) for k in have], "server keys %r, replica keys %r" % (want, have)


def main():
    with database("deleted_keys") as (dsn, conn):
        sql(conn, "CREATE EXTENSION IF NOT EXISTS citext")
        sql(conn, "CREATE TYPE mood AS ENUM ('sad', 'happy')")
        sql(conn, "CREATE DOMAIN positive AS integer CHECK (VALUE > 0)")
        sql(conn, "CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 10)")
        sql(conn, "CREATE TYPE pair AS (a int, b text)")
        for table, key_type, keys, _ in CASES:
            sql(conn, "CREATE TABLE %s (k %s PRIMARY KEY, n int)" % (table, key_type))
            sql(conn, "INSERT INTO %s VALUES %s" % (
                table, ", ".join("(%s, %d)" % (k, i) for i, k in enumerate(keys))))
            sql(conn, "SELECT delta_sync.track(%s)", (table,))

        failures = []
        for table, key_type, keys, deleted in CASES:
            replica = os.path.join(work, table + ".db")
            run(["pull", table, "--replica", replica], dsn)
            compare(conn, replica, table, key_type)
            for n, i in enumerate(deleted):
                if n % 2 == 0:
                    sql(conn, "DELETE FROM %s WHERE k = %s" % (table, keys[i]))
                else:  # a soft delete
                    sql(conn, "UPDATE %s SET deleted_at = now() WHERE k = %s" % (table, keys[i]))
            p = run(["pull", table, "--replica", replica], dsn)
            want = "%s: 0 created, 0 updated, %d deleted" % (table, len(deleted))
            if p.stdout.strip() != want:
                failures.append("%s (%s): pull said %r, expected %r" % (table, key_type, p.stdout.strip(), want))
            db = sqlite3.connect(replica)
            left = db.execute('SELECT count(*) FROM "%s"' % table).fetchone()[0]
            db.close()
            if left != len(keys) - len(deleted):
                failures.append("%s (%s): the replica has %d rows, the server %d"
                                % (table, key_type, left, len(keys) - len(deleted)))
                continue
            try:
                compare(conn, replica, table, key_type)
            except AssertionError as e:
                failures.append("%s (%s): %s" % (table, key_type, e))
            p = run(["diff", table, "--replica", replica], dsn, check_rc=None)
            if p.returncode != 0:
                failures.append("%s (%s): diff exited %d: %s %s"
                                % (table, key_type, p.returncode, p.stdout.strip(), p.stderr.strip()))
        check(not failures, "\n".join(failures))
        print("deleted keys of %d key types leave the replica" % len(CASES))


main()
