#!/usr/bin/python3
"""SQL-level fuzzing of delta_since's paged scans, as a role with nothing but SELECT.

Random transactions of DECLARE (plain, SCROLL, WITH HOLD), FETCH, MOVE, CLOSE, CLOSE ALL,
SAVEPOINT, ROLLBACK TO, RELEASE, COMMIT and ROLLBACK, and PL/pgSQL exception blocks that FETCH
and roll back, around delta_since calls that stop early (LIMIT, LATERAL rescans, FROM clause,
several calls in one query), fail at their start (a forged serverVersion) or in the middle of a
scan (a row whose cast to json raises), while a second session writes to the tables. After every statement and transaction it checks:
  - no error of class XX (internal error, data corruption), no WARNING (a leaked resource), and
    the connection still alive;
  - the server did not restart (pg_postmaster_start_time, our backend pid);
  - pg_cursors lists only the cursors the fuzzer declared (no internal portal of delta_since);
  - at the end of each transaction only WITH HOLD cursors are left, and none after CLOSE ALL;
  - every fetched document is JSON with the five keys of a DeltaResponse.

Usage: fuzz_sql.py SECONDS [SEED]   (PG* variables name a running cluster, as for psql)
Prints the number of transactions (sequences) run; exits non-zero on the first problem found.
"""
import json
import os
import random
import sys
import time

import psycopg2

DB = "ds_fuzz_sql"
ROLE = "ds_fuzz_reader"
KEYS = ["created", "updated", "deleted", "serverVersion", "fullResyncRequired"]


class Found(Exception):
    pass


def admin_connect(dbname):
    c = psycopg2.connect(dbname=dbname, user=os.environ.get("PGUSER", "postgres"))
    c.autocommit = True
    return c


def setup():
    a = admin_connect(os.environ.get("PGDATABASE", "postgres"))
    cur = a.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute(f"DROP ROLE IF EXISTS {ROLE}")
    cur.execute(f"CREATE ROLE {ROLE} LOGIN")
    cur.execute(f"CREATE DATABASE {DB}")
    a.close()
    a = admin_connect(DB)
    cur = a.cursor()
    cur.execute("CREATE EXTENSION delta_sync")
    cur.execute("CREATE TABLE ft (id int PRIMARY KEY, v text, n numeric)")
    cur.execute("CREATE TABLE fk (k text PRIMARY KEY, d date)")
    # A column whose to_json raises for one row: delta_since fails in the middle of its scan.
    cur.execute("CREATE TYPE bomb AS ENUM ('calm', 'boom')")
    cur.execute("CREATE FUNCTION bomb_json(bomb) RETURNS json LANGUAGE plpgsql IMMUTABLE AS "
                "$$ BEGIN IF $1 = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN to_json($1::text); END $$")
    cur.execute("CREATE CAST (bomb AS json) WITH FUNCTION bomb_json(bomb)")
    cur.execute("CREATE TABLE fb (id int PRIMARY KEY, b bomb)")
    cur.execute("INSERT INTO fb SELECT g, CASE g WHEN 13 THEN 'boom' ELSE 'calm' END::bomb "
                "FROM generate_series(1, 30) g")
    cur.execute("SELECT delta_sync.track('ft'), delta_sync.track('fk'), delta_sync.track('fb')")
    cur.execute("INSERT INTO ft SELECT g, 'v' || g, g / 7.0 FROM generate_series(1, 60) g")
    cur.execute("INSERT INTO fk SELECT 'k' || g, DATE '2024-01-01' + g FROM generate_series(1, 25) g")
    cur.execute(f"GRANT SELECT ON ft, fk, fb TO {ROLE}")
    return a


def write_some(admin, rng):
    cur = admin.cursor()
    for _ in range(rng.randint(0, 4)):
        op = rng.randrange(4)
        i = rng.randint(1, 90)
        if op == 0:
            cur.execute("INSERT INTO ft VALUES (%s, 'new', 1) ON CONFLICT (id) DO UPDATE SET v = 'upsert'", (i,))
        elif op == 1:
            cur.execute("UPDATE ft SET v = v || 'u', deleted_at = NULL WHERE id = %s", (i,))
        elif op == 2:
            cur.execute("DELETE FROM ft WHERE id = %s", (i,))
        else:
            cur.execute("DELETE FROM fk WHERE k = %s", ("k" + str(i % 30),))


