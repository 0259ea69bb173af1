"""delta-sync pull TABLE --where EXPR --columns A,B: the replica holds the shape's rows and columns
only, rows moving out of the shape leave it (and a key it never had is a no-op), the shape is
recorded in _delta_sync_state and `diff` compares with it, another shape (or none) rebuilds the
table, a filter the server refuses is refused before any file is written, and a shape of a
composite-key table keeps every key column. Everything is compared with the server's rows
independently of the client."""
import decimal
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import (INTERNAL, check, create_products, database, require_server, run,  # noqa: E402
                       same_value, scratch_dir, sql)

require_server()
work = scratch_dir("shapes")
replica = os.path.join(work, "replica.db")


def shape_rows(conn, where, columns=None):
    out = {}
    for (text,) in sql(conn, "SELECT to_json(t)::text FROM products t WHERE deleted_at IS NULL AND (%s)"
                       % where):
        record = json.loads(text, parse_float=decimal.Decimal)
        for name in INTERNAL:
            record.pop(name, None)
        if columns is not None:
            record = {k: v for k, v in record.items() if k == "id" or k in columns}
        out[record["id"]] = record
    return out


def replica_rows(path):
    db = sqlite3.connect(path)
    try:
        cur = db.execute("SELECT * FROM products")
        names = [d[0] for d in cur.description]
        return names, {row[0]: dict(zip(names, row)) for row in cur}
    finally:
        db.close()


def assert_shape(conn, where, columns=None):
    want = shape_rows(conn, where, columns)
    names, have = replica_rows(replica)
    if columns is not None:
        server_names = [n for n in names if not n.endswith(":real")]  # numeric's companion column
        check(server_names == ["id"] + [c for c in ["name", "price", "stock", "tags", "attrs"] if c in columns],
              "replica columns %s for the shape's %s" % (names, columns))
    check(set(want) == set(have), "rows: missing %s, extra %s"
          % (sorted(set(want) - set(have))[:5], sorted(set(have) - set(want))[:5]))
    for k, record in want.items():
        for name, value in record.items():
            if name == "attrs" or name == "tags":
                continue  # JSON text; compared by diff below
            check(same_value(value, have[k][name]), "id %s: %s is %r, server %r" % (k, name, have[k][name], value))
    return len(want)


def stored_shape():
    db = sqlite3.connect(replica)
    try:
        return db.execute("SELECT shape FROM _delta_sync_state WHERE table_name = 'products'").fetchone()[0]
    finally:
        db.close()


