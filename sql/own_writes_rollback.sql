-- The caller's own writes, rolled back (docs/design.md §8; §1: each committed change comes in
-- exactly one pull): a pull inside a transaction that has rewritten existing rows hides them (they are
-- its own uncommitted writes), so after a ROLLBACK the cursor must still lead to their committed
-- versions: delivered by the next pull, or a fullResyncRequired.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE tasks (id integer PRIMARY KEY, title text NOT NULL);
SELECT delta_sync.track('tasks');
INSERT INTO tasks VALUES (1, 'one'), (4, 'four'), (5, 'five');
SELECT d->>'serverVersion' AS v8 FROM delta_since('tasks', NULL) d \gset

-- (a) A committed change the client has not yet seen, hidden by an uncommitted rewrite.
UPDATE tasks SET title = 'four, committed' WHERE id = 4;
BEGIN;
UPDATE tasks SET title = 'four, rolled back' WHERE id = 4;
SELECT d->>'serverVersion' AS v9 FROM delta_since('tasks', :'v8') d \gset
ROLLBACK;
SELECT coalesce(bool_or(e->>'id' = '4' AND e->>'title' = 'four, committed'), false) OR bool_or((d->>'fullResyncRequired')::boolean)
       AS committed_change_reaches_client
  FROM delta_since('tasks', :'v9') d LEFT JOIN LATERAL json_array_elements(d->'updated') e ON true;
-- (b) A full sync inside a transaction that rewrote a row, then rolled back: the row must reach
-- the client.
BEGIN;
UPDATE tasks SET title = 'five, rolled back' WHERE id = 5;
SELECT d->>'serverVersion' AS v10 FROM delta_since('tasks', NULL) d \gset
ROLLBACK;
SELECT coalesce(bool_or(e->>'id' = '5'), false) OR bool_or((d->>'fullResyncRequired')::boolean)
       AS row_reaches_client
  FROM delta_since('tasks', :'v10') d LEFT JOIN LATERAL json_array_elements(d->'updated') e ON true;

-- (c) For contrast: rows the transaction inserted and rolled back are owed to nobody.
SELECT d->>'serverVersion' AS v11 FROM delta_since('tasks', NULL) d \gset
BEGIN;
INSERT INTO tasks VALUES (9, 'nine');
SELECT d->>'serverVersion' AS v12 FROM delta_since('tasks', :'v11') d \gset
ROLLBACK;
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v12') d;

SELECT delta_sync.untrack('tasks');
DROP TABLE tasks;
