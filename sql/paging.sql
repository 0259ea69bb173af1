-- page_size (docs/design.md §5): several documents, each with at most page_size entries across its three
-- buckets, all with one serverVersion, all read from one snapshot.

CREATE TABLE big (id integer PRIMARY KEY, payload text);
SELECT delta_sync.track('big');
INSERT INTO big SELECT g, repeat('x', g % 17) FROM generate_series(1, 10000) g;

-- 10,000 rows in pages of 1,000: ten documents, each of 1,000 created rows, every id exactly
-- once, one serverVersion, no resync.
CREATE TEMP TABLE pages AS
    SELECT row_number() OVER () AS page, d FROM delta_since('big', NULL, page_size => 1000) d;
SELECT count(*) AS pages,
       min(json_array_length(d->'created')) AS min_created, max(json_array_length(d->'created')) AS max_created,
       sum(json_array_length(d->'updated') + json_array_length(d->'deleted')) AS others,
       count(DISTINCT d->>'serverVersion') AS server_versions,
       bool_or((d->>'fullResyncRequired')::boolean) AS any_resync
  FROM pages;
SELECT count(*) AS records, count(DISTINCT (e->>'id')::int) AS distinct_ids,
       min((e->>'id')::int) AS min_id, max((e->>'id')::int) AS max_id
  FROM pages, json_array_elements(d->'created') e;
-- In one statement (one snapshot) the paged cursor is the unpaged one.
SELECT (SELECT count(DISTINCT d->>'serverVersion') FROM delta_since('big', NULL, page_size => 1000) d) AS paged_versions,
       (SELECT DISTINCT d->>'serverVersion' FROM delta_since('big', NULL, page_size => 1000) d)
     = (SELECT d->>'serverVersion' FROM delta_since('big', NULL) d) AS same_as_unpaged;
SELECT DISTINCT d->>'serverVersion' AS v0 FROM pages \gset
-- The pages together are the unpaged document's records, byte for byte.
SELECT (SELECT string_agg(e::text, E'\n' ORDER BY (e->>'id')::int) FROM pages, json_array_elements(d->'created') e)
     = (SELECT string_agg(e::text, E'\n' ORDER BY (e->>'id')::int) FROM delta_since('big', NULL) d, json_array_elements(d->'created') e)
       AS pages_equal_unpaged;

-- Page sizes that do not divide the table: the last page is short; one row per page works.
SELECT count(*) AS pages, sum(json_array_length(d->'created')) AS records,
       max(json_array_length(d->'created')) AS largest, min(json_array_length(d->'created')) AS smallest
  FROM delta_since('big', NULL, page_size => 3000) d;
SELECT count(*) AS pages, sum(json_array_length(d->'created')) AS records
  FROM delta_since('big', NULL, page_size => 10000) d;
SELECT count(*) AS pages, sum(json_array_length(d->'created')) AS records
  FROM delta_since('big', NULL, page_size => 1000000) d;

-- A delta over pages: the three buckets share each page's budget.
UPDATE big SET payload = 'changed' WHERE id % 10 = 0;          -- 1000 updated
DELETE FROM big WHERE id % 10 = 5;                              -- 1000 deleted
INSERT INTO big SELECT g, 'new' FROM generate_series(10001, 10500) g;  -- 500 created
CREATE TEMP TABLE delta_pages AS
    SELECT row_number() OVER () AS page, d FROM delta_since('big', :'v0', max_changes => 5000, page_size => 700) d;
SELECT page, json_array_length(d->'created') + json_array_length(d->'updated') + json_array_length(d->'deleted') AS entries
  FROM delta_pages ORDER BY page;
SELECT sum(json_array_length(d->'created')) AS created, sum(json_array_length(d->'updated')) AS updated,
       sum(json_array_length(d->'deleted')) AS deleted, count(DISTINCT d->>'serverVersion') AS server_versions
  FROM delta_pages;
SELECT count(DISTINCT id) AS distinct_ids, count(*) AS entries FROM (
    SELECT (e->>'id')::int AS id FROM delta_pages, json_array_elements(d->'created') e
    UNION ALL SELECT (e->>'id')::int FROM delta_pages, json_array_elements(d->'updated') e
    UNION ALL SELECT (e #>> '{}')::int FROM delta_pages, json_array_elements(d->'deleted') e) s;
SELECT bool_and(page_buckets_ok) AS buckets_right FROM (
    SELECT (e->>'id')::int > 10000 AS page_buckets_ok FROM delta_pages, json_array_elements(d->'created') e
    UNION ALL SELECT (e->>'id')::int % 10 = 0 FROM delta_pages, json_array_elements(d->'updated') e
    UNION ALL SELECT (e #>> '{}')::int % 10 = 5 FROM delta_pages, json_array_elements(d->'deleted') e) s;

-- A full sync over pages leaves the deleted rows out.
SELECT count(*) AS pages, sum(json_array_length(d->'created')) AS records
  FROM delta_since('big', NULL, page_size => 1000) d;

-- An empty table: one empty page with a cursor. An empty delta: one empty page too.
CREATE TABLE empty (id integer PRIMARY KEY);
SELECT delta_sync.track('empty');
SELECT count(*) AS pages FROM delta_since('empty', NULL, page_size => 1000) d;
SELECT regexp_replace(d::text, '"serverVersion":"[A-Za-z0-9_-]+"', '"serverVersion":"…"') AS doc
  FROM delta_since('empty', NULL, page_size => 1000) d;
SELECT d->>'serverVersion' AS ve FROM delta_since('empty', NULL) d \gset
SELECT regexp_replace(d::text, '"serverVersion":"[A-Za-z0-9_-]+"', '"serverVersion":"…"') AS doc
  FROM delta_since('empty', :'ve', page_size => 1) d;

-- Exactly page_size rows: one page (no trailing empty page).
INSERT INTO empty VALUES (1), (2);
SELECT count(*) AS pages, sum(json_array_length(d->'created')) AS records FROM delta_since('empty', :'ve', page_size => 2) d;
SELECT count(*) AS pages, sum(json_array_length(d->'created')) AS records FROM delta_since('empty', :'ve', page_size => 1) d;
SELECT count(*) AS pages, sum(json_array_length(d->'created')) AS records FROM delta_since('empty', NULL, page_size => 2) d;

-- Reading only the first page (LIMIT) ends the call cleanly; the next call is unaffected.
SELECT json_array_length(d->'created') AS first_page FROM delta_since('big', NULL, page_size => 100) d LIMIT 1;
SELECT count(*) AS pages FROM delta_since('big', NULL, page_size => 1000) d;
-- Two paged calls in one statement, interleaved.
SELECT count(*) AS pairs FROM delta_since('big', NULL, page_size => 3000) a, delta_since('empty', NULL, page_size => 1) b;

SELECT delta_sync.untrack('big');
SELECT delta_sync.untrack('empty');
DROP TABLE big, empty, pages, delta_pages;
