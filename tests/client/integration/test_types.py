"""Values round-trip exactly whatever the client's session says: every type family of the
extension's record tests, pulled under three time zones and every IntervalStyle (plus
extra_float_digits=0 and DateStyle=German through PGOPTIONS), then read back with Python's sqlite3
and compared with the server's own rendering (to_json in a UTC session) and the server's values;
ORDER BY and comparisons on numeric and float columns give the server's order; diff agrees, and
catches a replica value that differs from the server's rendering even where a lossy mapping
would not."""
import decimal
import json
import math
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import check, database, require_server, run, scratch_dir, sql  # noqa: E402

require_server()
work = scratch_dir("types")
replica = os.path.join(work, "replica.db")

COLUMNS = ["i8", "n40", "nu", "n12", "n9", "f8", "f4", "j", "jb", "b", "ts", "iv", "bo", "t"]

SESSIONS = [  # (PGTZ, PGOPTIONS): what a user's environment might say
    ("Asia/Tokyo", "-c IntervalStyle=iso_8601 -c extra_float_digits=0 -c DateStyle=German"),
    ("America/New_York", "-c IntervalStyle=sql_standard -c extra_float_digits=-15 -c bytea_output=escape"),
    ("Pacific/Chatham", "-c IntervalStyle=postgres_verbose -c DateStyle=SQL,DMY"),
    ("UTC", "-c IntervalStyle=postgres"),
]


def rows_batch(conn, first):
    """Eight rows per batch, ids first..first+7, covering each family's edge values."""
    sql(conn, """INSERT INTO types (id, i8, n40, nu, n12, n9, f8, f4, j, jb, b, ts, iv, bo, t) VALUES
      (%(a)s, 9007199254740993, 12345678901234567890.12345678901234567890, 'NaN', 1.5, 7,
       1.0, 1.5, '"just a string"', '"{}"', '\\x00ff10', '2024-01-02 03:04:05.123456+00',
       '1 year 2 mons 3 days 04:05:06.7', true, 'plain'),
      (%(b)s, -9223372036854775808, -0.00000000000000000001, 'Infinity', -99999999.9999, -3,
       '-0', 'NaN', 'null', '{}', '\\x', '2000-02-29 12:00:00-08', '-1 days -00:00:01', false, ''),
      (%(c)s, 9223372036854775807, 1.99999999999999999999, '-Infinity', 0, 999999999,
       0.30000000000000004, '-Infinity', NULL, 'null', NULL, 'infinity', 'P1DT2H', NULL, NULL),
      (%(d)s, 9007199254740992, 2.00000000000000000000, 10 ^ 30 + 0.5, 2, 0,
       'NaN', 3.4e38, '{"a" : [1, 2 ]}', '"just a string"', '\\xdeadbeef', '1999-12-31 23:59:59.999999+00',
       '178000000 years', true, 'x'),
      (%(e)s, 0, 10.5, 1e-300, 1.9999, 2, 'Infinity', 1e-38, '[1, 2.50]', '{"b": 1, "a": [true, null]}',
       '\\x0a', '2024-06-01 00:00:00+05:30', '-1 years +2 mons -3 days 04:05:06', false, 'y'),
      (%(f)s, 1, -10.5, -1e300, -0.0001, 1, '-Infinity', -1.5, '1e400', '1e400', '\\x00', NULL,
       '0', true, 'z'),
      (%(g)s, -1, 0.00000000000000000001, 0.1, 0.0001, -1, 1e-300, 0.1, '12', '12', '\\x01',
       '0044-03-15 00:00:00+00 BC', '1 day', false, 'w'),
      (%(h)s, 2, 99999999999999999999.99999999999999999999, -0.000000001, 123.4567, 5,
       1.7976931348623157e308, 1, 'true', 'false', '\\xff', '2024-01-02 03:04:05+00',
       '-00:00:00.000001', true, 'v')
    """, {"a": first, "b": first + 1, "c": first + 2, "d": first + 3, "e": first + 4,
          "f": first + 5, "g": first + 6, "h": first + 7})


