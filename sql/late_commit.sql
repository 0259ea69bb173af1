-- Late commits (docs/design.md §3, §9.1): a change whose transaction commits after a pull is in the next
-- pull, and an older transaction that commits after a newer one is not lost. A second session,
-- through dblink, holds a transaction open across pulls.

CREATE EXTENSION IF NOT EXISTS dblink;
\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE orders (id integer PRIMARY KEY, status text NOT NULL);
SELECT delta_sync.track('orders');
INSERT INTO orders VALUES (1, 'new'), (2, 'new'), (3, 'new');
SELECT d->>'serverVersion' AS v0 FROM delta_since('orders', NULL) d \gset

-- The second session, on this cluster's socket.
SELECT dblink_connect('late', format('dbname=%s host=%s port=%s user=%s', current_database(),
       split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'), current_user));

-- Transaction A (older: it takes its xid first) inserts, updates and deletes, and stays open.
SELECT dblink_exec('late', 'BEGIN');
SELECT dblink_exec('late', 'INSERT INTO orders VALUES (10, ''from A'')');
SELECT dblink_exec('late', 'UPDATE orders SET status = ''A was here'' WHERE id = 1');
SELECT dblink_exec('late', 'DELETE FROM orders WHERE id = 2');
SELECT xid AS xid_a FROM dblink('late', 'SELECT pg_current_xact_id()::text') AS t(xid text) \gset
-- Transaction B (newer) commits here.
INSERT INTO orders VALUES (20, 'from B');
UPDATE orders SET status = 'B was here' WHERE id = 3;
SELECT (SELECT delta_sync_changed_xid FROM orders WHERE id = 20) > :'xid_a'::xid8 AS b_is_newer_than_a;

-- Pull while A is open: B's changes are there, A's are not (they are invisible, not lost).
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v0') d;
SELECT d->>'serverVersion' AS v1 FROM delta_since('orders', :'v0') d \gset
-- Pulling again while A is still open: nothing new.
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v1') d;
SELECT d->>'serverVersion' AS v1b FROM delta_since('orders', :'v1') d \gset

-- A commits after the pull, with an xid older than B's.
SELECT dblink_exec('late', 'COMMIT');
-- The next pull, from either cursor taken while A was running, delivers A's changes, and only them.
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v1') d;
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v1b') d;
SELECT e->>'id' AS id, e->>'status' AS status
  FROM delta_since('orders', :'v1') d, json_array_elements(d->'updated') e ORDER BY 1;
-- And after that, nothing is delivered twice.
SELECT d->>'serverVersion' AS v2 FROM delta_since('orders', :'v1') d \gset
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v2') d;
-- From v0 in one pull: the union of the two deliveries above.
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v0') d;

-- A transaction that began (and took its snapshot and xid) before the pull but writes the same
-- row later than a committed newer one: last writer wins, and the client sees the final value.
SELECT dblink_exec('late', 'BEGIN ISOLATION LEVEL READ COMMITTED');
SELECT dblink_exec('late', 'UPDATE orders SET status = ''A2 first'' WHERE id = 10');
SELECT d->>'serverVersion' AS v3 FROM delta_since('orders', :'v2') d \gset
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v2') d;
SELECT dblink_exec('late', 'UPDATE orders SET status = ''A2 second'' WHERE id = 20');
SELECT dblink_exec('late', 'COMMIT');
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v3') d;
SELECT e->>'id' AS id, e->>'status' AS status
  FROM delta_since('orders', :'v3') d, json_array_elements(d->'updated') e ORDER BY 1;

-- A transaction open across pulls that rolls back delivers nothing.
SELECT d->>'serverVersion' AS v4 FROM delta_since('orders', :'v3') d \gset
SELECT dblink_exec('late', 'BEGIN');
SELECT dblink_exec('late', 'INSERT INTO orders VALUES (30, ''rolled back'')');
SELECT d->>'serverVersion' AS v5 FROM delta_since('orders', :'v4') d \gset
SELECT dblink_exec('late', 'ROLLBACK');
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v5') d;

-- Several overlapping transactions committing in reverse order of their xids.
SELECT dblink_connect('late2', format('dbname=%s host=%s port=%s user=%s', current_database(),
       split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'), current_user));
SELECT d->>'serverVersion' AS v6 FROM delta_since('orders', :'v5') d \gset
SELECT dblink_exec('late', 'BEGIN');
SELECT dblink_exec('late', 'INSERT INTO orders VALUES (40, ''oldest'')');
SELECT dblink_exec('late2', 'BEGIN');
SELECT dblink_exec('late2', 'INSERT INTO orders VALUES (41, ''middle'')');
INSERT INTO orders VALUES (42, 'newest');
SELECT d->>'serverVersion' AS v7 FROM delta_since('orders', :'v6') d \gset
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v6') d;
SELECT dblink_exec('late2', 'COMMIT');
SELECT d->>'serverVersion' AS v8 FROM delta_since('orders', :'v7') d \gset
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v7') d;
SELECT dblink_exec('late', 'COMMIT');
SELECT pg_temp.summary(d) FROM delta_since('orders', :'v8') d;

SELECT dblink_disconnect('late');
SELECT dblink_disconnect('late2');
SELECT delta_sync.untrack('orders');
DROP TABLE orders;
DROP EXTENSION dblink;
