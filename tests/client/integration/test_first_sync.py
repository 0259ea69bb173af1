"""First sync of 200,000 rows, then deltas (updates, deletes, soft deletes, undeletes, inserts,
a new column), values of every kind, full resyncs, several tables at once, and diff catching a
tampered replica. Everything is compared with the server's rows independently of the client."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import (assert_replica_equals, check, create_products, cursor_of, database,  # noqa: E402
                       require_server, run, scratch_dir, sql)

require_server()
work = scratch_dir("first_sync")
replica = os.path.join(work, "replica.db")

with database("first_sync") as (dsn, conn):
    create_products(conn, 200000, max_changes=100000)

    # First sync, paged; not a terminal, so nothing on stderr.
    p = run(["pull", "products", "--replica", replica, "--page-size", "5000"], dsn)
    check(p.stdout.strip() == "products: full sync, 200,000 rows", p.stdout)
    check(p.stderr == "", "stderr must stay quiet off a terminal: %r" % p.stderr)
    check(assert_replica_equals(conn, replica) == 200000, "row count")
    p = run(["diff", "products", "--replica", replica], dsn)
    check("matches the server (200,000 rows)" in p.stdout, p.stdout)
    db = sqlite3.connect(replica)
    kinds = db.execute("SELECT typeof(id), typeof(name), typeof(price), typeof(stock), typeof(tags), "
                       "typeof(attrs), typeof(deleted_at) FROM products WHERE id = 7").fetchone()
    # price is an unconstrained numeric: its exact digits, as TEXT (README: type mapping).
    check(kinds == ("integer", "text", "text", "integer", "text", "text", "null"), kinds)
    check(db.execute("PRAGMA journal_mode").fetchone()[0] == "wal", "WAL mode")
    # A new replica file has 16 KiB pages (fewer frames and writes in a first sync).
    check(db.execute("PRAGMA page_size").fetchone()[0] == 16384, "page size")
    db.close()
    first_cursor = cursor_of(replica)

    # A delta of every kind of change.
    sql(conn, "UPDATE products SET price = price + 1, tags = tags || 'sale'::text WHERE id % 200 = 0")
    sql(conn, "DELETE FROM products WHERE id BETWEEN 1000 AND 1499")
    sql(conn, "UPDATE products SET deleted_at = now() WHERE id BETWEEN 2000 AND 2009")  # soft delete
    sql(conn, "UPDATE products SET deleted_at = NULL WHERE id BETWEEN 1000 AND 1004")   # undelete
    sql(conn, "INSERT INTO products (id, name, price) SELECT g, 'new ' || g, 0.1 FROM generate_series(300001, 300300) g")
    sql(conn, "INSERT INTO products (id, name) VALUES (300500, 'created then deleted')")
    sql(conn, "DELETE FROM products WHERE id = 300500")
    p = run(["pull", "products", "--replica", replica], dsn)
    check(p.stdout.strip() == "products: 300 created, 1,001 updated, 505 deleted", p.stdout)
    check(cursor_of(replica) != first_cursor, "the cursor moves")
    assert_replica_equals(conn, replica)
    run(["diff", "products", "--replica", replica], dsn)

    # A new column: the rebuilt table has it (the extension, 1.1, would also make ALTER TABLE
    # resync, but the client reads the table's columns first, on the same snapshot).
    sql(conn, "ALTER TABLE products ADD COLUMN note text DEFAULT 'none'")
    sql(conn, "UPDATE products SET note = 'first with a note' WHERE id IN (3, 4)")
    p = run(["pull", "products", "--replica", replica], dsn)
    # The client sees the new column before the server's answer (one snapshot for both).
    check(p.stdout.strip() == "products: full resync (the table's columns changed), 199,795 rows", p.stdout)
    assert_replica_equals(conn, replica)

    # Nothing changed: nothing applied, and still equal.
    p = run(["pull", "products", "--replica", replica], dsn)
    check(p.stdout.strip() == "products: 0 created, 0 updated, 0 deleted", p.stdout)

    # A tampered replica: diff says so, with exit 1 and one summary line.
    db = sqlite3.connect(replica)
    db.execute("UPDATE products SET stock = -1 WHERE id = 5")
    db.execute("DELETE FROM products WHERE id = 6")
    db.execute("INSERT INTO products (id, name) VALUES (-42, 'ghost')")
    db.commit()
    db.close()
    p = run(["diff", "products", "--replica", replica], dsn, check_rc=1)
    check("1 missing, 1 extra, 1 different" in p.stdout, p.stdout)
    check("stock is -1 in the replica, 5 on the server" in p.stdout, p.stdout)
    check(len(p.stdout.strip().splitlines()) == 1, p.stdout)

    # fullResyncRequired (TRUNCATE raises the horizon): rebuilt, tampering gone.
    sql(conn, "TRUNCATE products")
    add_rows = "INSERT INTO products (id, name, price) SELECT g, 'again ' || g, g FROM generate_series(1, 50) g"
    sql(conn, add_rows)
    p = run(["pull", "products", "--replica", replica], dsn)
    check(p.stdout.strip() == "products: full resync (the server required it), 50 rows", p.stdout)
    assert_replica_equals(conn, replica)
    run(["diff", "products", "--replica", replica], dsn)

    # More changes than max_changes: resync too.
    sql(conn, "SELECT delta_sync.track('products', max_changes => 5)")
    sql(conn, "UPDATE products SET name = 'renamed' WHERE id <= 10")
    p = run(["pull", "products", "--replica", replica], dsn)
    check("full resync" in p.stdout, p.stdout)
    assert_replica_equals(conn, replica)

    # Values of every kind, a text key, a schema other than public, two tables in one pull.
    sql(conn, "CREATE SCHEMA shop")
    sql(conn, """CREATE TABLE shop.oddities (code text PRIMARY KEY, n numeric, f float8, r real,
                 b boolean, i2 smallint, j json, jb jsonb, t text, ts timestamptz, u uuid,
                 arr int[], nested text[][])""")
    sql(conn, """INSERT INTO shop.oddities VALUES
        ('a', 12345678901234567890.123456789, 0.1, 1.5, true, -3, '{"x" : [1, 2.50]}',
         '{"k": {"deep": [null, true]}}', E'quote " backslash \\\\ newline \\n tab \\t caf\u00e9',
         '2024-02-29 12:00:00+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}',
         '{{a,b},{c,d}}'),
        ('b"2', -0.000001, 1e300, 'NaN', false, 0, 'null', '[]', '', NULL, NULL, '{}', NULL),
        ('c', 99999999999999999999, 'Infinity', -1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)""")
    sql(conn, "SELECT delta_sync.track('shop.oddities')")
    p = run(["pull", "products", "shop.oddities", "--replica", replica], dsn)
    check("shop.oddities: full sync, 3 rows" in p.stdout, p.stdout)
    assert_replica_equals(conn, replica, "shop.oddities", "code", "shop.oddities")
    run(["diff", "shop.oddities", "--replica", replica], dsn)
    db = sqlite3.connect(replica)
    big = db.execute('SELECT n, typeof(n), j FROM "shop.oddities" WHERE code = \'a\'').fetchone()
    check(big == ("12345678901234567890.123456789", "text", '{"x" : [1, 2.50]}'), big)
    db.close()
    sql(conn, "DELETE FROM shop.oddities WHERE code = 'b\"2'")
    sql(conn, "UPDATE shop.oddities SET f = 2.5 WHERE code = 'c'")
    p = run(["pull", "shop.oddities", "--replica", replica], dsn)
    check(p.stdout.strip() == "shop.oddities: 0 created, 1 updated, 1 deleted", p.stdout)
    assert_replica_equals(conn, replica, "shop.oddities", "code", "shop.oddities")

    # JSON null and SQL NULL on every page of a pull of many pages: each page's look-up of which
    # is which runs on the pull's connection while the next page is fetched ahead on it.
    sql(conn, "CREATE TABLE jnulls (id int PRIMARY KEY, j jsonb, k json)")
    sql(conn, """INSERT INTO jnulls SELECT g,
                   CASE g % 3 WHEN 0 THEN 'null' WHEN 1 THEN NULL ELSE jsonb_build_object('g', g) END,
                   CASE g % 4 WHEN 0 THEN NULL WHEN 1 THEN 'null' ELSE to_json(g) END
                 FROM generate_series(1, 2000) g""")
    sql(conn, "SELECT delta_sync.track('jnulls')")
    want = sql(conn, "SELECT id, j::text, k::text FROM jnulls ORDER BY id")

    def jnulls_replica():
        db = sqlite3.connect(replica)
        try:
            return db.execute("SELECT id, j, k FROM jnulls ORDER BY id").fetchall()
        finally:
            db.close()
    p = run(["pull", "jnulls", "--replica", replica, "--page-size", "7"], dsn)
    check(p.stdout.strip() == "jnulls: full sync, 2,000 rows", p.stdout)
    check(jnulls_replica() == want, "JSON nulls and SQL NULLs of a first sync in pages")
    sql(conn, "UPDATE jnulls SET j = CASE WHEN j IS NULL THEN 'null' WHEN j = 'null' THEN NULL "
              "ELSE j END, k = NULL WHERE id % 5 = 0")
    want = sql(conn, "SELECT id, j::text, k::text FROM jnulls ORDER BY id")
    run(["pull", "jnulls", "--replica", replica, "--page-size", "7"], dsn)
    check(jnulls_replica() == want, "JSON nulls and SQL NULLs of a delta in pages")

print("ok")
