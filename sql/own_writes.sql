-- The caller's own writes (DESIGN §3): a pull inside a transaction that has written leaves its
-- own uncommitted rows out and keeps its xid in progress in the cursor, so the next pull after
-- COMMIT delivers them, and a ROLLBACK loses nothing the client was owed.

CREATE FUNCTION pg_temp.summary(d json) RETURNS text LANGUAGE sql AS $$
    SELECT format('created [%s] updated [%s] deleted [%s] resync %s',
        (SELECT string_agg(e->>'id', ',' ORDER BY (e->>'id')::int) FROM json_array_elements(d->'created') e),
        (SELECT string_agg(e->>'id', ',' ORDER BY (e->>'id')::int) FROM json_array_elements(d->'updated') e),
        (SELECT string_agg(e #>> '{}', ',' ORDER BY (e #>> '{}')::int) FROM json_array_elements(d->'deleted') e),
        d->>'fullResyncRequired')
$$;

CREATE TABLE tasks (id integer PRIMARY KEY, title text NOT NULL);
SELECT delta_sync.track('tasks');
INSERT INTO tasks VALUES (1, 'one'), (2, 'two'), (3, 'three');
SELECT d->>'serverVersion' AS v0 FROM delta_since('tasks', NULL) d \gset

-- Insert, update and delete, then pull in the same transaction: none of the three is returned.
BEGIN;
INSERT INTO tasks VALUES (4, 'four');
UPDATE tasks SET title = 'one!' WHERE id = 1;
DELETE FROM tasks WHERE id = 2;
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v0') d;
SELECT d->>'serverVersion' AS v1 FROM delta_since('tasks', :'v0') d \gset
-- A full sync in the writing transaction leaves out the rows it wrote (1 and 4; 2 is deleted).
SELECT e->>'id' AS id FROM delta_since('tasks', NULL) d, json_array_elements(d->'created') e ORDER BY 1;
SELECT d->>'serverVersion' AS v1full FROM delta_since('tasks', NULL) d \gset
COMMIT;
-- After COMMIT the cursors taken inside the transaction deliver its writes.
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v1') d;
-- That full sync hid rows 1 and 2, whose committed versions the client never got: its cursor
-- cannot claim them, so it asks for a resync (the delta cursor v1 can be precise instead).
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v1full') d;
SELECT e->>'id' AS id, e->>'title' AS title FROM delta_since('tasks', :'v1') d, json_array_elements(d->'updated') e;
-- ... exactly once.
SELECT d->>'serverVersion' AS v2 FROM delta_since('tasks', :'v1') d \gset
SELECT pg_temp.summary(d) FROM delta_since('tasks', :'v2') d;

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
UPDATE tasks SET title = 'three!' WHERE id = 3;
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
