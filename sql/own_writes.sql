-- The caller's own writes (docs/design.md §8): a pull inside a transaction that has written leaves its
-- own uncommitted rows out and keeps its xid in progress in the cursor, so the next pull after
-- COMMIT delivers them, and a ROLLBACK loses nothing the client was owed.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE tasks (id integer PRIMARY KEY, title text NOT NULL);
SELECT delta_sync.track('tasks');
INSERT INTO tasks VALUES (1, 'one'), (2, 'two'), (3, 'three');
SELECT d->>'serverVersion' AS v0 FROM delta_since('tasks', NULL) d \gset

-- Rows the transaction inserted, then a pull in the same transaction: they are left out, and
-- the cursor keeps the transaction in progress, so after COMMIT the next pull delivers them.
BEGIN;
INSERT INTO tasks VALUES (4, 'four'), (8, 'eight');
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v0') d;
SELECT d->>'serverVersion' AS v1 FROM delta_since('tasks', :'v0') d \gset
-- A full sync in the writing transaction leaves them out too.
SELECT e->>'id' AS id FROM delta_since('tasks', NULL) d, json_array_elements(d->'created') e ORDER BY 1;
COMMIT;
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v1') d;
-- ... exactly once.
SELECT d->>'serverVersion' AS v2 FROM delta_since('tasks', :'v1') d \gset
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v2') d;

-- Update and delete of existing rows, then a pull in the same transaction: left out as well, and
-- with them their committed versions, which the transaction cannot see. Should it roll back, the
-- client must still get those versions (own_writes_rollback), and no cursor can name them
-- without forgetting rows the client holds: the next pull asks for a resync, committed or not.
BEGIN;
UPDATE tasks SET title = 'one!' WHERE id = 1;
DELETE FROM tasks WHERE id = 2;
INSERT INTO tasks VALUES (9, 'nine');
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v2') d;
SELECT d->>'serverVersion' AS v2b FROM delta_since('tasks', :'v2') d \gset
SELECT e->>'id' AS id FROM delta_since('tasks', NULL) d, json_array_elements(d->'created') e ORDER BY 1;
SELECT d->>'serverVersion' AS v2full FROM delta_since('tasks', NULL) d \gset
COMMIT;
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v2b') d;
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v2full') d;
-- The client at v2 (which never pulled inside that transaction) gets it exactly.
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v2') d;
SELECT d->>'serverVersion' AS v2 FROM delta_since('tasks', :'v2') d \gset

-- A transaction that wrote only to another table: its xid is in its cursor, harmlessly.
CREATE TABLE elsewhere (id integer PRIMARY KEY);
BEGIN;
INSERT INTO elsewhere VALUES (1);
SELECT d->>'serverVersion' AS v3 FROM delta_since('tasks', :'v2') d \gset
COMMIT;
INSERT INTO tasks VALUES (5, 'five');
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v3') d;

-- Writes after the pull in the same transaction are delivered by the next pull too.
SELECT d->>'serverVersion' AS v4 FROM delta_since('tasks', :'v3') d \gset
BEGIN;
SELECT d->>'serverVersion' AS v5 FROM delta_since('tasks', :'v4') d \gset
INSERT INTO tasks VALUES (6, 'six');
COMMIT;
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v5') d;

-- Subtransactions: rows written in a released savepoint are the transaction's own.
SELECT d->>'serverVersion' AS v6 FROM delta_since('tasks', :'v5') d \gset
BEGIN;
SAVEPOINT s;
INSERT INTO tasks VALUES (7, 'seven');
RELEASE SAVEPOINT s;
SAVEPOINT t;
INSERT INTO tasks VALUES (10, 'ten');
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v6') d;
SELECT d->>'serverVersion' AS v7 FROM delta_since('tasks', :'v6') d \gset
RELEASE SAVEPOINT t;
COMMIT;
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v7') d;

-- REPEATABLE READ: every pull of the transaction uses its one snapshot, so they agree.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT d->>'serverVersion' AS rr1 FROM delta_since('tasks', NULL) d \gset
SELECT (SELECT d->>'serverVersion' FROM delta_since('tasks', NULL) d) = :'rr1' AS same_cursor;
COMMIT;

SELECT delta_sync.untrack('tasks');
DROP TABLE tasks, elsewhere;
