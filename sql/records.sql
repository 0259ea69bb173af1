-- Records (docs/design.md §1): each record is to_json(row) minus the internal columns, byte for byte.
-- The comparison happens in SQL: json_array_elements() returns each record's text exactly as
-- delta_since wrote it, and to_json() of a sub-select listing the table's columns (all but
-- delta_sync_created_xid and delta_sync_changed_xid, in table order) is the reference.
-- Only booleans are printed, plus both texts when they differ.

CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 100);
CREATE TYPE mood AS ENUM ('happy', 'sad', 'with "quotes"');
CREATE TYPE pair AS (n integer, t text);

CREATE TABLE rec (
    id integer PRIMARY KEY,
    c_int integer, c_bigint bigint, c_smallint smallint, c_numeric numeric, c_numeric_scaled numeric(12, 4),
    c_float8 float8, c_float4 real, c_text text, c_bool boolean,
    c_timestamptz timestamptz, c_timestamp timestamp, c_date date, c_time time, c_timetz timetz,
    c_json json, c_jsonb jsonb, c_int_array integer[], c_text_array text[], c_2d_array integer[],
    c_uuid uuid, c_bytea bytea, c_interval interval, c_varchar varchar(20), c_char char(5),
    c_domain_int posint, c_domain_text short_text, c_enum mood, c_composite pair,
    c_inet inet, c_money money, c_point point, c_xml xml, c_tsvector tsvector, c_bit bit varying(8),
    c_range int4range, c_oid oid,
    "Quote""d & ünïcode col" text,
    to_be_dropped text
);
ALTER TABLE rec DROP COLUMN to_be_dropped;
SELECT delta_sync.track('rec');
-- A column added after tracking sits after the internal columns.
ALTER TABLE rec ADD COLUMN c_added_later text;

-- Every control character 1..31, quotes, backslashes, DEL, U+2028/2029, non-BMP emoji.
SELECT string_agg(chr(i), '' ORDER BY i) AS controls FROM generate_series(1, 31) i \gset

INSERT INTO rec (id, c_int, c_bigint, c_smallint, c_numeric, c_numeric_scaled, c_float8, c_float4, c_text, c_bool,
                 c_timestamptz, c_timestamp, c_date, c_time, c_timetz, c_json, c_jsonb, c_int_array, c_text_array,
                 c_2d_array, c_uuid, c_bytea, c_interval, c_varchar, c_char, c_domain_int, c_domain_text, c_enum,
                 c_composite, c_inet, c_money, c_point, c_xml, c_tsvector, c_bit, c_range, c_oid,
                 "Quote""d & ünïcode col", c_added_later)
