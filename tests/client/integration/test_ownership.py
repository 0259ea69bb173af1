"""What the replica owns and what it leaves alone: a file that is not a replica and a name taken by
a user's table are refused before anything is written; a replica holds one database (another is
refused, never merged) and each SQLite table one server table (names SQLite cannot tell apart are
refused); a renamed server table keeps its replica table, a re-created one is resynced, not
merged; the user's views, indexes and triggers on replica tables survive resyncs, or the resync
names the one it cannot keep and changes nothing."""
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import (assert_replica_equals, check, create_products, database,  # noqa: E402
                       replica_fingerprint, require_server, run, scratch_dir, sql)

require_server()
work = scratch_dir("ownership")


def path(name):
    return os.path.join(work, name)


def fails(args, dsn, contains):
    p = run(args, dsn, check_rc=2)
    lines = p.stderr.splitlines()
    check(len(lines) == 1 and contains.lower() in lines[0].lower(),
          "%s: expected one line saying %r, got %r" % (" ".join(args), contains, p.stderr))
    return lines[0]


def sqlite_query(db_path, query, args=()):
    db = sqlite3.connect(db_path)
    try:
        return db.execute(query, args).fetchall()
    finally:
        db.close()


def file_state(db_path):
    """Everything a refusal must leave as it was: the bytes of the file, and no WAL beside it."""
    with open(db_path, "rb") as f:
        return f.read(), os.path.exists(db_path + "-wal")


