-- The two ways delta_since applies max_changes: up to 10,000 the delta is read by one query with
-- LIMIT max_changes + 1 and its pages built at once; above, the changes are counted first (the
-- count stops at max_changes + 1) and the pages streamed. Both must agree at the boundary.

CREATE TABLE bulk (id integer PRIMARY KEY, v text);
SELECT delta_sync.track('bulk');
SELECT d->>'serverVersion' AS v0 FROM delta_since('bulk') d \gset
INSERT INTO bulk SELECT g, 'row ' || g FROM generate_series(1, 10002) g;

CREATE FUNCTION pg_temp.outcome(docs json[]) RETURNS text LANGUAGE sql AS $$
    SELECT format('%s document(s), %s created, %s distinct ids, resync %s, %s serverVersion(s)',
                  cardinality(docs),
                  (SELECT sum(json_array_length(d->'created')) FROM unnest(docs) d),
                  (SELECT count(DISTINCT e->>'id') FROM unnest(docs) d, json_array_elements(d->'created') e),
                  (SELECT string_agg(DISTINCT d->>'fullResyncRequired', ',') FROM unnest(docs) d),
                  (SELECT count(DISTINCT d->>'serverVersion') FROM unnest(docs) d))
$$;

-- Counted path (max_changes above 10,000): exactly max_changes is a delta, one more is refused.
SELECT pg_temp.outcome(array_agg(d)) AS counted_exact FROM delta_since('bulk', :'v0', max_changes => 10002) d;
SELECT pg_temp.outcome(array_agg(d)) AS counted_over FROM delta_since('bulk', :'v0', max_changes => 10001) d;
SELECT pg_temp.outcome(array_agg(d)) AS counted_over_paged FROM delta_since('bulk', :'v0', max_changes => 10001, page_size => 4000) d;
SELECT pg_temp.outcome(array_agg(d)) AS counted_paged FROM delta_since('bulk', :'v0', max_changes => 20000, page_size => 4000) d;

-- One-query path (max_changes up to 10,000).
SELECT pg_temp.outcome(array_agg(d)) AS limited_over FROM delta_since('bulk', :'v0', max_changes => 10000) d;
SELECT pg_temp.outcome(array_agg(d)) AS limited_over_paged FROM delta_since('bulk', :'v0', max_changes => 10000, page_size => 4000) d;
DELETE FROM bulk WHERE id > 9000;  -- soft deletes of rows the v0 client never had: no change for it
SELECT pg_temp.outcome(array_agg(d)) AS limited_exact_paged FROM delta_since('bulk', :'v0', max_changes => 9000, page_size => 4000) d;
SELECT pg_temp.outcome(array_agg(d)) AS limited_exact FROM delta_since('bulk', :'v0', max_changes => 9000) d;
SELECT pg_temp.outcome(array_agg(d)) AS limited_one_over FROM delta_since('bulk', :'v0', max_changes => 8999) d;
-- A page size that divides the delta exactly: no empty page after the last full one.
SELECT pg_temp.outcome(array_agg(d)) AS limited_even_pages FROM delta_since('bulk', :'v0', max_changes => 9000, page_size => 3000) d;
-- Stopping early (LIMIT) ends the call cleanly on both paths.
SELECT count(*) AS first_page_only FROM (SELECT d FROM delta_since('bulk', :'v0', max_changes => 9000, page_size => 100) d LIMIT 1) s;
SELECT count(*) AS first_page_only FROM (SELECT d FROM delta_since('bulk', :'v0', max_changes => 20000, page_size => 100) d LIMIT 1) s;

SELECT delta_sync.untrack('bulk');
DROP TABLE bulk;
