-- Partitioned tables: track() on the parent tracks every partition, present and future, and one
-- cursor on the parent serves them all. Rows moving between partitions (their key changes: the
-- primary key holds the partition key), partitions created, attached, detached, dropped and
-- truncated while a client holds a cursor, in soft- and hard-delete mode; a composite primary
-- key whose rows move between partitions.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

-- The delta_sync triggers of the tree: where, whether cloned from the parent, and enabled ALWAYS.
CREATE FUNCTION pg_temp.tree_triggers() RETURNS TABLE (tbl regclass, trigger name, cloned boolean, always boolean)
LANGUAGE sql AS $$
    SELECT tg.tgrelid::regclass, tg.tgname, tg.tgparentid <> 0, tg.tgenabled = 'A' FROM pg_trigger tg
     WHERE tg.tgname LIKE 'delta\_sync\_%' AND NOT tg.tgisinternal
       AND tg.tgrelid::regclass::text LIKE 'measurements%'
     ORDER BY tg.tgrelid::regclass::text, tg.tgname
$$;

-- Two levels: m_low, and m_high split again into m_high_a and m_high_b.
CREATE TABLE measurements (id integer PRIMARY KEY, v text) PARTITION BY RANGE (id);
CREATE TABLE measurements_low PARTITION OF measurements FOR VALUES FROM (0) TO (100);
CREATE TABLE measurements_high PARTITION OF measurements FOR VALUES FROM (100) TO (200)
    PARTITION BY RANGE (id);
CREATE TABLE measurements_high_a PARTITION OF measurements_high FOR VALUES FROM (100) TO (150);
CREATE TABLE measurements_high_b PARTITION OF measurements_high FOR VALUES FROM (150) TO (200);
INSERT INTO measurements SELECT g, 'v' || g FROM generate_series(1, 5) g;
INSERT INTO measurements SELECT g, 'v' || g FROM generate_series(101, 103) g;
INSERT INTO measurements VALUES (151, 'v151');

SELECT delta_sync.track('measurements');
-- Which partition each row is in, and whether it is soft-deleted.
CREATE FUNCTION pg_temp.placement() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(format('%s:%s%s', id, tableoid::regclass, CASE WHEN deleted_at IS NOT NULL THEN '(deleted)' ELSE '' END),
                      ' ' ORDER BY id) FROM measurements
$$;
SELECT * FROM pg_temp.tree_triggers();
-- A partition alone is refused: it is tracked with its parent.
SELECT pg_temp.attempt('SELECT delta_sync.track(''measurements_low'')') AS partition_alone;
SELECT pg_temp.attempt('SELECT delta_sync.track(''measurements_high'')') AS inner_partition_alone;
SELECT pg_temp.attempt('SELECT delta_since(''measurements_low'')') AS partition_delta;

SELECT pg_temp.summary(d) FROM delta_since('measurements') d;
SELECT d->>'serverVersion' AS v0 FROM delta_since('measurements') d \gset

-- Soft-delete mode. An update in place; a row moved from measurements_low to measurements_high_a
-- (PostgreSQL: a DELETE in the old partition, an INSERT in the new) arrives under its new key as
-- created, its old key as deleted; one moved between the sub-partitions likewise; a delete through
-- the parent and one on a partition directly are soft deletes.
UPDATE measurements SET v = 'changed' WHERE id = 1;
UPDATE measurements SET id = 120, v = 'moved' WHERE id = 2;
UPDATE measurements SET id = 160 WHERE id = 101;
DELETE FROM measurements WHERE id = 3;
DELETE FROM measurements_high_a WHERE id = 102;
SELECT pg_temp.placement();
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v0') d;
SELECT d->>'serverVersion' AS v1 FROM delta_since('measurements') d \gset
-- Several rows moved by one statement, some staying: each moved key deleted, each new key created.
-- (4 moves low -> high_a, 5 stays in low, 103 moves high_a -> high_b, 151 stays in high_b)
UPDATE measurements SET id = CASE id WHEN 4 THEN 104 WHEN 5 THEN 55 WHEN 103 THEN 153 ELSE 152 END
 WHERE id IN (4, 5, 103, 151);
