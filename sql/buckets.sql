-- The bucket rules of docs/design.md §4: created, updated, deleted, and what is in none of them.
-- Cursors stay in psql variables; only ids, counts and booleans are printed.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE fruit (id integer PRIMARY KEY, name text NOT NULL);
SELECT delta_sync.track('fruit');
INSERT INTO fruit VALUES (1, 'apple'), (2, 'banana'), (3, 'cherry'), (4, 'date'), (5, 'elder');

-- The document: exactly one row, keys in the contract's order, a non-empty ASCII URL-safe cursor.
SELECT count(*) AS rows FROM delta_since('fruit', NULL);
SELECT (SELECT string_agg(k, ',') FROM json_object_keys(d) k) AS keys,
       d->>'serverVersion' ~ '^[A-Za-z0-9_-]+$' AS cursor_url_safe,
       json_typeof(d->'fullResyncRequired') AS resync_type
  FROM delta_since('fruit', NULL) d;

-- Initial sync: every live row is created.
SELECT pg_temp.summary(d) FROM delta_since('fruit', NULL) d;
SELECT d->>'serverVersion' AS v0 FROM delta_since('fruit', NULL) d \gset
-- Nothing changed: an empty delta, and its cursor again gives an empty delta.
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v0') d;
SELECT d->>'serverVersion' AS v0b FROM delta_since('fruit', :'v0') d \gset
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v0b') d;

-- After v0: 6 created; 1 and 2 updated (2 twice); 3 deleted; 7 created and deleted (no bucket);
-- 8 created and updated (created, with its latest values).
INSERT INTO fruit VALUES (6, 'fig'), (7, 'grape'), (8, 'guava');
UPDATE fruit SET name = 'apricot' WHERE id = 1;
UPDATE fruit SET name = 'blueberry' WHERE id = 2;
UPDATE fruit SET name = 'blackberry' WHERE id = 2;
DELETE FROM fruit WHERE id = 3;
DELETE FROM fruit WHERE id = 7;
UPDATE fruit SET name = 'gooseberry' WHERE id = 8;
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v0') d;
SELECT b.bucket, e->>'id' AS id, e->>'name' AS name, e->'deleted_at' AS deleted_at
  FROM delta_since('fruit', :'v0') d,
       LATERAL (VALUES ('created', d->'created'), ('updated', d->'updated')) b(bucket, arr),
       json_array_elements(b.arr) e
 ORDER BY 1, 2;
-- Deleted ids are JSON strings.
SELECT json_typeof(e) AS type, e::text AS raw FROM delta_since('fruit', :'v0') d, json_array_elements(d->'deleted') e;
-- A full sync leaves the deleted rows out entirely.
SELECT pg_temp.summary(d) FROM delta_since('fruit', NULL) d;

SELECT d->>'serverVersion' AS v1 FROM delta_since('fruit', :'v0') d \gset
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v1') d;

-- Undelete (deleted_at back to NULL): the row comes back as updated, since the client had it
-- before and was told it was deleted.
UPDATE fruit SET deleted_at = NULL WHERE id = 3;
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v1') d;
SELECT e->>'name' AS name, e->'deleted_at' AS deleted_at FROM delta_since('fruit', :'v1') d, json_array_elements(d->'updated') e;
-- Undeleting 7 (created and deleted between v0 and v1): created for a v0 client (its creation is
-- not visible in v0); updated for a v1 client (its creation is visible in v1; both are upserts).
UPDATE fruit SET deleted_at = NULL WHERE id = 7;
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v0') d;
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v1') d;
SELECT d->>'serverVersion' AS v2 FROM delta_since('fruit', :'v1') d \gset

-- Soft delete by the application (setting deleted_at itself) is a delete too.
UPDATE fruit SET deleted_at = now() WHERE id = 4;
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v2') d;
-- Updating a deleted row keeps it deleted: still in deleted, never in updated.
UPDATE fruit SET name = 'dragonfruit' WHERE id = 4;
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v2') d;