VALUES
 (1, 1, 9007199254740993, 1, 12345.678, 1.5, 1.5, 1.5, 'plain', true,
  '2024-01-02 03:04:05.123456+00', '2024-01-02 03:04:05', '2024-01-02', '12:34:56', '12:34:56+02',
  '{"a" : [1, 2 ],  "b":"x"}', '{"b": 1, "a": [true, null], "c": {"d": 1.50}}', '{1,NULL,3}', '{"a",NULL,"b c","d\"e"}',
  '{{1,2},{3,NULL}}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\x00ff10', '1 year 2 mons 3 days 04:05:06.7', 'abc', 'ab',
  5, 'hi', 'happy', ROW(1, 'x'), '192.168.0.1/24', 12.34, '(1.5,2)', '<a b="c">d</a>', 'a fat cat', B'101', '[1,10)', 42,
  'q', 'later'),
 (2, -2147483648, 9223372036854775807, -32768, (10::numeric ^ 400) + 0.5, -99999999.9999, 'Infinity', '-Infinity',
  'say "hi" \ back\\slash / ' || :'controls', false,
  'infinity', '-infinity', 'infinity', '00:00:00', '23:59:59-12',
  '"just a string"', '[]', '{}', '{NULL}',
  '{{NULL,NULL},{NULL,NULL}}', '00000000-0000-0000-0000-000000000000', '\x', '-1 days -00:00:01', 'with "quote"', '',
  2147483647, '', 'with "quotes"', ROW(NULL, 'q"\'), '::1', -0.01, '(0,0)', '<x/>', '', B'', 'empty', 0,
  E'\\', ''),
 (3, 0, -9223372036854775808, 0, 'NaN', 0, '-Infinity', 'NaN',
  'emoji 🍓🧪 and ünïcödé, DEL ' || chr(127) || ' line sep ' || chr(8232) || chr(8233) || ' end', NULL,
  '-infinity', 'infinity', '-infinity', '24:00:00', '00:00:00+00',
  'null', '{"x": "é\u00e9\n", "": 0}', '{-1,2147483647}', '{"",NULL," ",""}',
  '[0:1][0:0]={{7},{8}}', NULL, '\xdeadbeef', '0', 'ünï', 'a', 1, 'x', 'sad', ROW(NULL, NULL), NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL),
 (4, NULL, 9007199254740992, NULL, '-0.000000001', NULL, 'NaN', '1e-38', 'x', NULL,
  '0001-01-01 00:00:00+00 BC', '1999-12-31 23:59:59.999999', '0044-03-15 BC', NULL, NULL,
  '[1, 2, 3]', 'null', '{NULL,NULL}', NULL,
  NULL, NULL, NULL, '178000000 years', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL),
 (5, NULL, NULL, NULL, '1e-300', NULL, '-0', '-0', NULL, NULL, '2000-02-29 12:00:00-08', NULL, NULL, NULL, NULL,
  '{"dup": 1, "dup": 2}', '{"n": -0, "big": 123456789012345678901234567890}', NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (6, NULL, NULL, NULL, '-1e300', NULL, 1e-300, 3.4e38, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  '1e400', '1e400', NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (7, NULL, NULL, NULL, 'Infinity', NULL, 1.7976931348623157e308, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (8, NULL, NULL, NULL, '-Infinity', NULL, 0.1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

-- The reference: to_json of the row without the internal columns, columns in table order.
CREATE FUNCTION pg_temp.reference() RETURNS TABLE (id integer, txt text) LANGUAGE plpgsql AS $$
DECLARE cols text;
BEGIN
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
      FROM pg_attribute a
     WHERE a.attrelid = 'rec'::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN ('delta_sync_created_xid', 'delta_sync_changed_xid');
    RETURN QUERY EXECUTE format('SELECT r.id, to_json(r)::text FROM (SELECT %s FROM rec) r', cols);
END $$;

-- Whole records, byte for byte, in one bucket of the documents delta_since returns.
CREATE FUNCTION pg_temp.records_equal(docs json[], bucket text)
RETURNS TABLE (id integer, equal boolean, got text, want text) LANGUAGE sql AS $$
    SELECT r.id, g.txt = r.txt, CASE WHEN g.txt IS DISTINCT FROM r.txt THEN g.txt END,
           CASE WHEN g.txt IS DISTINCT FROM r.txt THEN r.txt END
      FROM pg_temp.reference() r
      LEFT JOIN (SELECT (e->>'id')::int AS id, e::text AS txt
                   FROM unnest(docs) d, json_array_elements(d->bucket) e) g ON g.id = r.id
     ORDER BY r.id
$$;

-- Column by column (json_each of a json value returns each value's text as written), over all
-- rows: one line per column, both texts where they differ.
CREATE FUNCTION pg_temp.columns_equal(docs json[], bucket text)
RETURNS TABLE (pos bigint, col text, equal boolean, mismatches text) LANGUAGE sql AS $$
    SELECT w.pos, w.key, bool_and(g.key IS NOT DISTINCT FROM w.key AND g.value::text IS NOT DISTINCT FROM w.value::text),
           string_agg(format('id %s: got %s, want %s', r.id, g.value, w.value), '; ' ORDER BY r.id)
             FILTER (WHERE g.key IS DISTINCT FROM w.key OR g.value::text IS DISTINCT FROM w.value::text)
      FROM pg_temp.reference() r
      JOIN (SELECT (e->>'id')::int AS id, e FROM unnest(docs) d, json_array_elements(d->bucket) e) rec ON rec.id = r.id
      CROSS JOIN LATERAL json_each(r.txt::json) WITH ORDINALITY w(key, value, pos)
      LEFT JOIN LATERAL json_each(rec.e) WITH ORDINALITY g(key, value, pos) ON g.pos = w.pos
     GROUP BY w.pos, w.key
     ORDER BY w.pos
$$;

-- Initial sync: the created bucket.
SELECT array_agg(d) AS docs FROM delta_since('rec', NULL) d \gset
SELECT * FROM pg_temp.columns_equal(:'docs', 'created');
SELECT * FROM pg_temp.records_equal(:'docs', 'created');
-- The record has exactly the table's columns but the internal ones, and nothing else.
SELECT count(*) AS keys, count(*) FILTER (WHERE k LIKE 'delta_sync%') AS internal_keys
  FROM unnest(:'docs'::json[]) d, json_array_elements(d->'created') e, json_object_keys(e) k WHERE e->>'id' = '1';

-- The comparison is byte-exact: a record that differs only in JSON whitespace is caught.
SELECT array_agg(replace(d::text, '{"a" : [1, 2 ],  "b":"x"}', '{"a":[1,2],"b":"x"}')::json) AS bad
  FROM unnest(:'docs'::json[]) d \gset
SELECT col, equal, mismatches FROM pg_temp.columns_equal(:'bad', 'created') WHERE NOT equal;
SELECT id, equal FROM pg_temp.records_equal(:'bad', 'created') WHERE NOT equal;

-- Some of the texts, for the reader: escapes, special numbers, infinite dates.
SELECT e->>'id' AS id, e->'c_text' AS c_text FROM unnest(:'docs'::json[]) d, json_array_elements(d->'created') e
 WHERE e->>'id' = '2';
-- (the BC timestamptz of id 4 is left out: its offset depends on the tzdata version)
SELECT e->>'id' AS id, e->'c_float8' AS c_float8, e->'c_float4' AS c_float4,
       CASE WHEN e->>'id' <> '4' THEN e->'c_timestamptz' END AS c_timestamptz,
       e->'c_date' AS c_date, e->'c_bigint' AS c_bigint
  FROM unnest(:'docs'::json[]) d, json_array_elements(d->'created') e ORDER BY (e->>'id')::int;
SELECT e->>'id' AS id, e->'c_numeric' AS c_numeric FROM unnest(:'docs'::json[]) d, json_array_elements(d->'created') e
 WHERE e->>'id' <> '2' ORDER BY (e->>'id')::int;

-- The updated bucket, through the same encoder, and pages.
SELECT d->>'serverVersion' AS v FROM delta_since('rec', NULL) d \gset
UPDATE rec SET c_int = c_int;
SELECT array_agg(d) AS docs FROM delta_since('rec', :'v') d \gset
SELECT bool_and(equal) AS all_columns_equal, string_agg(mismatches, '; ') AS mismatches
  FROM pg_temp.columns_equal(:'docs', 'updated');
SELECT bool_and(equal) AS all_records_equal, count(*) AS records FROM pg_temp.records_equal(:'docs', 'updated');
SELECT array_agg(d) AS docs FROM delta_since('rec', NULL, page_size => 3) d \gset
SELECT cardinality(:'docs'::json[]) AS pages, bool_and(equal) AS all_records_equal, count(*) AS records
  FROM pg_temp.records_equal(:'docs', 'created');

-- A column type change after tracking is picked up by the next call.
ALTER TABLE rec ALTER COLUMN c_smallint TYPE numeric;
SELECT array_agg(d) AS docs FROM delta_since('rec', NULL) d \gset
SELECT bool_and(equal) AS all_records_equal, count(*) AS records FROM pg_temp.records_equal(:'docs', 'created');

SELECT delta_sync.untrack('rec');
DROP TABLE rec;
DROP TYPE pair;
DROP TYPE mood;
DROP DOMAIN short_text;
DROP DOMAIN posint;