SELECT pg_temp.placement();
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v1') d;
-- A soft-deleted row moved stays deleted: its new key reaches nobody (new to every cursor), its
-- old key is told deleted once more (a cursor from before the soft delete must hear of it).
UPDATE measurements SET id = 110 WHERE id = 3;
SELECT pg_temp.placement();
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v1') d;
-- A key change inside one partition is delivered the same way (in a partitioned table, in both modes).
UPDATE measurements SET id = 6 WHERE id = 1;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v1') d;
-- A move that fails (no partition for the new key) changes nothing, tombstones included.
SELECT pg_temp.attempt('UPDATE measurements SET id = 500 WHERE id = 6') AS no_partition;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v1') d;
-- A move in a subtransaction rolled back leaves no trace either.
BEGIN;
SAVEPOINT s;
UPDATE measurements SET id = 130 WHERE id = 6;
ROLLBACK TO SAVEPOINT s;
DELETE FROM measurements WHERE id = 6;
COMMIT;
SELECT pg_temp.placement();
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v1') d;

-- A partition created while a client holds a cursor: the cursor stays valid and receives the new
-- partition's rows, written through the parent or into the partition itself.
SELECT d->>'serverVersion' AS v2 FROM delta_since('measurements') d \gset
CREATE TABLE measurements_mid PARTITION OF measurements FOR VALUES FROM (200) TO (300);
SELECT * FROM pg_temp.tree_triggers() WHERE tbl = 'measurements_mid'::regclass;
INSERT INTO measurements VALUES (201, 'new partition');
INSERT INTO measurements_mid VALUES (202, 'directly');
UPDATE measurements SET id = 203 WHERE id = 120;
DELETE FROM measurements_mid WHERE id = 202;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v2') d;
-- A partition of a partition, created later, too.
CREATE TABLE measurements_high_c PARTITION OF measurements_high DEFAULT;
SELECT * FROM pg_temp.tree_triggers() WHERE tbl = 'measurements_high_c'::regclass;

-- Attached while a client holds a cursor: the attached table's rows join the parent's view
-- without versions, so older cursors resync; the full sync has them.
SELECT d->>'serverVersion' AS v3 FROM delta_since('measurements') d \gset
CREATE TABLE measurements_top (LIKE measurements INCLUDING DEFAULTS);
INSERT INTO measurements_top (id, v) VALUES (301, 'attached'), (302, 'attached');
ALTER TABLE measurements ATTACH PARTITION measurements_top FOR VALUES FROM (300) TO (400);
SELECT * FROM pg_temp.tree_triggers() WHERE tbl = 'measurements_top'::regclass;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v3') d;
SELECT pg_temp.summary(d) FROM delta_since('measurements') d;
-- Rows written there afterwards are versioned as any.
SELECT d->>'serverVersion' AS v4 FROM delta_since('measurements') d \gset
UPDATE measurements_top SET v = 'updated' WHERE id = 301;
DELETE FROM measurements_top WHERE id = 302;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v4') d;

-- Detached while a client holds a cursor: its rows leave the parent's view, so older cursors
-- resync (none of its keys is kept by a client that follows the document); the full sync lacks
-- them. The detached table loses every delta_sync trigger and deletes for real again.
SELECT d->>'serverVersion' AS v5 FROM delta_since('measurements') d \gset
ALTER TABLE measurements DETACH PARTITION measurements_top;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v5') d;
SELECT pg_temp.summary(d) FROM delta_since('measurements') d;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'measurements_top'::regclass;
DELETE FROM measurements_top WHERE id = 301;
SELECT count(*) AS left_in_detached FROM measurements_top;
-- A detached sub-partition likewise.
SELECT d->>'serverVersion' AS v6 FROM delta_since('measurements') d \gset
ALTER TABLE measurements_high DETACH PARTITION measurements_high_c;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v6') d;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'measurements_high_c'::regclass;

-- Dropped or truncated while a client holds a cursor: older cursors resync; those of another
-- partitioned table do not (by DROP TABLE, or DROP SCHEMA ... CASCADE of a partition's schema).
CREATE TABLE bystander (id integer PRIMARY KEY) PARTITION BY LIST (id);
CREATE TABLE bystander_1 PARTITION OF bystander FOR VALUES IN (1);
CREATE TABLE bystander_2 PARTITION OF bystander FOR VALUES IN (2);
SELECT delta_sync.track('bystander');
SELECT d->>'serverVersion' AS v7 FROM delta_since('measurements') d \gset
SELECT d->>'serverVersion' AS b7 FROM delta_since('bystander') d \gset
DROP TABLE measurements_mid;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v7') d;
SELECT pg_temp.summary(d) FROM delta_since('bystander', :'b7') d;
CREATE SCHEMA elsewhere;
CREATE TABLE elsewhere.bystander_3 PARTITION OF bystander FOR VALUES IN (3);
INSERT INTO bystander VALUES (3);
SELECT d->>'serverVersion' AS v8 FROM delta_since('measurements') d \gset
SELECT d->>'serverVersion' AS b8 FROM delta_since('bystander') d \gset
DROP SCHEMA elsewhere CASCADE;
SELECT pg_temp.summary(d) FROM delta_since('bystander', :'b8') d;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v8') d;
SELECT d->>'serverVersion' AS v9 FROM delta_since('measurements') d \gset
TRUNCATE measurements_high_b;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'v9') d;
SELECT pg_temp.placement();

