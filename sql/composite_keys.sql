-- Composite primary keys: tables keyed by two and three columns of mixed types, through every
-- bucket, paging, the threshold, purge and hard-delete mode's tombstones. In "deleted" a
-- composite key is one string: the compact JSON array of its values in key order, each written
-- as the record writes it; it is checked here against the records themselves.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

SET TimeZone = 'UTC';

-- The key of a record as "deleted" writes it, built from the record's own JSON values (-> keeps
-- each value's text as the record has it): '[' value ',' value ... ']' in key order.
CREATE FUNCTION pg_temp.record_key(r json, key_columns text[]) RETURNS text LANGUAGE sql AS $$
    SELECT '[' || string_agg((r -> c)::text, ',' ORDER BY n) || ']'
      FROM unnest(key_columns) WITH ORDINALITY k(c, n)
$$;

-- One line per document: the keys in each bucket (records by record_key, deleted as sent), sorted.
CREATE FUNCTION pg_temp.keys(d json, key_columns text[]) RETURNS text LANGUAGE sql AS $$
    SELECT format(E'created %s\nupdated %s\ndeleted %s\nresync %s',
        (SELECT coalesce(string_agg(k, ' ' ORDER BY k COLLATE "C"), '-')
           FROM (SELECT pg_temp.record_key(e, key_columns) FROM json_array_elements(d->'created') e) s(k)),
        (SELECT coalesce(string_agg(k, ' ' ORDER BY k COLLATE "C"), '-')
           FROM (SELECT pg_temp.record_key(e, key_columns) FROM json_array_elements(d->'updated') e) s(k)),
        (SELECT coalesce(string_agg(k, ' ' ORDER BY k COLLATE "C"), '-')
           FROM (SELECT e #>> '{}' FROM json_array_elements(d->'deleted') e) s(k)),
        d->>'fullResyncRequired')
$$;

-- Two columns, key order unlike column order: (label text, order_no numeric).
CREATE TABLE order_lines (order_no numeric, label text, qty integer,
                          PRIMARY KEY (label, order_no));
-- Three columns: (sensor uuid, taken_at timestamptz, seq numeric), and a non-key value.
CREATE TABLE readings (sensor uuid, taken_at timestamptz, seq numeric, reading double precision,
                       PRIMARY KEY (sensor, taken_at, seq));
INSERT INTO order_lines VALUES
    (17, 'a,b', 1), (17.50, 'a,b', 2), (2, 'say "hi"', 3), (3, 'back\slash', 4),
    (4, 'x', 5), (5, 'x', 6), (6, '[1,"2"]', 7);
INSERT INTO readings VALUES
    ('00000000-0000-0000-0000-000000000001', '2024-01-02 03:04:05.123456+00', 1, 0.5),
    ('00000000-0000-0000-0000-000000000001', '2024-01-02 03:04:05.123456+00', 1.5, 0.25),
    ('00000000-0000-0000-0000-000000000001', '2024-06-30 23:59:59+00', 1, 1e300),
    ('ffffffff-ffff-ffff-ffff-ffffffffffff', '2024-01-02 03:04:05.123456+00', 1, -0.0);
SELECT delta_sync.track('order_lines');
SELECT delta_sync.track('readings');
-- The tombstone tables have one column per key column, in key order.
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
  FROM delta_sync.tracked t JOIN pg_attribute a ON a.attrelid = t.tombstones
 WHERE t.relid = 'readings'::regclass AND a.attnum > 0 ORDER BY a.attnum;

-- A full sync: every row created.
SELECT pg_temp.keys(d, '{label,order_no}') FROM delta_since('order_lines') d;
SELECT pg_temp.keys(d, '{sensor,taken_at,seq}') FROM delta_since('readings') d;
CREATE TEMP TABLE before_lines AS SELECT e AS record FROM delta_since('order_lines') d, json_array_elements(d->'created') e;
CREATE TEMP TABLE before_readings AS SELECT e AS record FROM delta_since('readings') d, json_array_elements(d->'created') e;
SELECT d->>'serverVersion' AS lines_v0 FROM delta_since('order_lines') d \gset
SELECT d->>'serverVersion' AS readings_v0 FROM delta_since('readings') d \gset

-- Every bucket: created, updated, deleted.
INSERT INTO order_lines VALUES (17, 'new', 8);
UPDATE order_lines SET qty = 10 WHERE label = 'x' AND order_no = 4;
DELETE FROM order_lines WHERE label IN ('a,b', 'say "hi"', 'back\slash', '[1,"2"]') AND order_no <> 17.50;
INSERT INTO readings VALUES ('00000000-0000-0000-0000-000000000002', '2024-01-02 03:04:05.123456+00', 3, 1);
UPDATE readings SET reading = 2 WHERE seq = 1.5;
DELETE FROM readings WHERE sensor = 'ffffffff-ffff-ffff-ffff-ffffffffffff' OR taken_at = '2024-06-30 23:59:59+00';
SELECT pg_temp.keys(d, '{label,order_no}') FROM delta_since('order_lines', :'lines_v0') d;
SELECT pg_temp.keys(d, '{sensor,taken_at,seq}') FROM delta_since('readings', :'readings_v0') d;
-- The deleted strings are JSON arrays whose elements are the records' key values.
SELECT e #>> '{}' AS deleted, json_typeof((e #>> '{}')::json) AS is_a, json_array_length((e #>> '{}')::json) AS values
  FROM delta_since('order_lines', :'lines_v0') d, json_array_elements(d->'deleted') e ORDER BY 1;

-- Each deleted string is the key built from the record of that row in the full sync, and every
-- row deleted is there: checked against the records, not against written-out text.
WITH deleted AS (
    SELECT e #>> '{}' AS k FROM delta_since('order_lines', :'lines_v0') d, json_array_elements(d->'deleted') e
), gone AS (
    SELECT pg_temp.record_key(record, '{label,order_no}') AS k FROM before_lines b
     WHERE NOT EXISTS (SELECT 1 FROM order_lines l WHERE l.deleted_at IS NULL
                          AND l.label = b.record->>'label' AND l.order_no = (b.record->>'order_no')::numeric)
)
SELECT (SELECT count(*) FROM deleted) AS deleted, (SELECT count(*) FROM gone) AS rows_gone,
       (SELECT count(*) FROM deleted FULL JOIN gone USING (k) WHERE deleted.k IS NULL OR gone.k IS NULL) AS mismatches;
WITH deleted AS (
    SELECT e #>> '{}' AS k FROM delta_since('readings', :'readings_v0') d, json_array_elements(d->'deleted') e
), gone AS (
    SELECT pg_temp.record_key(record, '{sensor,taken_at,seq}') AS k FROM before_readings b
     WHERE NOT EXISTS (SELECT 1 FROM readings r WHERE r.deleted_at IS NULL
                          AND r.sensor = (b.record->>'sensor')::uuid
                          AND r.taken_at = (b.record->>'taken_at')::timestamptz
                          AND r.seq = (b.record->>'seq')::numeric)
)
SELECT (SELECT count(*) FROM deleted) AS deleted, (SELECT count(*) FROM gone) AS rows_gone,
       (SELECT count(*) FROM deleted FULL JOIN gone USING (k) WHERE deleted.k IS NULL OR gone.k IS NULL) AS mismatches;
-- Read back as JSON, a deleted key gives the key columns' values again.
SELECT (k->>0)::uuid AS sensor, (k->>1)::timestamptz AS taken_at, (k->>2)::numeric AS seq
  FROM (SELECT (e #>> '{}')::json AS k FROM delta_since('readings', :'readings_v0') d,
               json_array_elements(d->'deleted') e) s ORDER BY 1, 2, 3;

-- Soft-delete mode refuses to change a key column (any of them), and lets a soft-deleted key be
-- inserted again: it reaches clients as created.
SELECT pg_temp.attempt($$UPDATE order_lines SET order_no = 18 WHERE label = 'new'$$) AS key_change_soft;
SELECT pg_temp.attempt($$UPDATE readings SET seq = 9 WHERE seq = 1.5$$) AS third_column_change_soft;
INSERT INTO order_lines VALUES (2, 'say "hi"', 30);
SELECT pg_temp.keys(d, '{label,order_no}') FROM delta_since('order_lines', :'lines_v0') d;

-- Paging: 300 rows sharing their first key columns, in pages of 7 that cut across them.
INSERT INTO readings
SELECT '00000000-0000-0000-0000-00000000000a', '2025-01-01 00:00:00+00'::timestamptz + (g / 10) * interval '1 second', g % 10, g
  FROM generate_series(1, 300) g;
CREATE TEMP TABLE pages AS
    SELECT row_number() OVER () AS page, d FROM delta_since('readings', NULL, page_size => 7) d;
SELECT count(*) AS pages, max(json_array_length(d->'created')) AS largest,
       count(DISTINCT d->>'serverVersion') AS server_versions
  FROM pages;
SELECT count(*) AS records, count(DISTINCT pg_temp.record_key(e, '{sensor,taken_at,seq}')) AS distinct_keys,
       (SELECT count(*) FROM readings WHERE deleted_at IS NULL) AS live_rows
  FROM pages, json_array_elements(d->'created') e;
SELECT (SELECT string_agg(e::text, E'\n' ORDER BY e::text COLLATE "C") FROM pages, json_array_elements(d->'created') e)
     = (SELECT string_agg(e::text, E'\n' ORDER BY e::text COLLATE "C") FROM delta_since('readings') d, json_array_elements(d->'created') e)
       AS pages_equal_unpaged;
SELECT DISTINCT d->>'serverVersion' AS readings_v1 FROM pages \gset
-- A paged delta: deletions and updates of rows on both sides of key boundaries.
DELETE FROM readings WHERE sensor = '00000000-0000-0000-0000-00000000000a' AND seq IN (0, 9);
UPDATE readings SET reading = -reading WHERE sensor = '00000000-0000-0000-0000-00000000000a' AND seq = 5;
CREATE TEMP TABLE delta_pages AS
    SELECT row_number() OVER () AS page, d FROM delta_since('readings', :'readings_v1', page_size => 7) d;
SELECT count(*) AS pages,
       max(json_array_length(d->'created') + json_array_length(d->'updated') + json_array_length(d->'deleted')) AS largest,
       sum(json_array_length(d->'updated')) AS updated, sum(json_array_length(d->'deleted')) AS deleted,
       (SELECT count(*) FROM readings WHERE deleted_at IS NOT NULL AND seq IN (0, 9)) AS rows_deleted
  FROM delta_pages;
SELECT count(*) AS deleted_entries, count(DISTINCT e #>> '{}') AS distinct_deleted,
       count(*) FILTER (WHERE NOT EXISTS (
           SELECT 1 FROM readings r WHERE r.deleted_at IS NOT NULL
              AND pg_temp.record_key(json_build_object('sensor', r.sensor, 'taken_at', r.taken_at, 'seq', r.seq),
                                     '{sensor,taken_at,seq}') = e #>> '{}')) AS not_a_deleted_row
  FROM delta_pages, json_array_elements(d->'deleted') e;

-- The threshold: more changes than max_changes is a resync with empty buckets.
SELECT d->>'serverVersion' AS readings_v2 FROM delta_since('readings') d \gset
UPDATE readings SET reading = 0 WHERE sensor = '00000000-0000-0000-0000-00000000000a' AND seq = 1;
SELECT pg_temp.keys(d, '{sensor,taken_at,seq}') FROM delta_since('readings', :'readings_v2', max_changes => 29) d;
SELECT json_array_length(d->'updated') AS updated, d->>'fullResyncRequired' AS resync
  FROM delta_since('readings', :'readings_v2', max_changes => 30) d;
SELECT delta_sync.track('readings', max_changes => 10);
SELECT d->>'fullResyncRequired' AS resync_at_table_threshold FROM delta_since('readings', :'readings_v2') d;
SELECT delta_sync.track('readings', max_changes => 1000);

-- Purge: old soft-deleted rows of both tables go; cursors that could have missed them resync.
SELECT d->>'serverVersion' AS readings_v3 FROM delta_since('readings') d \gset
UPDATE readings SET deleted_at = now() - interval '40 days' WHERE deleted_at IS NOT NULL;
SELECT d->>'serverVersion' AS readings_v4 FROM delta_since('readings') d \gset
SELECT delta_sync.purge('readings') AS purged_readings, delta_sync.purge('order_lines', '0 seconds') AS purged_lines;
SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL) AS soft_deleted_left, count(*) AS rows_left FROM readings;
SELECT d->>'fullResyncRequired' AS resync_before_purged FROM delta_since('readings', :'readings_v2') d;
SELECT d->>'fullResyncRequired' AS resync_after_purged FROM delta_since('readings', :'readings_v4') d;

-- Hard-delete mode: tombstones carry every key column; a key change is the old key deleted and
-- the row created under the new one.
SELECT delta_sync.track('order_lines', deletes => 'hard');
SELECT d->>'serverVersion' AS lines_v1 FROM delta_since('order_lines') d \gset
CREATE TEMP TABLE before_hard AS SELECT e AS record FROM delta_since('order_lines') d, json_array_elements(d->'created') e;
DELETE FROM order_lines WHERE label = 'a,b';
UPDATE order_lines SET order_no = 99 WHERE label = 'x' AND order_no = 5;
UPDATE order_lines SET label = 'y, "z"' WHERE label = 'x' AND order_no = 4;
SELECT pg_temp.keys(d, '{label,order_no}') FROM delta_since('order_lines', :'lines_v1') d;
SELECT key_1, key_2 FROM order_lines_delta_sync_tombstones ORDER BY 1, 2;
WITH deleted AS (
    SELECT e #>> '{}' AS k FROM delta_since('order_lines', :'lines_v1') d, json_array_elements(d->'deleted') e
), gone AS (
    SELECT pg_temp.record_key(record, '{label,order_no}') AS k FROM before_hard b
     WHERE NOT EXISTS (SELECT 1 FROM order_lines l
                        WHERE l.label = b.record->>'label' AND l.order_no::text = b.record->>'order_no')
)
SELECT (SELECT count(*) FROM deleted) AS deleted, (SELECT count(*) FROM gone) AS rows_gone,
       (SELECT count(*) FROM deleted FULL JOIN gone USING (k) WHERE deleted.k IS NULL OR gone.k IS NULL) AS mismatches;
-- A deleted key inserted again is that row's to report, never deleted.
INSERT INTO order_lines VALUES (17.50, 'a,b', 1);
SELECT pg_temp.keys(d, '{label,order_no}') FROM delta_since('order_lines', :'lines_v1') d;
-- The tombstones are purged like soft-deleted rows.
UPDATE order_lines_delta_sync_tombstones SET deleted_at = now() - interval '40 days';
SELECT delta_sync.purge('order_lines') AS purged_tombstones;
SELECT count(*) AS tombstones_left FROM order_lines_delta_sync_tombstones;
SELECT d->>'fullResyncRequired' AS resync_after_tombstone_purge FROM delta_since('order_lines', :'lines_v1') d;

-- A primary key replaced after tracking (every cursor resyncs, as after any ALTER TABLE): the
-- tombstone table no longer fits, which delta_since and a DELETE say, until track() replaces it.
CREATE TABLE rekeyed (a integer PRIMARY KEY, b text, n integer);
INSERT INTO rekeyed VALUES (1, 'x', 1), (1 + 1, 'y, "z"', 2), (3, 'w', 3);
SELECT delta_sync.track('rekeyed', deletes => 'hard');
DELETE FROM rekeyed WHERE a = 3;
ALTER TABLE rekeyed DROP CONSTRAINT rekeyed_pkey, ADD PRIMARY KEY (b, a);
SELECT * FROM pg_temp.attempt_details($$SELECT * FROM delta_since('rekeyed')$$);
SELECT * FROM pg_temp.attempt_details($$DELETE FROM rekeyed WHERE a = 1$$);
SELECT delta_sync.track('rekeyed');
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
  FROM delta_sync.tracked t JOIN pg_attribute a ON a.attrelid = t.tombstones
 WHERE t.relid = 'rekeyed'::regclass AND a.attnum > 0 AND a.attname LIKE 'key%' ORDER BY a.attnum;
SELECT d->>'serverVersion' AS rekeyed_v0 FROM delta_since('rekeyed') d \gset
DELETE FROM rekeyed WHERE a = 2;
UPDATE rekeyed SET a = 10 WHERE a = 1;
SELECT pg_temp.keys(d, '{b,a}') FROM delta_since('rekeyed', :'rekeyed_v0') d;
-- A key replaced by one of the same types: the tombstone table fits, and track() moves the
-- key-change trigger to the new key's columns.
ALTER TABLE rekeyed ADD COLUMN c text NOT NULL DEFAULT 'c', ADD COLUMN d integer NOT NULL DEFAULT 0;
ALTER TABLE rekeyed DROP CONSTRAINT rekeyed_pkey, ADD PRIMARY KEY (c, d);
SELECT delta_sync.track('rekeyed');
SELECT d->>'serverVersion' AS rekeyed_v1 FROM delta_since('rekeyed') d \gset
UPDATE rekeyed SET d = 5;
SELECT pg_temp.keys(d, '{c,d}') FROM delta_since('rekeyed', :'rekeyed_v1') d;
DROP TABLE rekeyed;

SELECT delta_sync.untrack('order_lines');
SELECT delta_sync.untrack('readings');
DROP TABLE order_lines, readings;
