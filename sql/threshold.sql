-- The threshold (docs/design.md §5): more than max_changes changes → one document with empty buckets,
-- fullResyncRequired true and the current serverVersion; exactly max_changes → the delta.

CREATE FUNCTION pg_temp.shape(d json) RETURNS text LANGUAGE sql AS $$
    SELECT format('created %s updated %s deleted %s resync %s cursor %s',
        json_array_length(d->'created'), json_array_length(d->'updated'),
        json_array_length(d->'deleted'), d->>'fullResyncRequired',
        CASE WHEN d->>'serverVersion' ~ '^[A-Za-z0-9_-]+$' THEN 'ok' ELSE 'BAD' END)
$$;
-- The document with its cursor masked: the exact text of a refusal.
CREATE FUNCTION pg_temp.masked(d json) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(d::text, '"serverVersion":"[A-Za-z0-9_-]+"', '"serverVersion":"…"')
$$;

CREATE TABLE stock (id integer PRIMARY KEY, qty integer NOT NULL DEFAULT 0);
SELECT delta_sync.track('stock', max_changes => 5);
INSERT INTO stock SELECT g FROM generate_series(1, 20) g;
SELECT d->>'serverVersion' AS v0 FROM delta_since('stock', NULL) d \gset

-- The initial sync is never refused, whatever the threshold.
SELECT pg_temp.shape(d) FROM delta_since('stock', NULL) d;
SELECT pg_temp.shape(d) FROM delta_since('stock', NULL, max_changes => 1) d;

-- Exactly 5 changes (one of each kind, two updates of one row count once): the delta.
INSERT INTO stock (id) VALUES (21), (22);
UPDATE stock SET qty = 1 WHERE id = 1;
UPDATE stock SET qty = 2 WHERE id = 1;
UPDATE stock SET qty = 1 WHERE id = 2;
DELETE FROM stock WHERE id = 3;
-- A row created and deleted after the cursor is not a change the client hears of: not counted.
INSERT INTO stock (id) VALUES (100), (101);
DELETE FROM stock WHERE id >= 100;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0') d;

-- One more: 6 > 5, refused.
UPDATE stock SET qty = 1 WHERE id = 4;
SELECT count(*) AS rows FROM delta_since('stock', :'v0');
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0') d;
SELECT pg_temp.masked(d) FROM delta_since('stock', :'v0') d;

-- The refusal's serverVersion is the current one: the client resyncs, and from that cursor the
-- delta is empty (and the full sync it does meanwhile has the same rows).
SELECT d->>'serverVersion' AS vr FROM delta_since('stock', :'v0') d \gset
SELECT pg_temp.shape(d) FROM delta_since('stock', :'vr') d;
SELECT (SELECT d->>'serverVersion' FROM delta_since('stock', :'v0') d)
     = (SELECT d->>'serverVersion' FROM delta_since('stock', NULL) d) AS same_cursor_as_full_sync;

-- Per-call max_changes overrides the table's setting, both ways.
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0', max_changes => 6) d;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0', max_changes => 1000) d;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0', max_changes => 5) d;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0', max_changes => 1) d;
SELECT d->>'serverVersion' AS v1 FROM delta_since('stock', :'v0', max_changes => 6) d \gset
UPDATE stock SET qty = 9 WHERE id = 9;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v1', max_changes => 1) d;
UPDATE stock SET qty = 10 WHERE id = 10;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v1', max_changes => 1) d;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v1', max_changes => 2) d;

-- The table's setting changes with track; the default is 1000. track without max_changes keeps it.
SELECT delta_sync.track('stock', max_changes => 1);
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v1') d;
SELECT delta_sync.track('stock');
SELECT max_changes FROM delta_sync.tracked WHERE relid = 'stock'::regclass;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v1') d;
SELECT delta_sync.track('stock', max_changes => 1000);
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0') d;
-- 22 changes (2 created, 19 updated, 1 deleted; updating deleted rows 3, 100, 101 adds none),
-- then 978 more rows: exactly the default 1000 → the delta; one more → refused.
UPDATE stock SET qty = qty + 1;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0') d;
INSERT INTO stock (id) SELECT g FROM generate_series(1001, 1978) g;
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0') d;
INSERT INTO stock (id) VALUES (1979);
SELECT pg_temp.shape(d) FROM delta_since('stock', :'v0') d;

-- Paging does not change the threshold: a refusal is still one document.
SELECT count(*) AS rows, bool_and((d->>'fullResyncRequired')::boolean) AS resync
  FROM delta_since('stock', :'v0', page_size => 10) d;
SELECT count(*) AS rows, sum(json_array_length(d->'created') + json_array_length(d->'updated')
                             + json_array_length(d->'deleted')) AS entries
  FROM delta_since('stock', :'v0', max_changes => 1001, page_size => 100) d;

SELECT delta_sync.untrack('stock');
DROP TABLE stock;