def server_renderings(conn):
    """id -> {column: JSON text of to_json(value) in a UTC, ISO, postgres-interval session, or None
    for SQL NULL}."""
    sql(conn, "SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; "
              "SET bytea_output = 'hex'")
    cols = ", ".join("CASE WHEN %s IS NULL THEN NULL ELSE to_json(%s)::text END" % (c, c) for c in COLUMNS)
    out = {}
    for row in sql(conn, "SELECT id, %s FROM types WHERE deleted_at IS NULL" % cols):
        out[row[0]] = dict(zip(COLUMNS, row[1:]))
    return out


def check_value(key, col, want, got, kind):
    """want: the server's JSON text (None: SQL NULL); got: what Python's sqlite3 reads; kind: typeof."""
    where = "id %s, %s: replica %r (%s), server %s" % (key, col, got, kind, want)
    if want is None:
        check(got is None, where)
        return
    if col in ("i8", "n9"):
        check(kind == "integer" and str(got) == want, where)
    elif col == "n40" or (col == "nu" and not want.startswith('"')):
        check(kind == "text" and got == want, where)  # every digit, exactly as the server has it
    elif col == "n12":
        check(kind == "real" and decimal.Decimal(repr(got)) == decimal.Decimal(want), where)
    elif col in ("nu", "f8", "f4", "n12") and want.startswith('"'):
        special = json.loads(want)
        if special == "NaN":
            check(kind == "text" and got == "NaN", where)
        elif col == "nu":
            check(kind == "text" and got == special, where)
        else:
            check(kind == "real" and got == float(special.replace("Infinity", "inf")), where)
    elif col in ("f8", "f4"):
        check(kind == "real", where)  # 1.0 stays REAL
        check(got == float(want) and math.copysign(1, got) == math.copysign(1, float(want)), where)
        check(decimal.Decimal(repr(got)) == decimal.Decimal(want), where)
    elif col in ("j", "jb"):
        check(kind == "text" and got == want, where)  # the JSON text: "a" quoted, null as 'null'
    elif col == "b":
        check(kind == "blob" and "\\x" + got.hex() == json.loads(want), where)
    elif col == "bo":
        check(kind == "integer" and got == (1 if want == "true" else 0), where)
    else:
        check(kind == "text" and got == json.loads(want), where)


def check_replica(conn):
    expected = server_renderings(conn)
    db = sqlite3.connect(replica)
    try:
        select = ", ".join("%s, typeof(%s)" % (c, c) for c in COLUMNS)
        got = {r[0]: r[1:] for r in db.execute("SELECT id, %s FROM types" % select)}
    finally:
        db.close()
    check(set(got) == set(expected), "same rows: %s vs %s" % (sorted(got), sorted(expected)))
    for key, want in expected.items():
        for i, col in enumerate(COLUMNS):
            check_value(key, col, want[col], got[key][2 * i], got[key][2 * i + 1])
    return len(expected)


def same_order(conn, server_query, replica_query):
    want = [r[0] for r in sql(conn, server_query)]
    db = sqlite3.connect(replica)
    try:
        got = [r[0] for r in db.execute(replica_query)]
    finally:
        db.close()
    check(got == want, "%s: replica %s, server %s" % (replica_query, got, want))


