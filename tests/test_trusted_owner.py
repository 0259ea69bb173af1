#!/usr/bin/env python3
"""A trusted install by a database owner who is not a superuser: nothing escalates, all works.

The owner installs the extension (trusted), tracks a table, and plants traps that try
`ALTER ROLE <owner> SUPERUSER` (and swallow the failure) everywhere the extension could run her
code: ENABLE ALWAYS row and statement triggers for every event, a column default, a CHECK
constraint and an index expression. Then, as the owner, every path the extension has: the
escalation of the 1.1 event triggers exactly (drop delta_sync_stamp, versions from the future,
an ENABLE ALWAYS trigger, delta_sync_stamp again), track, writes, TRUNCATE, ALTER TABLE, ALTER
TYPE, purge (also by a superuser), untrack, DROP, pg_dump and pg_restore of her database into a
new one (with versions from the future, so the restore's restamp runs). After each step the role
must not be a superuser, and each feature must have done its work. Last, an install of 1.1 is
updated by the owner, which must leave no SECURITY DEFINER function behind.
"""
import json
import os
import sys

import psycopg2

sys.dont_write_bytecode = True  # no tests/__pycache__ from importing pgcluster

import pgcluster
from pgcluster import fail

PORT = 5478
OWNER = "delta_sync_db_owner"
DB = "delta_sync_owned"
COPY = "delta_sync_owned_copy"

TRAPS = f"""
CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN EXECUTE 'ALTER ROLE {OWNER} SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN CASE WHEN TG_LEVEL = 'ROW' THEN coalesce(NEW, OLD) END;
END $$;
CREATE FUNCTION trap_value() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    BEGIN EXECUTE 'ALTER ROLE {OWNER} SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN 1;
END $$;
CREATE FUNCTION trap_immutable(integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    BEGIN EXECUTE 'ALTER ROLE {OWNER} SUPERUSER'; EXCEPTION WHEN OTHERS THEN NULL; END;
    RETURN $1;
END $$;
"""


def trap_table(name):
    return f"""
CREATE TABLE {name} (id integer PRIMARY KEY, v text, s mood,
                     d integer DEFAULT trap_value() CHECK (trap_immutable(d) IS NOT NULL));
CREATE INDEX ON {name} (trap_immutable(d));
CREATE TRIGGER aa_trap_row BEFORE INSERT OR UPDATE OR DELETE ON {name}
    FOR EACH ROW EXECUTE FUNCTION trap();
CREATE TRIGGER aa_trap_statement AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {name}
    FOR EACH STATEMENT EXECUTE FUNCTION trap();
CREATE TRIGGER aa_trap_truncate BEFORE TRUNCATE ON {name}
    FOR EACH STATEMENT EXECUTE FUNCTION trap();
ALTER TABLE {name} ENABLE ALWAYS TRIGGER aa_trap_row, ENABLE ALWAYS TRIGGER aa_trap_statement,
                   ENABLE ALWAYS TRIGGER aa_trap_truncate;
"""