-- A tracked table cannot become a partition: of an untracked parent (refused here), or of a
-- tracked one (PostgreSQL refuses: the parent's triggers cannot be cloned into it).
CREATE TABLE other_parent (LIKE measurements INCLUDING DEFAULTS) PARTITION BY RANGE (id);
CREATE TABLE loner (LIKE measurements INCLUDING DEFAULTS);
ALTER TABLE loner ADD PRIMARY KEY (id);
SELECT delta_sync.track('loner');
SELECT pg_temp.attempt('ALTER TABLE other_parent ATTACH PARTITION loner FOR VALUES FROM (0) TO (10)') AS attach_tracked;
SELECT pg_temp.attempt('ALTER TABLE measurements ATTACH PARTITION loner FOR VALUES FROM (400) TO (500)') AS attach_tracked_to_tracked;

-- Hard-delete mode: moves as in soft mode; deletes through the parent and on a partition
-- directly leave tombstones.
INSERT INTO measurements SELECT g, 'v' || g FROM generate_series(10, 14) g;
SELECT delta_sync.track('measurements', deletes => 'hard');
SELECT * FROM pg_temp.tree_triggers() WHERE trigger IN ('delta_sync_key_change', 'delta_sync_soft_delete');
SELECT d->>'serverVersion' AS h0 FROM delta_since('measurements') d \gset
UPDATE measurements SET id = 140 WHERE id = 10;
UPDATE measurements SET id = 15 WHERE id = 11;
DELETE FROM measurements WHERE id = 12;
DELETE FROM measurements_low WHERE id = 13;
SELECT pg_temp.placement();
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'h0') d;
SELECT key FROM measurements_delta_sync_tombstones ORDER BY key;
-- A key moved back where it was: created again, never deleted after it.
SELECT d->>'serverVersion' AS h1 FROM delta_since('measurements') d \gset
UPDATE measurements SET id = 10 WHERE id = 140;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'h1') d;
SELECT pg_temp.summary(d) FROM delta_since('measurements', :'h0') d;

-- wait() sees writes to any partition, through the parent or not.
SELECT d->>'serverVersion' AS w0 FROM delta_since('measurements') d \gset
SELECT delta_sync.wait(ARRAY['measurements'::regclass], ARRAY[:'w0'], '0 s') AS unchanged;
INSERT INTO measurements_high_a VALUES (149, 'direct');
SELECT delta_sync.wait(ARRAY['measurements'::regclass], ARRAY[:'w0'], '0 s') AS changed;

-- purge() reaches the partitions (soft mode again, a row soft-deleted, then purged).
SELECT delta_sync.track('measurements', deletes => 'soft');
DELETE FROM measurements WHERE id = 149;
UPDATE measurements SET deleted_at = now() - interval '1 day' WHERE deleted_at IS NOT NULL;
SELECT delta_sync.purge('measurements', older_than => '1 hour') AS purged;
SELECT count(*) AS soft_deleted_left FROM measurements WHERE deleted_at IS NOT NULL;

-- untrack takes every delta_sync trigger off the tree.
SELECT delta_sync.untrack('measurements');
SELECT * FROM pg_temp.tree_triggers();
SELECT count(*) AS registry_rows FROM delta_sync.tracked WHERE relid = 'measurements'::regclass;

DROP TABLE measurements, measurements_top, measurements_high_c, other_parent, loner, bystander;