with database("shapes") as (dsn, conn):
    create_products(conn, 1000)
    where = "stock < 10 AND name LIKE 'product %'"

    # A refused filter: one line, exit 2, no file.
    bad = os.path.join(work, "bad.db")
    p = run(["pull", "products", "--replica", bad, "--where", "now() > '2000-01-01'"], dsn, check_rc=2)
    check("may only call immutable functions" in p.stderr and not os.path.exists(bad), p.stderr)
    p = run(["pull", "products", "--replica", bad, "--where", "stock < 10; DROP TABLE products"], dsn,
            check_rc=2)
    check("syntax error" in p.stderr and not os.path.exists(bad), p.stderr)
    p = run(["pull", "products", "--replica", bad, "--columns", "nope"], dsn, check_rc=2)
    check("nope" in p.stderr and not os.path.exists(bad), p.stderr)
    p = run(["pull", "products", "other", "--replica", bad, "--where", "true"], dsn, check_rc=2)
    check("one table" in p.stderr, p.stderr)

    # The shape: 200 rows (stock 0..9 of 50), three columns and the key.
    p = run(["pull", "products", "--replica", replica, "--where", where, "--columns", "stock,name"], dsn)
    check(p.stdout.strip() == "products: full sync, 200 rows", p.stdout)
    check(assert_shape(conn, where, ["stock", "name"]) == 200, "200 rows in the shape")
    check(json.loads(stored_shape()) == {"columns": ["name", "stock"], "where": where}, stored_shape())
    run(["diff", "products", "--replica", replica], dsn)

    # Moves out (stock raised), moves in, a row deleted, one changed while out of the shape (its
    # key comes as deleted: a no-op), one created in the shape and one outside it.
    sql(conn, "UPDATE products SET stock = 40 WHERE id IN (1, 2, 3)")      # out
    sql(conn, "UPDATE products SET stock = 5 WHERE id IN (20, 21)")         # in
    sql(conn, "DELETE FROM products WHERE id = 4")
    sql(conn, "UPDATE products SET price = 1 WHERE id = 30")                # out, stays out
    sql(conn, "INSERT INTO products (id, name, stock) VALUES (5001, 'product new', 1), (5002, 'x', 1)")
    p = run(["pull", "products", "--replica", replica, "--where", where, "--columns", "stock,name"], dsn)
    check(p.stdout.strip() == "products: 1 created, 2 updated, 5 deleted", p.stdout)
    check(assert_shape(conn, where, ["stock", "name"]) == 199, "199 rows in the shape")
    p = run(["diff", "products", "--replica", replica], dsn)
    check("matches the server (199 rows)" in p.stdout, p.stdout)

    # The same shape with its columns in another order: a delta, no rebuild.
    sql(conn, "UPDATE products SET name = 'product renamed' WHERE id = 50")
    p = run(["pull", "products", "--replica", replica, "--where", where, "--columns", "name,stock,name"], dsn)
    check(p.stdout.strip() == "products: 0 created, 1 updated, 0 deleted", p.stdout)

    # Another filter: the table is rebuilt from a full sync of the new shape.
    where2 = "stock BETWEEN 40 AND 45"
    p = run(["pull", "products", "--replica", replica, "--where", where2, "--columns", "stock,name"], dsn)
    check("full" in p.stdout, p.stdout)
    check(assert_shape(conn, where2, ["stock", "name"]) > 0, "rows of the new shape")
    run(["diff", "products", "--replica", replica], dsn)
    # Other columns: rebuilt with those columns.
    p = run(["pull", "products", "--replica", replica, "--where", where2, "--columns", "price"], dsn)
    check("full" in p.stdout, p.stdout)
    assert_shape(conn, where2, ["price"])
    run(["diff", "products", "--replica", replica], dsn)
    # No shape: the whole table again.
    p = run(["pull", "products", "--replica", replica], dsn)
    check("full" in p.stdout and "1,001 rows" in p.stdout, p.stdout)
    check(stored_shape() is None, stored_shape())
    p = run(["diff", "products", "--replica", replica], dsn)
    check("matches the server (1,001 rows)" in p.stdout, p.stdout)

    # get --where prints the shape's documents.
    p = run(["get", "products", "--where", "id <= 3", "--columns", ""], dsn)
    check(json.loads(p.stdout)["created"] == [{"id": 1}, {"id": 2}, {"id": 3}], p.stdout)

    # A composite primary key (order_id, line_no), not in the table's column order: every key
    # column is in the shaped copy and is its SQLite key; rows that leave the shape (their key
    # string in deleted) leave the copy.
    sql(conn, "CREATE TABLE lines (line_no integer, note text, order_id text, qty integer NOT NULL, "
              "PRIMARY KEY (order_id, line_no))")
    sql(conn, "INSERT INTO lines SELECT g % 4, 'n' || g, format('o,%s \"%s\"', g / 4, g / 4), g % 13 "
              "FROM generate_series(0, 199) g")
    sql(conn, "SELECT delta_sync.track('lines')")
    lines = os.path.join(work, "lines.db")
    lines_where = "qty < 6"

    def lines_shape():
        want = {}
        for order_id, line_no, qty in sql(conn, "SELECT order_id, line_no, qty FROM lines "
                                                "WHERE deleted_at IS NULL AND (%s)" % lines_where):
            want[(order_id, line_no)] = qty
        db = sqlite3.connect(lines)
        try:
            names = [r[0] for r in db.execute("SELECT name FROM pragma_table_info('lines') ORDER BY cid")]
            key = [r[0] for r in db.execute(
                "SELECT name FROM pragma_table_info('lines') WHERE pk > 0 ORDER BY pk")]
            have = {(o, n): q for o, n, q in db.execute("SELECT order_id, line_no, qty FROM lines")}
        finally:
            db.close()
        check(names == ["line_no", "order_id", "qty"], "replica columns of the composite-key shape: %s" % names)
        check(key == ["order_id", "line_no"], "replica key of the composite-key shape: %s" % key)
        check(want == have, "composite-key shape: missing %s, extra %s, differing %s"
              % (sorted(want.keys() - have.keys())[:3], sorted(have.keys() - want.keys())[:3],
                 sorted(k for k in want.keys() & have.keys() if want[k] != have[k])[:3]))
        return len(want)

    p = run(["pull", "lines", "--replica", lines, "--where", lines_where, "--columns", "qty",
             "--page-size", "7"], dsn)
    check("full sync" in p.stdout, p.stdout)
    n = lines_shape()
    sql(conn, "UPDATE lines SET qty = 12 WHERE qty = 0")                      # out
    sql(conn, "UPDATE lines SET qty = 1 WHERE qty = 11")                      # in
    sql(conn, "UPDATE lines SET note = 'still out' WHERE qty = 9")            # out, stays out
    sql(conn, "DELETE FROM lines WHERE qty = 2")                              # deleted
    out = sql(conn, "SELECT count(*) FROM lines WHERE qty = 12")[0][0]
    p = run(["pull", "lines", "--replica", lines, "--where", lines_where, "--columns", "qty",
             "--page-size", "7"], dsn)
    check(p.stdout.strip().startswith("lines: 0 created") and "deleted" in p.stdout, p.stdout)
    check(lines_shape() < n and out > 0, "rows left the composite-key shape")
    p = run(["diff", "lines", "--replica", lines], dsn)
    check("matches the server" in p.stdout, p.stdout)

print("ok: shapes pulled, moved in and out, recorded, compared, changed and refused")