-- created_at is kept on update, updated_at moves forward, deleted_at is set by DELETE.
SELECT d->>'serverVersion' AS v3 FROM delta_since('fruit', :'v2') d \gset
SELECT created_at AS c5, updated_at AS u5 FROM fruit WHERE id = 5 \gset
SELECT pg_sleep(0.01);
UPDATE fruit SET name = 'elderberry', created_at = '2000-01-01' WHERE id = 5;
SELECT created_at = :'c5' AS created_kept, updated_at > :'u5' AS updated_moved FROM fruit WHERE id = 5;
SELECT (e->>'created_at')::timestamptz = :'c5' AS record_created_kept,
       (e->>'updated_at')::timestamptz > :'u5' AS record_updated_moved
  FROM delta_since('fruit', :'v3') d, json_array_elements(d->'updated') e;

-- An UPDATE that changes nothing still writes a new version: the row is re-sent (harmless).
SELECT d->>'serverVersion' AS v4 FROM delta_since('fruit', :'v3') d \gset
UPDATE fruit SET name = name WHERE id = 6;
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v4') d;

-- Rolled back changes are in no bucket.
SELECT d->>'serverVersion' AS v5 FROM delta_since('fruit', :'v4') d \gset
BEGIN;
INSERT INTO fruit VALUES (9, 'honeydew');
UPDATE fruit SET name = 'fig!' WHERE id = 6;
DELETE FROM fruit WHERE id = 1;
ROLLBACK;
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v5') d;
-- A subtransaction's changes count as its top-level transaction's.
BEGIN;
SAVEPOINT s;
INSERT INTO fruit VALUES (10, 'jackfruit');
RELEASE SAVEPOINT s;
SAVEPOINT t;
INSERT INTO fruit VALUES (11, 'kiwi');
ROLLBACK TO SAVEPOINT t;
UPDATE fruit SET name = 'fig?' WHERE id = 6;
COMMIT;
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v5') d;

-- Every change is delivered exactly once along a chain of cursors.
SELECT d->>'serverVersion' AS v6 FROM delta_since('fruit', :'v5') d \gset
SELECT pg_temp.summary(d) FROM delta_since('fruit', :'v6') d;

-- Other primary key types: deleted ids are their text, as JSON strings.
CREATE TABLE keyed_bigint (id bigint PRIMARY KEY);
CREATE TABLE keyed_text (id text PRIMARY KEY);
CREATE TABLE keyed_uuid (id uuid PRIMARY KEY);
CREATE TABLE keyed_numeric (id numeric PRIMARY KEY);
SELECT delta_sync.track(t) FROM unnest(ARRAY['keyed_bigint', 'keyed_text', 'keyed_uuid', 'keyed_numeric']::regclass[]) t;
INSERT INTO keyed_bigint VALUES (9007199254740993), (-9223372036854775808);
INSERT INTO keyed_text VALUES ('plain'), ('with "quotes" and \backslash'), (E'tab\tnewline\n'), ('ünïcödé 🍓');
INSERT INTO keyed_uuid VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
INSERT INTO keyed_numeric VALUES (1.50), (12345678901234567890.123456789);
SELECT d->>'serverVersion' AS vb FROM delta_since('keyed_bigint', NULL) d \gset
DELETE FROM keyed_bigint; DELETE FROM keyed_text; DELETE FROM keyed_uuid; DELETE FROM keyed_numeric;
SELECT t.tbl, e::text AS raw, json_typeof(e) AS type,
       (e #>> '{}') IN (SELECT id::text FROM keyed_bigint UNION ALL SELECT id FROM keyed_text
                        UNION ALL SELECT id::text FROM keyed_uuid UNION ALL SELECT id::text FROM keyed_numeric) AS is_pk_text,
       e::text = to_json((e #>> '{}'))::text AS escaped_like_to_json
  FROM unnest(ARRAY['keyed_bigint', 'keyed_text', 'keyed_uuid', 'keyed_numeric']::regclass[]) t(tbl),
       delta_since(t.tbl, :'vb') d, json_array_elements(d->'deleted') e
 ORDER BY 1, 2;

SELECT delta_sync.untrack(t) FROM unnest(ARRAY['fruit', 'keyed_bigint', 'keyed_text', 'keyed_uuid', 'keyed_numeric']::regclass[]) t;
DROP TABLE fruit, keyed_bigint, keyed_text, keyed_uuid, keyed_numeric;