-- A composite primary key, the usual case: PostgreSQL requires the partition key in the primary
-- key, so a table partitioned by region is keyed by (id, region). A row moving to another
-- partition (its region changes) is a key change: delivered as the old key deleted (the JSON
-- array of its values) and the row created under its new key, in soft- and hard-delete mode; so
-- is a change of the other key column, or of both.
CREATE TABLE readings (id integer, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE readings_eu PARTITION OF readings FOR VALUES IN ('eu');
CREATE TABLE readings_us PARTITION OF readings FOR VALUES IN ('us, "west"');
CREATE TABLE readings_other PARTITION OF readings DEFAULT;
INSERT INTO readings VALUES (1, 'eu', 'a'), (2, 'eu', 'b'), (3, 'us, "west"', 'c'), (4, 'eu', 'd'),
                            (5, 'eu', 'e'), (6, 'eu', 'f'), (7, 'us, "west"', 'g');
SELECT delta_sync.track('readings');
-- The tombstone table has one column per key column.
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
 WHERE a.attrelid = 'readings_delta_sync_tombstones'::regclass AND a.attname LIKE 'key%' ORDER BY a.attnum;
-- Keys as id/region, in each bucket; deleted as sent.
CREATE FUNCTION pg_temp.rsummary(d json) RETURNS text LANGUAGE sql AS $$
    SELECT format('created [%s] updated [%s] deleted [%s] resync %s',
        (SELECT string_agg((e->>'id') || '/' || (e->>'region'), ' ' ORDER BY (e->>'id')::int, e->>'region')
           FROM json_array_elements(d->'created') e),
        (SELECT string_agg((e->>'id') || '/' || (e->>'region'), ' ' ORDER BY (e->>'id')::int, e->>'region')
           FROM json_array_elements(d->'updated') e),
        (SELECT string_agg(e #>> '{}', ' ' ORDER BY e #>> '{}') FROM json_array_elements(d->'deleted') e),
        d->>'fullResyncRequired')
$$;
CREATE FUNCTION pg_temp.rplacement() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(format('%s/%s:%s%s', id, region, tableoid::regclass,
                             CASE WHEN deleted_at IS NOT NULL THEN '(deleted)' ELSE '' END),
                      ' ' ORDER BY id, region) FROM readings
$$;
SELECT d->>'serverVersion' AS r0 FROM delta_since('readings') d \gset
-- Soft-delete mode: moves eu -> us and us -> the default partition, a change of id inside a
-- partition, a change of both columns (and partition), an update in place, a soft delete.
UPDATE readings SET region = 'us, "west"' WHERE id = 1;
UPDATE readings SET region = 'asia', v = 'moved' WHERE id = 3;
UPDATE readings SET id = 20 WHERE id = 2 AND region = 'eu';
UPDATE readings SET id = 40, region = 'asia' WHERE id = 4;
UPDATE readings SET v = 'changed' WHERE id = 7;
DELETE FROM readings WHERE id = 5;
SELECT pg_temp.rplacement();
SELECT pg_temp.rsummary(d) FROM delta_since('readings', :'r0') d;
-- The deleted strings are the keys' JSON arrays, their values as the records write them.
SELECT e #>> '{}' AS deleted, (e #>> '{}')::json->>0 AS id, (e #>> '{}')::json->>1 AS region
  FROM delta_since('readings', :'r0') d, json_array_elements(d->'deleted') e ORDER BY 1;
-- The soft delete reaches a client as deleted too, under its composite key.
SELECT d->>'serverVersion' AS r1 FROM delta_since('readings') d \gset
DELETE FROM readings_us WHERE id = 1;
SELECT pg_temp.rsummary(d) FROM delta_since('readings', :'r1') d;
-- An ordinary table with a composite key still refuses a key change in soft-delete mode.
CREATE TABLE plain_readings (id integer, region text, PRIMARY KEY (id, region));
INSERT INTO plain_readings VALUES (1, 'eu');
SELECT delta_sync.track('plain_readings');
SELECT pg_temp.attempt('UPDATE plain_readings SET region = ''us'' WHERE id = 1') AS plain_key_change;

-- Hard-delete mode: moves as in soft mode; deletes through the parent and on a partition
-- directly leave tombstones of both key columns.
SELECT delta_sync.track('readings', deletes => 'hard');
SELECT d->>'serverVersion' AS rh0 FROM delta_since('readings') d \gset
UPDATE readings SET region = 'eu' WHERE id = 40;
UPDATE readings SET id = 60 WHERE id = 6;
UPDATE readings SET id = 70, region = 'eu' WHERE id = 7;
DELETE FROM readings WHERE id = 20;
DELETE FROM readings_other WHERE id = 3;
SELECT pg_temp.rplacement();
SELECT pg_temp.rsummary(d) FROM delta_since('readings', :'rh0') d;
SELECT key_1, key_2 FROM readings_delta_sync_tombstones ORDER BY key_1, key_2;
-- A key moved away and back: the row is created again, its key never deleted after it.
SELECT d->>'serverVersion' AS rh1 FROM delta_since('readings') d \gset
UPDATE readings SET region = 'asia' WHERE id = 60;
UPDATE readings SET region = 'eu' WHERE id = 60;
SELECT pg_temp.rsummary(d) FROM delta_since('readings', :'rh1') d;

SELECT delta_sync.untrack('readings');
DROP TABLE readings, plain_readings;
