"""A partitioned table in the replica: `delta-sync pull` of a table partitioned in two levels and
tracked through its parent keeps one SQLite table of all its partitions' rows. Between pulls rows
are inserted through the parent and into partitions directly, updated, moved between partitions
(their key changes: the primary key holds the partition key), soft-deleted, and a partition is
created; after each pull the replica holds exactly the server's live rows and `diff` agrees.
Then a partition is detached (the next pull resyncs: its rows leave the replica) and the table
switched to hard-delete mode; the same holds."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from clientlib import assert_replica_equals, check, database, require_server, run, scratch_dir, sql  # noqa: E402

require_server()
work = scratch_dir("partitions")


def pull_and_compare(dsn, conn, replica, step):
    p = run(["pull", "readings", "--replica", replica], dsn)
    n = assert_replica_equals(conn, replica, "readings")
    d = run(["diff", "readings", "--replica", replica], dsn, check_rc=None)
    check(d.returncode == 0, "%s: diff exited %d: %s %s" % (step, d.returncode, d.stdout, d.stderr))
    print("%s: %s; %d rows agree" % (step, p.stdout.strip(), n))
    return p.stdout.strip()


def main():
    with database("partitions") as (dsn, conn):
        sql(conn, """CREATE TABLE readings (id bigint PRIMARY KEY, sensor text, value numeric,
                     tags text[]) PARTITION BY RANGE (id)""")
        sql(conn, "CREATE TABLE readings_a PARTITION OF readings FOR VALUES FROM (0) TO (1000)")
        sql(conn, """CREATE TABLE readings_b PARTITION OF readings FOR VALUES FROM (1000) TO (2000)
                     PARTITION BY RANGE (id)""")
        sql(conn, "CREATE TABLE readings_b1 PARTITION OF readings_b FOR VALUES FROM (1000) TO (1500)")
        sql(conn, "CREATE TABLE readings_b2 PARTITION OF readings_b FOR VALUES FROM (1500) TO (2000)")
        # Keys 1, 14, 27, ... (1 + 13k); the writes below pick keys in it or not, knowingly.
        sql(conn, """INSERT INTO readings SELECT g, 's' || (g % 7), g / 4.0, ARRAY['t' || (g % 3)]
                     FROM generate_series(1, 1999, 13) g""")
        sql(conn, "SELECT delta_sync.track('readings')")
        replica = os.path.join(work, "replica.db")
        pull_and_compare(dsn, conn, replica, "first sync")

        # Writes through the parent and into partitions; moves between partitions.
        sql(conn, "INSERT INTO readings VALUES (5, 'new', 1.5, '{a}'), (1601, 'new', 2.5, NULL)")
        sql(conn, "INSERT INTO readings_b1 VALUES (1003, 'direct', 3.5, '{}')")
        sql(conn, "UPDATE readings SET value = value + 1 WHERE id % 5 = 0")
        sql(conn, "UPDATE readings SET id = id + 1000 WHERE id IN (14, 27, 40)")  # readings_a -> readings_b1
        sql(conn, "UPDATE readings SET id = id + 500 WHERE id = 1015")            # readings_b1 -> readings_b2
        sql(conn, "UPDATE readings SET id = id - 1500 WHERE id = 1548")           # readings_b2 -> readings_a
        sql(conn, "DELETE FROM readings WHERE id = 66")
        sql(conn, "DELETE FROM readings_b2 WHERE id = 1561")
        out = pull_and_compare(dsn, conn, replica, "moves")
        check("deleted" in out and "created" in out, "the pull reported nothing: %r" % out)

        # A partition created while the replica holds a cursor: no resync, its rows arrive.
        sql(conn, "CREATE TABLE readings_c PARTITION OF readings FOR VALUES FROM (2000) TO (3000)")
        sql(conn, "INSERT INTO readings VALUES (2001, 'c', 1, NULL)")
        sql(conn, "UPDATE readings SET id = 2002 WHERE id = 1")
        out = pull_and_compare(dsn, conn, replica, "partition created")
        check(out.startswith("readings: 2 created, 0 updated, 1 deleted"), "unexpected pull: %r" % out)

        # A partition detached: its rows leave the replica (the pull resyncs).
        sql(conn, "ALTER TABLE readings DETACH PARTITION readings_b")
        pull_and_compare(dsn, conn, replica, "partition detached")

        # Hard-delete mode: moves and deletes, through the parent and on a partition.
        sql(conn, "SELECT delta_sync.track('readings', deletes => 'hard')")
        pull_and_compare(dsn, conn, replica, "hard-delete mode")
        sql(conn, "UPDATE readings SET id = 2500 WHERE id = 53")
        sql(conn, "DELETE FROM readings WHERE id = 79")
        sql(conn, "DELETE FROM readings_c WHERE id = 2001")
        pull_and_compare(dsn, conn, replica, "hard deletes and moves")
    print("a partitioned table stays equal to its replica")


if __name__ == "__main__":
    main()
