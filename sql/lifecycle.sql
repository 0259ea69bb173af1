-- What happens to a tracked table over its life besides rows changing: its primary key cannot be
-- rewritten (clients know rows by it), and dropping it removes it from the registry.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE keyed (id integer PRIMARY KEY, v text);
INSERT INTO keyed VALUES (1, 'a'), (2, 'b');
SELECT delta_sync.track('keyed');
SELECT d->>'serverVersion' AS v FROM delta_since('keyed') d \gset

-- A key change would deliver the row under its new key and never delete the old one.
SELECT pg_temp.attempt($$UPDATE keyed SET id = 3 WHERE id = 1$$) AS change_key;
-- Setting the key to itself is no change.
SELECT pg_temp.attempt($$UPDATE keyed SET id = id, v = 'b!' WHERE id = 2$$) AS same_key;
SELECT id, v FROM keyed ORDER BY id;
-- The way to move a row: delete it and insert it again, so that clients hear of both.
DELETE FROM keyed WHERE id = 1;
INSERT INTO keyed VALUES (3, 'a');
SELECT (SELECT array_agg(e->>'id') FROM json_array_elements(d->'created') e) AS created,
       (SELECT array_agg(e->>'id') FROM json_array_elements(d->'updated') e) AS updated,
       d->'deleted' AS deleted
  FROM delta_since('keyed', :'v') d;

-- Dropping tracked tables, directly or with their schema, takes them out of the registry.
CREATE SCHEMA doomed;
CREATE TABLE doomed.one (id integer PRIMARY KEY);
SELECT delta_sync.track('doomed.one');
SELECT 'keyed'::regclass::oid AS keyed_oid, 'doomed.one'::regclass::oid AS one_oid \gset
SELECT count(*) AS registered_before FROM delta_sync.tracked WHERE relid::oid IN (:keyed_oid, :one_oid);
DROP TABLE keyed;
DROP SCHEMA doomed CASCADE;
SELECT count(*) AS registered_after FROM delta_sync.tracked WHERE relid::oid IN (:keyed_oid, :one_oid);

-- ALTER TABLE can change rows without versioning them (a column added with a default): every
-- older cursor resyncs; a cursor taken after the change works.
CREATE TABLE shaped (id integer PRIMARY KEY, v text);
INSERT INTO shaped VALUES (1, 'a');
SELECT delta_sync.track('shaped');
SELECT d->>'serverVersion' AS before_alter FROM delta_since('shaped') d \gset
ALTER TABLE shaped ADD COLUMN colour text NOT NULL DEFAULT 'red';
SELECT d->'fullResyncRequired' AS resync_after_alter FROM delta_since('shaped', :'before_alter') d;
SELECT d->'created'->0->>'colour' AS colour, d->>'serverVersion' AS after_alter FROM delta_since('shaped') d \gset
SELECT :'colour' AS colour;
UPDATE shaped SET v = 'b';
SELECT d->'fullResyncRequired' AS resync, json_array_length(d->'updated') AS updated
  FROM delta_since('shaped', :'after_alter') d;
-- Other DDL on the table (an index) does not.
CREATE INDEX ON shaped (v);
SELECT d->'fullResyncRequired' AS resync_after_index FROM delta_since('shaped', :'after_alter') d;
SELECT delta_sync.untrack('shaped');
DROP TABLE shaped;