with database("ownership") as (dsn, conn), database("ownership_b") as (dsn_b, conn_b):
    create_products(conn, 20)

    # 1. A file with the user's tables and no replica metadata: refused, untouched.
    app = path("app.db")
    db = sqlite3.connect(app)
    db.execute("CREATE TABLE products (id INTEGER PRIMARY KEY, important TEXT)")
    db.execute("INSERT INTO products VALUES (1, 'keep me')")
    db.commit()
    db.close()
    before = file_state(app)
    fails(["pull", "products", "--replica", app], dsn, "is not a delta-sync replica")
    check(file_state(app) == before, "the file was not touched")
    check(sqlite_query(app, "PRAGMA journal_mode") == [("delete",)], "journal mode unchanged")
    check(sqlite_query(app, "SELECT * FROM products") == [(1, "keep me")], "the user's rows stay")

    # A replica table name taken by a user's table, view or index: refused, untouched.
    rep = path("replica.db")
    run(["pull", "products", "--replica", rep], dsn)
    sql(conn, "CREATE TABLE notes (id int PRIMARY KEY, body text)")
    sql(conn, "SELECT delta_sync.track('notes')")
    for ddl in ("CREATE TABLE NOTES (mine TEXT)", "CREATE VIEW notes AS SELECT 1 AS x",
                "CREATE INDEX notes ON products (name)"):
        db = sqlite3.connect(rep)
        db.execute(ddl)
        db.commit()
        db.close()
        before = file_state(rep)
        fails(["pull", "products", "notes", "--replica", rep], dsn, "not a copy of a server table")
        check(file_state(rep) == before, "%s: nothing written" % ddl)
        db = sqlite3.connect(rep)
        db.execute("DROP %s notes" % ddl.split()[1])
        db.commit()
        db.close()

    # 2. Another database (here on the same cluster) into the same file: refused, not merged.
    create_products(conn_b, 5)
    before = replica_fingerprint(rep)
    fails(["pull", "products", "--replica", rep], dsn_b, "refusing to mix")
    check(replica_fingerprint(rep) == before, "nothing merged")
    fails(["diff", "products", "--replica", rep], dsn_b, "refusing to mix")
    src = sqlite_query(rep, "SELECT database_name FROM _delta_sync_source")
    check(src == [(dsn.split("=")[1],)], src)

    # 3. Names SQLite cannot tell apart: "Products" vs products, s.t vs public."s.t", and
    # columns "Name" vs name.
    sql(conn, 'CREATE TABLE "Products" (id int PRIMARY KEY, x text)')
    sql(conn, "SELECT delta_sync.track('\"Products\"')")
    before = replica_fingerprint(rep)
    fails(["pull", '"Products"', "--replica", rep], dsn, "cannot tell")
    check(replica_fingerprint(rep) == before, "products untouched")
    fresh = path("fresh.db")
    fails(["pull", "products", '"Products"', "--replica", fresh], dsn, "would both be stored")
    check(not os.path.exists(fresh), "a refused pull leaves no file")

    sql(conn, "CREATE SCHEMA s")
    sql(conn, "CREATE TABLE s.t (id int PRIMARY KEY, v text)")
    sql(conn, 'CREATE TABLE public."s.t" (id int PRIMARY KEY, v text)')
    sql(conn, "INSERT INTO s.t VALUES (1, 'in s')")
    sql(conn, "INSERT INTO public.\"s.t\" VALUES (1, 'in public')")
    sql(conn, "SELECT delta_sync.track('s.t')")
    sql(conn, "SELECT delta_sync.track('public.\"s.t\"')")
    run(["pull", "s.t", "--replica", rep], dsn)
    fails(["pull", 'public."s.t"', "--replica", rep], dsn, "cannot tell")
    check(sqlite_query(rep, 'SELECT v FROM "s.t"') == [("in s",)], "s.t keeps its own rows")

    sql(conn, 'CREATE TABLE cased (id int PRIMARY KEY, "Name" text, name text)')
    sql(conn, "SELECT delta_sync.track('cased')")
    fails(["pull", "cased", "--replica", rep], dsn, 'columns "Name" and "name"')

    # A renamed server table stays in its replica table; a re-created one is resynced in full.
    sql(conn, "ALTER TABLE products RENAME TO goods")
    sql(conn, "UPDATE goods SET name = 'renamed' WHERE id = 1")
    p = run(["pull", "goods", "--replica", rep], dsn)
    check(p.stdout.startswith("products: "), p.stdout)
    check(sqlite_query(rep, "SELECT name FROM products WHERE id = 1") == [("renamed",)], "followed")
    check(sqlite_query(rep, "SELECT count(*) FROM sqlite_schema WHERE name = 'goods'") == [(0,)],
          "no second table")
    assert_replica_equals(conn, rep, "goods", replica_table="products")
    sql(conn, "ALTER TABLE goods RENAME TO products")
    run(["pull", "products", "--replica", rep], dsn)
    sql(conn, "DROP TABLE products")
    create_products(conn, 3)
    p = run(["pull", "products", "--replica", rep], dsn)
    check("full" in p.stdout, p.stdout)
    assert_replica_equals(conn, rep)

    # 6. The user's view, index and trigger over a replica table survive a resync in place ...
    db = sqlite3.connect(rep)
    db.executescript("""
        CREATE VIEW cheap AS SELECT id, name FROM products WHERE price < 1;
        CREATE INDEX products_by_name ON products (name);
        CREATE TABLE audit (n INTEGER);
        CREATE TRIGGER products_seen AFTER INSERT ON products BEGIN INSERT INTO audit VALUES (NEW.id); END;
    """)
    db.close()
    user_objects = "SELECT type, name FROM sqlite_schema WHERE name IN ('cheap', 'products_by_name', 'products_seen') ORDER BY 2"
    objects = sqlite_query(rep, user_objects)
    check(len(objects) == 3, objects)
    sql(conn, "TRUNCATE products")
    sql(conn, "INSERT INTO products (id, name, price) VALUES (7, 'seven', 0.5), (8, 'eight', 2)")
    p = run(["pull", "products", "--replica", rep], dsn)
    check("full resync" in p.stdout, p.stdout)
    check(sqlite_query(rep, user_objects) == objects, "still there")
    check(sqlite_query(rep, "SELECT id FROM cheap") == [(7,)], "the view reads the new rows")
    # ... and through a rebuild for new columns: the index and the trigger are created again.
    sql(conn, "ALTER TABLE products ADD COLUMN color text DEFAULT 'red'")
    p = run(["pull", "products", "--replica", rep], dsn)
    check("full resync" in p.stdout, p.stdout)
    check(sqlite_query(rep, user_objects) == objects, "kept through the rebuild")
    check(sqlite_query(rep, "SELECT color FROM products WHERE id = 7") == [("red",)], "new column")
    check(sqlite_query(rep, "SELECT id FROM cheap") == [(7,)], "view")
    # (the rebuilt table got its trigger after its rows: they were not "inserted" by the user's app)
    check(sqlite_query(rep, "SELECT count(*) FROM audit") == [(2,)], "trigger fired in place")
    sql(conn, "INSERT INTO products (id, name) VALUES (9, 'nine')")
    run(["pull", "products", "--replica", rep], dsn)
    check(sqlite_query(rep, "SELECT count(*) FROM audit") == [(3,)], "the trigger works again")
    assert_replica_equals(conn, rep)
    # An index on a column the server dropped cannot be kept: the resync says so, changes nothing.
    db = sqlite3.connect(rep)
    db.execute("CREATE INDEX by_color ON products (color)")
    db.commit()
    db.close()
    sql(conn, "ALTER TABLE products DROP COLUMN color")
    before = replica_fingerprint(rep)
    fails(["pull", "products", "--replica", rep], dsn, 'index "by_color"')
    check(replica_fingerprint(rep) == before, "the refused resync changed nothing")
    db = sqlite3.connect(rep)
    db.execute("DROP INDEX by_color")
    db.commit()
    db.close()
    run(["pull", "products", "--replica", rep], dsn)
    assert_replica_equals(conn, rep)
    run(["diff", "products", "--replica", rep], dsn)
print("ok")