with database("types") as (dsn, conn):
    sql(conn, """CREATE TABLE types (id int PRIMARY KEY, i8 bigint, n40 numeric(40,20), nu numeric,
                 n12 numeric(12,4), n9 numeric(9,0), f8 float8, f4 real, j json, jb jsonb, b bytea,
                 ts timestamptz, iv interval, bo boolean, t text)""")
    sql(conn, "SELECT delta_sync.track('types')")
    first = 1
    for n, (tz, options) in enumerate(SESSIONS):
        rows_batch(conn, first)
        first += 8
        if n > 0:
            # Old rows change too, so that every pull writes values old and new.
            sql(conn, "UPDATE types SET ts = ts + interval '1 hour', iv = iv / 2, f8 = -f8 WHERE id %% 3 = %s" % (n % 3))
        env = dict(os.environ, PGTZ=tz, PGOPTIONS=options)
        run(["pull", "types", "--replica", replica], dsn, env=env)
        count = check_replica(conn)
        p = run(["diff", "types", "--replica", replica], dsn, env=env)
        check("matches the server (%d rows)" % count in p.stdout, p.stdout)

    # The other families of the extension's record tests: each value is the server's JSON
    # rendering (strings unescaped, arrays and composites as JSON text), domains take their base
    # type's class.
    sql(conn, "CREATE DOMAIN posint AS integer CHECK (VALUE > 0)")
    sql(conn, "CREATE DOMAIN money4 AS numeric(12,4)")
    sql(conn, "CREATE TYPE mood AS ENUM ('happy', 'with \"quotes\"')")
    sql(conn, "CREATE TYPE pair AS (n integer, t text)")
    others = ["c_ts", "c_date", "c_time", "c_timetz", "c_int_array", "c_text_array", "c_2d",
              "c_uuid", "c_varchar", "c_char", "c_dint", "c_dnum", "c_enum", "c_pair", "c_inet",
              "c_money", "c_point", "c_xml", "c_tsvector", "c_bit", "c_range", "c_oid"]
    sql(conn, """CREATE TABLE others (id int PRIMARY KEY, c_ts timestamp, c_date date, c_time time,
                 c_timetz timetz, c_int_array int[], c_text_array text[], c_2d int[], c_uuid uuid,
                 c_varchar varchar(20), c_char char(5), c_dint posint, c_dnum money4, c_enum mood,
                 c_pair pair, c_inet inet, c_money money, c_point point, c_xml xml, c_tsvector tsvector,
                 c_bit bit varying(8), c_range int4range, c_oid oid)""")
    sql(conn, """INSERT INTO others VALUES
        (1, '2024-01-02 03:04:05.123456', '2024-01-02', '12:34:56', '12:34:56+02', '{1,NULL,3}',
         '{"a",NULL,"b c","d\\"e"}', '{{1,2},{3,NULL}}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'abc',
         'ab', 5, 1.5, 'happy', ROW(1, 'x'), '192.168.0.1/24', 12.34, '(1.5,2)', '<a b="c">d</a>',
         'a fat cat', B'101', '[1,10)', 42),
        (2, 'infinity', '-infinity', '24:00:00', '00:00:00+00', '{}', '{NULL}', '[0:1][0:0]={{7},{8}}',
         '00000000-0000-0000-0000-000000000000', 'with "quote"', '', 2147483647, -99999999.9999,
         'with "quotes"', ROW(NULL, 'q"\\'), '::1', -0.01, '(0,0)', '<x/>', '', B'', 'empty', 0)""")
    sql(conn, "SELECT delta_sync.track('others')")
    for tz, options in SESSIONS[:3]:
        env = dict(os.environ, PGTZ=tz, PGOPTIONS=options)
        run(["pull", "others", "--replica", replica], dsn, env=env)
        sql(conn, "UPDATE others SET c_ts = c_ts + interval '1 second', c_timetz = c_timetz + interval '1 hour'")
    run(["pull", "others", "--replica", replica], dsn)
    cols = ", ".join("CASE WHEN %s IS NULL THEN NULL ELSE to_json(%s)::text END" % (c, c) for c in others)
    sql(conn, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO'; SET lc_monetary = 'C'")
    want = {r[0]: r[1:] for r in sql(conn, "SELECT id, %s FROM others" % cols)}
    db = sqlite3.connect(replica)
    got = {r[0]: r[1:] for r in db.execute("SELECT id, %s FROM others" % ", ".join(
        "%s, typeof(%s)" % (c, c) for c in others))}
    db.close()
    check(set(got) == set(want), (sorted(got), sorted(want)))
    for key in want:
        for i, col in enumerate(others):
            w, value, kind = want[key][i], got[key][2 * i], got[key][2 * i + 1]
            where = "others id %s, %s: replica %r (%s), server %s" % (key, col, value, kind, w)
            if col in ("c_dint", "c_oid"):  # (to_json renders an oid as a string)
                check(kind == "integer" and str(value) == (json.loads(w) if w.startswith('"') else w), where)
            elif col == "c_dnum":
                check(kind == "real" and decimal.Decimal(repr(value)) == decimal.Decimal(w), where)
            else:
                check(kind == "text" and value == (json.loads(w) if w.startswith('"') else w), where)
    p = run(["diff", "others", "--replica", replica], dsn)
    check("matches the server (2 rows)" in p.stdout, p.stdout)

    # The server's order, on the server's values: floats (NaN last, -0 = 0), numerics narrow
    # enough to be REAL, integers.
    for col in ("f8", "f4", "n12", "n9", "i8"):
        same_order(conn, "SELECT id FROM types ORDER BY %s NULLS FIRST, id" % col,
                   "SELECT id FROM types ORDER BY %s, id" % col)
        for bound in ("2", "-1.5", "0", "1e-300"):
            same_order(conn, "SELECT id FROM types WHERE %s < %s ORDER BY id" % (col, bound),
                       "SELECT id FROM types WHERE %s < %s ORDER BY id" % (col, bound))
            same_order(conn, "SELECT id FROM types WHERE %s >= %s ORDER BY id" % (col, bound),
                       "SELECT id FROM types WHERE %s >= %s ORDER BY id" % (col, bound))
    # Numerics too wide for a double: the column keeps every digit (checked above), and its
    # generated companion "<name>:real" orders and compares as the server does, to the precision
    # of a double (values equal in their first 15 digits may tie).
    for col in ("n40", "nu"):
        server = {i: v for i, v in sql(conn, "SELECT id, %s::text FROM types" % col)}

        def key(text):
            if text is None:
                return (0, 0)
            return (2, 0) if text == "NaN" else (1, decimal.Decimal(text))

        db = sqlite3.connect(replica)
        order = [r[0] for r in db.execute('SELECT id FROM types ORDER BY "%s:real", id' % col)]
        kinds = {r[0] for r in db.execute('SELECT typeof("%s:real") FROM types' % col)}
        db.close()
        check(kinds <= {"real", "text", "null"}, kinds)
        for a, b in zip(order, order[1:]):
            ka, kb = key(server[a]), key(server[b])
            tie = ka[0] == kb[0] == 1 and float(ka[1]) == float(kb[1])
            check(ka <= kb or tie, "%s: %s (id %d) before %s (id %d)" % (col, server[a], a, server[b], b))
        for bound in ("2.5", "-1.5", "0.5", "1e-300", "1e25"):
            same_order(conn, "SELECT id FROM types WHERE %s < %s ORDER BY id" % (col, bound),
                       'SELECT id FROM types WHERE "%s:real" < %s ORDER BY id' % (col, bound))
    # Arithmetic works on the stored class: float8 1.0 / 2 is 0.5, not 0.
    db = sqlite3.connect(replica)
    half = db.execute("SELECT f8 / 2 FROM types WHERE id = 1").fetchone()[0]
    check(abs(half) == 0.5 and half == sql(conn, "SELECT f8 / 2 FROM types WHERE id = 1")[0][0], half)
    # jsonb string and object with one text, JSON null and SQL NULL: all different.
    vals = dict(db.execute("SELECT id, jb FROM types WHERE id IN (1, 2, 3)").fetchall())
    check(vals == {1: '"{}"', 2: "{}", 3: "null"}, vals)
    vals = dict(db.execute("SELECT id, j FROM types WHERE id IN (2, 3)").fetchall())
    check(vals == {2: "null", 3: None}, vals)
    check(db.execute("SELECT json_extract(jb, '$.b') FROM types WHERE id = 5").fetchone()[0] == 1, "json1")

    # diff judges the replica by the server's rendering: a float stored as INTEGER, a lost sign,
    # a numeric rounded to a double, a bytea as text, SQL NULL for JSON null and the other way
    # round are all differences.
    for column, value, ident in (("f8", "CAST(1 AS INTEGER)", 1), ("f8", "0.0", 2),
                                 ("n40", "12345678901234567890.123456789012345678", 1),
                                 ("b", "'\\x00ff10'", 1), ("jb", "'{}'", 1),
                                 ("j", "NULL", 2), ("j", "'null'", 3)):
        db.execute("UPDATE types SET %s = %s WHERE id = %d" % (column, value, ident))
        db.commit()
        p = run(["diff", "types", "--replica", replica], dsn, check_rc=1)
        check("1 different" in p.stdout and column in p.stdout, p.stdout)
        run(["pull", "types", "--replica", replica], dsn)  # nothing changed on the server ...
        sql(conn, "TRUNCATE types")                             # ... so make it resync
        rows_batch(conn, 1)
        run(["pull", "types", "--replica", replica], dsn)
        run(["diff", "types", "--replica", replica], dsn)
    db.close()
print("ok")
