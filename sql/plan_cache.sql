-- delta_since keeps each table's shape, column codecs and prepared scans per backend. Every
-- change of the table, its schema, its types, its registry row, the role or the search_path
-- between two calls of one session must show in the second call, in the same transaction too.

-- Records without their timestamps (which change from run to run), as text.
CREATE FUNCTION pg_temp.bare(j text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(j, '"(created|updated)_at":"[^"]*",', '', 'g')
$$;
-- The records of a full sync; and what a delta since a cursor says.
CREATE FUNCTION pg_temp.recs(t regclass) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(pg_temp.bare(r::text), ' '), '(none)')
    FROM delta_since(t, NULL) d, json_array_elements(d->'created') r
$$;
CREATE FUNCTION pg_temp.delta(t regclass, v text) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.bare(format('created %s updated %s deleted %s resync %s', d->'created',
                  d->'updated', d->'deleted', d->>'fullResyncRequired'))
    FROM delta_since(t, v) d
$$;
CREATE FUNCTION pg_temp.attempt(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE SCHEMA pc;
CREATE TABLE pc.t (id integer PRIMARY KEY, a integer, b text);
SELECT delta_sync.track('pc.t');
INSERT INTO pc.t VALUES (1, 10, 'x');
SELECT pg_temp.recs('pc.t') AS before;

-- Columns added, dropped, renamed, retyped between two calls.
ALTER TABLE pc.t ADD COLUMN c integer DEFAULT 5;
SELECT pg_temp.recs('pc.t') AS added;
ALTER TABLE pc.t DROP COLUMN b;
SELECT pg_temp.recs('pc.t') AS dropped;
ALTER TABLE pc.t RENAME COLUMN a TO a2;
SELECT pg_temp.recs('pc.t') AS renamed;
ALTER TABLE pc.t ALTER COLUMN a2 TYPE text;
SELECT pg_temp.recs('pc.t') AS retyped;

-- In one transaction, and undone by its rollback.
BEGIN;
SELECT pg_temp.recs('pc.t') AS in_transaction;
ALTER TABLE pc.t ADD COLUMN d boolean DEFAULT true;
SELECT pg_temp.recs('pc.t') AS added_in_transaction;
ROLLBACK;
SELECT pg_temp.recs('pc.t') AS rolled_back;
BEGIN;
SELECT pg_temp.recs('pc.t') AS in_savepoint;
SAVEPOINT s;
ALTER TABLE pc.t RENAME COLUMN c TO c2;
SELECT pg_temp.recs('pc.t') AS renamed_in_savepoint;
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.recs('pc.t') AS savepoint_rolled_back;
COMMIT;

-- A renamed attribute of a composite column.
CREATE TYPE pc.pair AS (x integer, y integer);
ALTER TABLE pc.t ADD COLUMN p pc.pair DEFAULT (1, 2);
SELECT pg_temp.recs('pc.t') AS composite;
ALTER TYPE pc.pair RENAME ATTRIBUTE y TO z;
SELECT pg_temp.recs('pc.t') AS composite_renamed;
ALTER TABLE pc.t DROP COLUMN p;

-- The table and its schema renamed: the messages name them as they are now.
SELECT delta_sync.untrack('pc.t');
SELECT pg_temp.attempt($$SELECT * FROM delta_since('pc.t', NULL)$$) AS untracked;
ALTER TABLE pc.t RENAME TO t2;
SELECT pg_temp.attempt($$SELECT * FROM delta_since('pc.t2', NULL)$$) AS table_renamed;
ALTER SCHEMA pc RENAME TO pc2;
SELECT pg_temp.attempt($$SELECT * FROM delta_since('pc2.t2', NULL)$$) AS schema_renamed;
-- Tracked again: read again.
SELECT delta_sync.track('pc2.t2');
SELECT pg_temp.recs('pc2.t2') AS tracked_again;

-- Dropped, and another table made with the same name.
DROP TABLE pc2.t2;
CREATE TABLE pc2.t2 (id text PRIMARY KEY, other numeric);
SELECT pg_temp.attempt($$SELECT * FROM delta_since('pc2.t2', NULL)$$) AS new_untracked;
SELECT delta_sync.track('pc2.t2');
INSERT INTO pc2.t2 VALUES ('k', 1.50);
SELECT pg_temp.recs('pc2.t2') AS new_table;

-- TRUNCATE, purge, a new threshold between two deltas of one cursor.
SELECT d->>'serverVersion' AS v1 FROM delta_since('pc2.t2', NULL) d \gset
INSERT INTO pc2.t2 VALUES ('l', 2), ('m', 3);
SELECT pg_temp.delta('pc2.t2', :'v1') AS two_changes;
SELECT delta_sync.track('pc2.t2', max_changes => 1);
SELECT pg_temp.delta('pc2.t2', :'v1') AS threshold_lowered;
SELECT delta_sync.track('pc2.t2', max_changes => 1000);
SELECT pg_temp.delta('pc2.t2', :'v1') AS threshold_raised;
DELETE FROM pc2.t2 WHERE id = 'l';
SELECT d->>'serverVersion' AS v2 FROM delta_since('pc2.t2', NULL) d \gset
SELECT pg_temp.delta('pc2.t2', :'v1') AS before_purge;
SELECT delta_sync.purge('pc2.t2', '0 seconds') AS purged;
SELECT pg_temp.delta('pc2.t2', :'v1') AS after_purge;
SELECT pg_temp.delta('pc2.t2', :'v2') AS after_purge_newer_cursor;
TRUNCATE pc2.t2;
SELECT pg_temp.delta('pc2.t2', :'v2') AS after_truncate;
SELECT pg_temp.recs('pc2.t2') AS truncated;

-- Row-level security: the same prepared scan under two roles sees what each may see.
CREATE TABLE pc2.owned (id integer PRIMARY KEY, owner name NOT NULL);
SELECT delta_sync.track('pc2.owned');
INSERT INTO pc2.owned VALUES (1, 'pc_alice'), (2, 'pc_bob');
CREATE ROLE pc_alice;
CREATE ROLE pc_bob;
GRANT USAGE ON SCHEMA pc2 TO pc_alice, pc_bob;
GRANT SELECT ON pc2.owned TO pc_alice, pc_bob;
ALTER TABLE pc2.owned ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON pc2.owned USING (owner = current_user);
SELECT pg_temp.recs('pc2.owned') AS as_owner;
SET ROLE pc_alice;
SELECT pg_temp.recs('pc2.owned') AS as_alice;
SELECT pg_temp.recs('pc2.owned') AS as_alice_again;
SET ROLE pc_bob;
SELECT pg_temp.recs('pc2.owned') AS as_bob;
RESET ROLE;
SELECT pg_temp.recs('pc2.owned') AS as_owner_again;
SET row_security = off;
SET ROLE pc_alice;
SELECT pg_temp.attempt($$SELECT * FROM delta_since('pc2.owned', NULL)$$) AS alice_without_row_security;
RESET ROLE;
RESET row_security;
-- A policy changed between two calls.
DROP POLICY mine ON pc2.owned;
CREATE POLICY mine ON pc2.owned USING (id = 2);
SET ROLE pc_alice;
SELECT pg_temp.recs('pc2.owned') AS new_policy;
RESET ROLE;

-- A search_path with a table and an operator of the same names in front changes nothing.
CREATE SCHEMA pc_evil;
CREATE TABLE pc_evil.owned (id integer PRIMARY KEY, owner name);
CREATE FUNCTION pc_evil.never(xid8, xid8) RETURNS boolean LANGUAGE sql AS 'SELECT false';
CREATE OPERATOR pc_evil.>= (LEFTARG = xid8, RIGHTARG = xid8, FUNCTION = pc_evil.never);
SELECT d->>'serverVersion' AS v3 FROM delta_since('pc2.owned', NULL) d \gset
UPDATE pc2.owned SET owner = 'pc_carol' WHERE id = 1;
SELECT pg_temp.delta('pc2.owned', :'v3') AS plain_path;
SET search_path = pc_evil, pc2, public;
SELECT pg_temp.delta('pc2.owned', :'v3') AS evil_path;
SELECT pg_temp.delta('pc2.owned', :'v3') AS evil_path_again;
RESET search_path;

-- Repeated through PREPARE/EXECUTE (past the plan cache's switch to a generic plan) and
-- PL/pgSQL, with the table changed between executions.
PREPARE full_sync(regclass) AS SELECT pg_temp.bare(r::text) AS rec FROM delta_since($1, NULL) d,
    json_array_elements(d->'created') r;
EXECUTE full_sync('pc2.t2');
INSERT INTO pc2.t2 VALUES ('n', 4);
EXECUTE full_sync('pc2.t2');
EXECUTE full_sync('pc2.t2');
EXECUTE full_sync('pc2.t2');
EXECUTE full_sync('pc2.t2');
EXECUTE full_sync('pc2.t2');
ALTER TABLE pc2.t2 ADD COLUMN extra text DEFAULT 'e';
EXECUTE full_sync('pc2.t2');
ALTER TABLE pc2.t2 DROP COLUMN other;
EXECUTE full_sync('pc2.t2');
DEALLOCATE full_sync;

CREATE FUNCTION pg_temp.loop_changes() RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    i integer;
BEGIN
    FOR i IN 1..3 LOOP
        RETURN NEXT pg_temp.recs('pc2.t2');
        EXECUTE format('ALTER TABLE pc2.t2 ADD COLUMN c%s integer DEFAULT %s', i, i);
        RETURN NEXT (SELECT pg_temp.bare(r::text) FROM delta_since('pc2.t2', NULL) d,
                     json_array_elements(d->'created') r LIMIT 1);
    END LOOP;
END $$;
SELECT * FROM pg_temp.loop_changes();

-- Two scans of one table open at once in one query (set-returning functions in the select list
-- advance together), while a third call between their pages finds the cached entry stale (a type
-- renamed, and back) and replaces it: the open scans keep their own codecs and plans.
INSERT INTO pc2.t2 (id) SELECT 'p' || g FROM generate_series(1, 5) g;
CREATE TYPE pc2.mood AS ENUM ('ok');
CREATE FUNCTION pg_temp.stale_and_read() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
    ALTER TYPE pc2.mood RENAME TO mood_renamed;
    ALTER TYPE pc2.mood_renamed RENAME TO mood;
    RETURN (SELECT json_array_length(d->'created') FROM delta_since('pc2.t2', NULL) d);
END $$;
SELECT json_array_length(a->'created') AS a_rows, pg_temp.bare(a->>'created') AS a_first,
       json_array_length(b->'created') AS b_rows, pg_temp.stale_and_read() AS third
FROM (SELECT delta_since('pc2.t2', NULL, page_size => 1) AS a,
             delta_since('pc2.t2', NULL, page_size => 2) AS b) s;

DROP SCHEMA pc_evil CASCADE;
DROP SCHEMA pc2 CASCADE;
DROP ROLE pc_alice;
DROP ROLE pc_bob;