class Owner:
    def __init__(self, cluster, dbname):
        self.conn = psycopg2.connect(host=cluster.sock, port=cluster.port, user=OWNER, dbname=dbname)
        self.conn.autocommit = True

    def run(self, sql, args=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None

    def value(self, sql, args=None):
        return self.run(sql, args)[0][0]

    def doc(self, table, since=None):
        return json.loads(self.value("SELECT d::text FROM delta_since(%s, %s) d", (table, since)))


def check_not_superuser(cluster, step):
    if cluster.value("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (OWNER,)):
        fail(f"{step}: {OWNER} became a superuser")
    print(f"ok: {step}: not a superuser")


def owner_tool(cluster, tool, *args):
    """A client program run as the database owner."""
    return pgcluster._run(pgcluster._as_owner([os.path.join(pgcluster.PGBIN, tool), "-h", cluster.sock,
                                               "-p", str(cluster.port), "-U", OWNER, *args]))


def main():
    cluster = pgcluster.start_primary("trusted_owner", PORT)
    try:
        cluster.query(f"CREATE ROLE {OWNER} LOGIN")
        cluster.query(f"CREATE DATABASE {DB} OWNER {OWNER}")
        o = Owner(cluster, DB)
        o.run("CREATE EXTENSION delta_sync")

        # The escalation of the 1.1 event triggers, step by step as it was reported.
        o.run("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        o.run("INSERT INTO t VALUES (1, 'a')")
        o.run("SELECT delta_sync.track('t')")
        o.run("DROP TRIGGER delta_sync_stamp ON t")
        o.run("UPDATE t SET delta_sync_changed_xid = (pg_current_xact_id()::text::bigint + 1000000)::text::xid8")
        o.run(f"""CREATE FUNCTION escalate() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN EXECUTE 'ALTER ROLE {OWNER} SUPERUSER'; RETURN NEW; END $$""")
        o.run("CREATE TRIGGER escalate BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION escalate()")
        o.run("ALTER TABLE t ENABLE ALWAYS TRIGGER escalate")
        try:
            o.run("""CREATE TRIGGER delta_sync_stamp BEFORE INSERT OR UPDATE ON t
                     FOR EACH ROW EXECUTE FUNCTION delta_sync._stamp()""")
            print("note: re-creating delta_sync_stamp succeeded")
        except psycopg2.Error as e:
            print(f"ok: re-creating delta_sync_stamp under the trap failed: {e.pgcode} {e.pgerror.strip().splitlines()[0]}")
        check_not_superuser(cluster, "restamp of the reported escalation")
        definers = o.value("""SELECT count(*) FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid
                              JOIN pg_extension e ON e.oid = d.refobjid
                              WHERE e.extname = 'delta_sync' AND p.prosecdef""")
        if definers:
            fail(f"{definers} SECURITY DEFINER functions in the extension")
        o.run("DROP TABLE t")

        # Every path, with traps everywhere the owner's code can sit.
        o.run("CREATE TYPE mood AS ENUM ('sad', 'ok')")
        o.run(TRAPS)
        o.run(trap_table("pets"))
        o.run("INSERT INTO pets (id, v, s) SELECT g, 'v' || g, 'ok' FROM generate_series(1, 6) g")
        o.run("SELECT delta_sync.track('pets')")
        check_not_superuser(cluster, "track")
        first = o.doc("pets")
        if len(first["created"]) != 6:
            fail(f"track: full sync has {len(first['created'])} rows, not 6")
        o.run("INSERT INTO pets (id, v, s) VALUES (7, 'seven', 'sad')")
        o.run("UPDATE pets SET v = 'one' WHERE id = 1")
        o.run("DELETE FROM pets WHERE id = 2")
        check_not_superuser(cluster, "insert, update, soft delete")
        d = o.doc("pets", first["serverVersion"])
        if d["fullResyncRequired"] or {r["id"] for r in d["created"]} != {7} or [str(k) for k in d["deleted"]] != ["2"]:
            fail(f"writes: unexpected delta {d}")

        before = o.doc("pets")["serverVersion"]
        o.run("ALTER TABLE pets ADD COLUMN color text DEFAULT 'black'")
        check_not_superuser(cluster, "ALTER TABLE")
        if not o.doc("pets", before)["fullResyncRequired"]:
            fail("ALTER TABLE: a cursor from before it does not resync")
        before = o.doc("pets")["serverVersion"]
        o.run("ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'")
        check_not_superuser(cluster, "ALTER TYPE")
        if not o.doc("pets", before)["fullResyncRequired"]:
            fail("ALTER TYPE: a cursor from before it does not resync")

        o.run("UPDATE pets SET deleted_at = now() - interval '40 days' WHERE id = 2")
        purged = o.value("SELECT delta_sync.purge('pets')")
        check_not_superuser(cluster, "purge by the owner")
        if purged != 1 or o.value("SELECT count(*) FROM pets WHERE id = 2") != 0:
            fail(f"purge by the owner: removed {purged}")
        o.run("DELETE FROM pets WHERE id = 3")
        purged = cluster.value("SELECT delta_sync.purge('pets', '0 seconds')", dbname=DB)
        check_not_superuser(cluster, "purge by a superuser")
        if purged != 1:
            fail(f"purge by a superuser: removed {purged}")

        # Dump and restore as the owner, with versions from the future in the restored data.
        dump = os.path.join(os.path.dirname(cluster.data), "owned.dump")
        owner_tool(cluster, "pg_dump", "-d", DB, "-Fc", "-f", dump)
        print("ok: pg_dump as the database owner")
        cluster.query(f"CREATE DATABASE {COPY} OWNER {OWNER}")
        owner_tool(cluster, "pg_restore", "-d", COPY, "--exit-on-error", "--section=pre-data",
                   "--section=data", dump)
        c = Owner(cluster, COPY)
        future = c.value("SELECT pg_current_xact_id()::text::bigint + 1000000")
        c.run("ALTER TABLE pets DISABLE TRIGGER USER")
        c.run("UPDATE pets SET delta_sync_changed_xid = %s::text::xid8 WHERE id = 1", (str(future),))
        c.run("ALTER TABLE pets ENABLE TRIGGER USER")
        owner_tool(cluster, "pg_restore", "-d", COPY, "--exit-on-error", "--section=post-data", dump)
        check_not_superuser(cluster, "pg_restore as the database owner")
        if c.value("SELECT count(*) FROM delta_sync.tracked WHERE relid = 'pets'::regclass") != 1:
            fail("restore: pets is not registered in the copy")
        if c.value("SELECT max(delta_sync_changed_xid::text::bigint) FROM pets") >= future:
            fail("restore: versions from the future were not restamped")
        after_restore = c.doc("pets")["serverVersion"]
        c.run("INSERT INTO pets (id, v, s) VALUES (50, 'new', 'sad')")
        d = c.doc("pets", after_restore)
        if d["fullResyncRequired"] or [r["id"] for r in d["created"]] != [50]:
            fail(f"restore: the copy's triggers do not work: {d}")
        print("ok: restored copy tracked, restamped, versioning")
        c.conn.close()

        before = o.doc("pets")["serverVersion"]
        o.run("TRUNCATE pets")
        check_not_superuser(cluster, "TRUNCATE")
        if not o.doc("pets", before)["fullResyncRequired"]:
            fail("TRUNCATE: a cursor from before it does not resync")
        o.run("SELECT delta_sync.untrack('pets')")
        check_not_superuser(cluster, "untrack")
        if o.value("SELECT count(*) FROM delta_sync.tracked") != 0:
            fail("untrack: the registry row stayed")
        o.run("SELECT delta_sync.track('pets')")
        relid = o.value("SELECT 'pets'::regclass::oid")
        o.run("DROP TABLE pets")
        check_not_superuser(cluster, "DROP TABLE")
        if o.value("SELECT count(*) FROM delta_sync.tracked WHERE relid::oid = %s", (relid,)) != 0:
            fail("DROP TABLE: the registry row stayed")
        o.conn.close()

        # An owner who installed 1.1 closes the hole herself with ALTER EXTENSION UPDATE.
        cluster.query(f"CREATE DATABASE {DB}_upgraded OWNER {OWNER}")
        u = Owner(cluster, f"{DB}_upgraded")
        u.run("CREATE EXTENSION delta_sync VERSION '1.1'")
        u.run("ALTER EXTENSION delta_sync UPDATE")
        definers = u.value("""SELECT count(*) FROM pg_proc
                              WHERE pronamespace = 'delta_sync'::regnamespace AND prosecdef""")
        if definers:
            fail(f"after ALTER EXTENSION UPDATE by the owner: {definers} SECURITY DEFINER functions")
        u.conn.close()
        print("ok: ALTER EXTENSION UPDATE from 1.1 by the database owner leaves no SECURITY DEFINER")
        print("ok: every path as a non-superuser database owner of a trusted install")
    finally:
        pgcluster.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