class Fuzzer:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.conn = psycopg2.connect(dbname=DB, user=ROLE)
        self.conn.autocommit = True
        cur = self.conn.cursor()
        cur.execute("SELECT pg_backend_pid(), pg_postmaster_start_time()")
        self.pid, self.started = cur.fetchone()
        cur.execute("SELECT d->>'serverVersion' FROM delta_since('ft') d")
        self.versions = [cur.fetchone()[0]]
        self.statements = 0
        self.errors = {}

    # -- what the fuzzer runs ---------------------------------------------------------------
    def call(self):
        r = self.rng
        table = r.choice(["ft", "ft", "fk", "fb"])
        since = "NULL" if r.random() < 0.5 else "'%s'" % r.choice(self.versions)
        if r.random() < 0.03:
            since = "'%s'" % r.choice(["", "AAAA", self.versions[0][:-1] + "A", "x" * 40])
        args = [f"'{table}'", since]
        if r.random() < 0.3:
            args.append("max_changes => %d" % r.choice([1, 3, 50, 20000]))
        args.append("page_size => %d" % r.choice([1, 2, 3, 7, 100]))
        return "delta_since(%s)" % ", ".join(args)

    def query(self):
        r = self.rng
        shape = r.randrange(6)
        if shape == 0:
            return f"SELECT {self.call()}"
        if shape == 1:
            return f"SELECT {self.call()} LIMIT {r.randint(0, 3)}"
        if shape == 2:
            return f"SELECT d FROM {self.call()} d"
        if shape == 3:
            return (f"SELECT (SELECT d FROM (SELECT {self.call()} AS d, g) s LIMIT 1) "
                    f"FROM generate_series(1, {r.randint(1, 20)}) g")
        if shape == 4:
            return f"SELECT {self.call()}, {self.call()}"
        return f"SELECT * FROM (SELECT {self.call()} AS d) s WHERE d IS NOT NULL LIMIT {r.randint(1, 4)}"

    def run(self, sql, documents=False):
        self.statements += 1
        cur = self.conn.cursor()
        try:
            cur.execute(sql)
        except psycopg2.Error as e:
            if self.conn.closed or e.pgcode is None:
                raise Found(f"the connection broke on: {sql}\n{e}")
            if e.pgcode.startswith("XX"):
                raise Found(f"{e.pgcode} on: {sql}\n{e.pgerror}")
            self.check_notices(sql)
            self.errors[e.pgcode] = self.errors.get(e.pgcode, 0) + 1
            return False
        self.check_notices(sql)
        if documents and cur.description:
            for row in cur.fetchall():
                for value in row:
                    if value is None:
                        continue
                    doc = value if isinstance(value, dict) else json.loads(value)
                    if list(doc.keys()) != KEYS:
                        raise Found(f"a document without the contract's keys from: {sql}\n{doc}")
                    if not doc["fullResyncRequired"] and len(self.versions) < 50:
                        self.versions.append(doc["serverVersion"])
        return True

    def check_notices(self, sql):
        # A leaked buffer pin, snapshot or relation reference is reported as a WARNING.
        for notice in self.conn.notices:
            if notice.startswith("WARNING"):
                raise Found(f"{notice.strip()} after: {sql}")
        del self.conn.notices[:]

    def cursors(self):
        cur = self.conn.cursor()
        cur.execute("SELECT name, is_holdable FROM pg_catalog.pg_cursors")
        return dict(cur.fetchall())

    def check_cursors(self, declared):
        for name in self.cursors():
            if name not in declared:
                raise Found(f"pg_cursors lists a portal the caller never declared: {name!r}")

    def sequence(self):
        r = self.rng
        declared = set()
        savepoints = []
        self.run("BEGIN")
        for _ in range(r.randint(1, 12)):
            op = r.randrange(12)
            if op <= 2:
                name = "c%d" % r.randrange(4)
                hold = " WITH HOLD" if r.random() < 0.3 else ""
                scroll = r.choice(["", " SCROLL", " NO SCROLL"])
                if self.run(f"DECLARE {name}{scroll} CURSOR{hold} FOR {self.query()}"):
                    declared.add(name)
            elif op <= 5 and declared:
                name = r.choice(sorted(declared))
                how = r.choice(["1", "2", "ALL", "NEXT", "FORWARD 3", "BACKWARD 1", "ABSOLUTE 1"])
                self.run(f"FETCH {how} FROM {name}", documents=True)
            elif op == 6 and declared:
                self.run(f"MOVE {r.choice(['1', 'ALL', 'FORWARD 2'])} IN {r.choice(sorted(declared))}")
            elif op == 7 and declared:
                self.run(f"CLOSE {r.choice(sorted(declared))}" if r.random() < 0.8 else "CLOSE ALL")
            elif op == 8:
                sp = "s%d" % len(savepoints)
                if self.run(f"SAVEPOINT {sp}"):
                    savepoints.append(sp)
            elif op == 9 and savepoints:
                k = r.randrange(len(savepoints))
                verb = r.choice(["ROLLBACK TO", "ROLLBACK TO", "RELEASE"])
                if self.run(f"{verb} {savepoints[k]}"):
                    savepoints = savepoints[: k + 1] if verb == "ROLLBACK TO" else savepoints[:k]
            elif op == 10:
                self.run(self.query(), documents=True)
            elif op == 11 and declared and r.random() < 0.5:
                # A PL/pgSQL block FETCHes, then its exception handler rolls that back.
                self.run("DO $$ DECLARE c refcursor := '%s'; d json; BEGIN "
                         "BEGIN FETCH c INTO d; MOVE c; RAISE EXCEPTION 'undo'; "
                         "EXCEPTION WHEN raise_exception THEN NULL; END; "
                         "FETCH c INTO d; END $$" % r.choice(sorted(declared)))
            else:
                # What an attacker would do: close or replace every portal it did not declare.
                self.check_cursors(declared)
            # After an error the transaction only takes ROLLBACK (TO).
            if self.conn.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_INERROR:
                if savepoints and r.random() < 0.6:
                    if self.run(f"ROLLBACK TO {savepoints[-1]}"):
                        continue
                self.run("ROLLBACK")
                break
        if self.conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
            self.check_cursors(declared)
            self.run("COMMIT" if r.random() < 0.6 else "ROLLBACK")
        left = self.cursors()
        for name, holdable in left.items():
            if not holdable or name not in declared:
                raise Found(f"after the transaction ended pg_cursors still lists {name!r}")
        for name in left:
            self.run(f"FETCH ALL FROM {name}", documents=True)
        self.run("CLOSE ALL")
        if self.cursors():
            raise Found(f"pg_cursors is not empty after CLOSE ALL: {self.cursors()}")

    def alive(self):
        cur = self.conn.cursor()
        cur.execute("SELECT pg_backend_pid(), pg_postmaster_start_time()")
        pid, started = cur.fetchone()
        if pid != self.pid or started != self.started:
            raise Found(f"the server restarted (backend {self.pid} -> {pid}, start {self.started} -> {started})")


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 180
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else int(time.time())
    admin = setup()
    admin_rng = random.Random(seed + 1)
    fuzzer = Fuzzer(seed)
    deadline = time.monotonic() + seconds
    sequences = 0
    try:
        while time.monotonic() < deadline:
            write_some(admin, admin_rng)
            fuzzer.sequence()
            sequences += 1
            if sequences % 50 == 0:
                fuzzer.alive()
        fuzzer.alive()
    except (Found, psycopg2.OperationalError, psycopg2.InterfaceError) as e:
        print(f"fuzz_sql (seed {seed}): after {sequences} sequences: {e}", file=sys.stderr)
        return 1
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(fuzzer.errors.items()))
    print(f"fuzz_sql (seed {seed}): {sequences} sequences, {fuzzer.statements} statements in "
          f"{seconds:g}s; no crash, no XX error, no portal left behind (expected errors: {errors})")
    fuzzer.conn.close()
    admin.close()
    a = admin_connect(os.environ.get("PGDATABASE", "postgres"))
    a.cursor().execute(f"DROP DATABASE {DB}")
    a.cursor().execute(f"DROP ROLE {ROLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
