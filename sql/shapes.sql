-- Shapes (README, "Shapes"): delta_since(tbl, since, max_changes, page_size, columns, filter)
-- gives only the chosen columns (every key column always) of the rows that match the filter; a
-- row changed since the cursor that does not match now is reported deleted (when the cursor saw
-- it created); the filter is checked by the extension before it runs; a cursor belongs to its
-- shape.
\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE orders (id integer PRIMARY KEY, status text NOT NULL, qty integer NOT NULL,
                     price numeric NOT NULL, total numeric GENERATED ALWAYS AS (qty * price) STORED,
                     note text);
SELECT delta_sync.track('orders');
INSERT INTO orders (id, status, qty, price, note) VALUES
    (1, 'open', 1, 10, 'a'), (2, 'closed', 2, 10, 'b'), (3, 'open', 3, 10, 'c'),
    (4, 'open', 20, 10, 'd'), (5, 'closed', 1, 10, 'e');

-- ---------------------------------------------------------------------------------------------
-- A full sync of a shape: the matching rows, the chosen columns and the key, in table order.
-- ---------------------------------------------------------------------------------------------
SELECT d->'created' AS created, d->'fullResyncRequired' AS resync
  FROM delta_since('orders', NULL, columns => '{qty,status}', filter => $$status = 'open'$$) d;
-- The key comes along even when not asked for; duplicates and order make no difference.
SELECT d->'created' AS created
  FROM delta_since('orders', NULL, columns => '{note,note}', filter => 'id <= 2') d;
-- Only a key.
SELECT d->'created' AS created FROM delta_since('orders', NULL, columns => '{}', filter => 'id = 5') d;
-- Columns without a filter: every live row; a filter without columns: every column.
SELECT pg_temp.summary(d) FROM delta_since('orders', NULL, columns => '{id}') d;
SELECT json_object_keys(d->'created'->0) AS keys FROM delta_since('orders', NULL, filter => 'id = 1') d;

-- ---------------------------------------------------------------------------------------------
-- Point 1: what a delta of a shape holds
-- ---------------------------------------------------------------------------------------------
SELECT d->>'serverVersion' AS v0
  FROM delta_since('orders', NULL, columns => '{status}', filter => $$status = 'open'$$) d \gset

-- Move in (2 opens), move out (1 closes), created in the shape (6), created out of it (7: the
-- client never had it and hears nothing), created in and moved out before the pull (8: nothing),
-- an update of a row that stays out (5: deleted, a key the client never had: whether the row
-- matched before is not known, and deleting a key one does not have is a no-op) and one that
-- stays in (3: updated).
UPDATE orders SET status = 'open' WHERE id = 2;
UPDATE orders SET status = 'closed' WHERE id = 1;
INSERT INTO orders (id, status, qty, price) VALUES (6, 'open', 1, 1), (7, 'closed', 1, 1),
                                                    (8, 'open', 1, 1);
UPDATE orders SET status = 'closed' WHERE id = 8;
UPDATE orders SET note = 'still out' WHERE id = 5;
UPDATE orders SET note = 'still in' WHERE id = 3;
SELECT pg_temp.summary(d), d->'updated' AS updated
  FROM delta_since('orders', :'v0', columns => '{status}', filter => $$status = 'open'$$) d;
SELECT d->>'serverVersion' AS v1
  FROM delta_since('orders', :'v0', columns => '{status}', filter => $$status = 'open'$$) d \gset

-- Move out and back between two pulls: an update. Across pulls: deleted, then back as updated.
UPDATE orders SET status = 'closed' WHERE id = 3;
UPDATE orders SET status = 'open' WHERE id = 3;
SELECT pg_temp.summary(d)
  FROM delta_since('orders', :'v1', columns => '{status}', filter => $$status = 'open'$$) d;
UPDATE orders SET status = 'closed' WHERE id = 6;
SELECT d->>'serverVersion' AS v2, pg_temp.summary(d)
  FROM delta_since('orders', :'v1', columns => '{status}', filter => $$status = 'open'$$) d \gset
SELECT :'v2' <> '' AS pulled;
UPDATE orders SET status = 'open' WHERE id = 6;
SELECT pg_temp.summary(d)
  FROM delta_since('orders', :'v2', columns => '{status}', filter => $$status = 'open'$$) d;

-- Deleted while out of the shape: 1 left the shape at v1 (the client dropped it) and is deleted
-- now; it is reported deleted again (a key the client does not have: deleting it is a no-op).
-- 7 was never in the shape and the cursor saw it created: reported too, for the same reason.
DELETE FROM orders WHERE id IN (1, 7);
SELECT pg_temp.summary(d)
  FROM delta_since('orders', :'v2', columns => '{status}', filter => $$status = 'open'$$) d;

-- A filtered column changed by an update of another column: total is generated from qty.
SELECT d->>'serverVersion' AS v3, pg_temp.summary(d)
  FROM delta_since('orders', NULL, columns => '{total}', filter => 'total >= 100') d \gset
UPDATE orders SET qty = 1 WHERE id = 4;    -- 200 -> 10: out
UPDATE orders SET qty = 50 WHERE id = 2;   -- 20 -> 500: in
SELECT pg_temp.summary(d), d->'updated' AS updated
  FROM delta_since('orders', :'v3', columns => '{total}', filter => 'total >= 100') d;

-- A filter that is NULL for a row is "does not match" (note is NULL for 6).
SELECT pg_temp.summary(d) FROM delta_since('orders', NULL, filter => $$note <> 'x'$$) d;

-- ---------------------------------------------------------------------------------------------
-- The threshold and the pages count the shape's entries
-- ---------------------------------------------------------------------------------------------
CREATE TABLE many (id integer PRIMARY KEY, k integer NOT NULL);
SELECT delta_sync.track('many', max_changes => 5);
SELECT d->>'serverVersion' AS m0 FROM delta_since('many', NULL, filter => 'k = 1') d \gset
INSERT INTO many SELECT g, CASE WHEN g <= 3 THEN 1 ELSE 0 END FROM generate_series(1, 100) g;
-- 100 changes: the whole table's delta is refused, the shape's (3 rows) is not.
SELECT pg_temp.summary(d) FROM delta_since('many', :'m0') d;
SELECT pg_temp.summary(d) FROM delta_since('many', :'m0', filter => 'k = 1') d;
-- Over the threshold inside the shape too (also above 10,000: counted first, then streamed).
SELECT pg_temp.summary(d) FROM delta_since('many', :'m0', 2, filter => 'k = 1') d;
SELECT pg_temp.summary(d) FROM delta_since('many', :'m0', 20000, filter => 'k = 1') d;
SELECT pg_temp.summary(d) FROM delta_since('many', :'m0', 20000, 2, filter => 'k = 1') d;
-- Pages of a shape: 3 entries in pages of 2.
SELECT pg_temp.summary(d) FROM delta_since('many', :'m0', page_size => 2, filter => 'k = 1') d;
SELECT pg_temp.summary(d) FROM delta_since('many', NULL, page_size => 2, filter => 'k = 1') d;

-- ---------------------------------------------------------------------------------------------
-- Hard-delete mode: tombstones are reported to every shape (the key alone cannot be filtered)
-- ---------------------------------------------------------------------------------------------
CREATE TABLE hard (id integer PRIMARY KEY, k integer NOT NULL);
SELECT delta_sync.track('hard', deletes => 'hard');
INSERT INTO hard VALUES (1, 1), (2, 0), (3, 1);
SELECT d->>'serverVersion' AS h0 FROM delta_since('hard', NULL, columns => '{k}', filter => 'k = 1') d \gset
DELETE FROM hard WHERE id IN (1, 2);
UPDATE hard SET k = 0 WHERE id = 3;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'h0', columns => '{k}', filter => 'k = 1') d;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'h0', columns => '{k}', filter => 'k = 1', page_size => 1) d;

-- ---------------------------------------------------------------------------------------------
-- Point 2: the filter is checked before it runs; everything else is refused
-- ---------------------------------------------------------------------------------------------
CREATE TABLE written (x text);
CREATE FUNCTION public.volatile_f(integer) RETURNS boolean VOLATILE LANGUAGE sql AS 'SELECT $1 > 0';
CREATE FUNCTION public.writes(integer) RETURNS boolean VOLATILE LANGUAGE plpgsql AS
    $$BEGIN INSERT INTO public.written VALUES ('written by a filter'); RETURN true; END$$;
-- Declared immutable, though it writes: PostgreSQL refuses the write when it runs (a function
-- that is not volatile cannot write), so nothing is written either.
CREATE FUNCTION public.lying_writer(integer) RETURNS boolean IMMUTABLE LANGUAGE plpgsql AS
    $$BEGIN INSERT INTO public.written VALUES ('written by a filter'); RETURN true; END$$;
CREATE FUNCTION public.doubled(integer) RETURNS integer IMMUTABLE LANGUAGE sql AS 'SELECT $1 * 2';
CREATE SEQUENCE seq;

SELECT f AS filter, pg_temp.attempt(format('SELECT * FROM delta_since(%L, NULL, filter => %L)', 'orders', f)) AS outcome
  FROM unnest(ARRAY[
    -- subqueries, in every form
    $$status = (SELECT 'open')$$,
    $$EXISTS (SELECT 1 FROM pg_authid)$$,
    $$id IN (SELECT 1)$$,
    $$id = ANY (ARRAY(SELECT 1))$$,
    -- functions that are not immutable, and SQL value functions
    'now() > ''2000-01-01''',
    'random() < 0.5',
    'pg_sleep(1) IS NOT NULL',
    'public.volatile_f(id)',
    'public.writes(id)',
    $$nextval('public.seq') > 0$$,
    $$status = current_user$$,
    'current_date > ''2000-01-01''',
    'clock_timestamp() IS NOT NULL',
    $$created_at > '2000-01-01'::date$$,
    $$status::regclass IS NOT NULL$$,
    -- other constructs outside the whitelist
    'count(*) > 0',
    'row_number() OVER () > 0',
    'generate_series(1, id) > 0',
    'CASE WHEN id > 1 THEN true ELSE false END',
    '(id, qty) > (1, 1)',
    'orders IS NOT NULL',
    'ctid IS NOT NULL',
    'xmin IS NOT NULL',
    '$1 = 1',
    -- columns: unknown, internal, of another table
    'nope = 1',
    'delta_sync_changed_xid IS NOT NULL',
    'pg_class.relname = ''x''',
    -- not one boolean expression
    '',
    '   -- a comment only',
    'id',
    'id, qty',
    'id = 1 AS x',
    'id = 1 FROM pg_authid',
    'id = 1 WHERE true',
    'id = 1 ORDER BY 1',
    'id = 1 LIMIT 1',
    'id = 1 FOR UPDATE',
    'lower(',
    -- SQL injection through the text
    'true; DROP TABLE written',
    'true; DROP TABLE written; --',
    'true) OR (true',
    'true)) t; DROP TABLE written; --',
    $$status = 'x' UNION SELECT 1$$,
    $$status = '' OR ''=''$$ || '''',
    $$status = 'open'' OR 1=1 --'$$,
    'id = 1 /* comment */ ; DELETE FROM written',
    E'id = 1 \n; DELETE FROM written',
    '1=1) AS x FROM pg_authid --',
    $$id = 1 OR (SELECT count(*) FROM written) > 0$$,
    $$pg_catalog.set_config('search_path', 'x', false) IS NOT NULL$$,
    $$pg_read_file('/etc/passwd') IS NOT NULL$$,
    $$lo_import('/etc/passwd') > 0$$
  ]) f;
SELECT count(*) AS rows_written FROM written;
-- A quote inside a string literal is a quote inside a string literal: no row has that status.
SELECT pg_temp.summary(d) FROM delta_since('orders', NULL, filter => $$status = 'open'' OR 1=1 --'$$) d;
-- The immutable liar: refused by PostgreSQL when it runs; nothing written.
SELECT pg_temp.attempt($$SELECT * FROM delta_since('orders', NULL, filter => 'public.lying_writer(id)')$$);
SELECT count(*) AS rows_written FROM written;
-- SQLSTATE and message of the main refusals, with detail.
SELECT f AS filter, (pg_temp.attempt_details(format('SELECT * FROM delta_since(%L, NULL, filter => %L)', 'orders', f))).*
  FROM unnest(ARRAY['now() > ''2000-01-01''', 'random() < 0.5', 'pg_sleep(1) IS NOT NULL',
                    'public.volatile_f(id)', $$created_at > '2000-01-01'::date$$]) f;
-- A syntax error points into the filter, not into the calling statement.
\set VERBOSITY default
SELECT * FROM delta_since('orders', NULL, filter => 'id = = 1');
SELECT * FROM delta_since('orders', NULL, filter => 'status = (SELECT ''x'')');
\set VERBOSITY terse

-- Columns: unknown, internal, NULL, and injection through a name.
SELECT c::text AS columns, pg_temp.attempt(format('SELECT * FROM delta_since(%L, NULL, columns => %L)', 'orders', c)) AS outcome
  FROM unnest(ARRAY['{nope}', '{delta_sync_created_xid}', '{id,NULL}',
                    '{"id FROM orders; DROP TABLE written; --"}', '{ID}']::text[]) c;
SELECT count(*) AS still_there FROM written;

-- What is allowed: comparisons, IN, BETWEEN, LIKE/ILIKE, IS [NOT] NULL, IS DISTINCT FROM,
-- COALESCE, NULLIF, immutable casts and functions, ours qualified with their schema.
SELECT pg_temp.summary(d) FROM delta_since('orders', NULL, filter => $$
      id IN (2, 3, 4, 5, 6) AND status LIKE 'o%' AND note ILIKE '%I%' AND qty BETWEEN 1 AND 50
  AND note IS NOT NULL AND id IS DISTINCT FROM 99 AND coalesce(note, '') <> 'x'
  AND nullif(qty, 0) IS NOT NULL AND lower(status) = 'open' AND public.doubled(qty) > 1
  AND (qty::text)::integer > 0 AND NOT (price > 1000) AND status = ANY ('{open,closed}')
  AND created_at > '2000-01-01'::timestamptz AND (note IS NULL OR true) -- a comment
$$) d;
-- Names resolve in pg_catalog only (delta_since pins its search_path): a function of another
-- schema is named with its schema.
SELECT pg_temp.attempt($$SELECT * FROM delta_since('orders', NULL, filter => 'doubled(qty) > 1')$$);

-- Nothing the caller's search_path holds changes what the filter runs: operators and functions
-- that shadow the built-in ones are never called.
CREATE SCHEMA shadow;
CREATE FUNCTION shadow.lower(text) RETURNS text LANGUAGE plpgsql AS
    $$BEGIN RAISE EXCEPTION 'shadow lower called'; END$$;
CREATE FUNCTION shadow.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS
    $$BEGIN RAISE EXCEPTION 'shadow = called'; END$$;
CREATE OPERATOR shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = shadow.text_eq);
SET search_path = shadow, public, pg_catalog;
SELECT pg_temp.summary(d) FROM delta_since('orders', NULL, filter => $$lower(status) = 'open'$$) d;
RESET search_path;

-- ---------------------------------------------------------------------------------------------
-- Row-level security and privileges apply to a shape as to everything else
-- ---------------------------------------------------------------------------------------------
CREATE ROLE regress_shape_reader;
GRANT SELECT ON orders TO regress_shape_reader;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY even_ones ON orders FOR SELECT USING (id % 2 = 0);
SET ROLE regress_shape_reader;
SELECT pg_temp.summary(d) FROM delta_since('orders', NULL, filter => $$status = 'open'$$) d;
RESET ROLE;
ALTER TABLE orders DISABLE ROW LEVEL SECURITY;
DROP POLICY even_ones ON orders;

-- ---------------------------------------------------------------------------------------------
-- Point 3: a cursor belongs to its shape (another shape: fullResyncRequired)
-- ---------------------------------------------------------------------------------------------
SELECT d->>'serverVersion' AS s0
  FROM delta_since('orders', NULL, columns => '{status}', filter => $$status = 'open'$$) d \gset
SELECT d->>'serverVersion' AS u0 FROM delta_since('orders', NULL) d \gset
UPDATE orders SET note = 'n' WHERE id = 2;
-- The same shape, spelled otherwise (spaces, case of keywords, column order): a delta.
SELECT pg_temp.summary(d)
  FROM delta_since('orders', :'s0', columns => '{status,id,status}', filter => $$STATUS='open'$$) d;
-- Another filter, other columns, no shape at all: resync, answered with a cursor of the shape
-- asked for.
SELECT pg_temp.summary(d)
  FROM delta_since('orders', :'s0', columns => '{status}', filter => $$status = 'closed'$$) d;
SELECT pg_temp.summary(d)
  FROM delta_since('orders', :'s0', columns => '{status,note}', filter => $$status = 'open'$$) d;
SELECT pg_temp.summary(d) FROM delta_since('orders', :'s0', filter => $$status = 'open'$$) d;
SELECT pg_temp.summary(d) FROM delta_since('orders', :'s0') d;
-- A cursor without a shape used with one: resync; the unshaped cursor still works unshaped.
SELECT pg_temp.summary(d) FROM delta_since('orders', :'u0', filter => $$status = 'open'$$) d;
SELECT pg_temp.summary(d) FROM delta_since('orders', :'u0') d;
-- The resync's cursor is the new shape's: it gives deltas of that shape from then on.
SELECT d->>'serverVersion' AS r0
  FROM delta_since('orders', :'s0', columns => '{status}', filter => $$status = 'closed'$$) d \gset
UPDATE orders SET status = 'closed' WHERE id = 2;
SELECT pg_temp.summary(d)
  FROM delta_since('orders', :'r0', columns => '{status}', filter => $$status = 'closed'$$) d;
-- A shaped cursor that is altered is refused like any other (its checksum).
SELECT pg_temp.attempt(format('SELECT * FROM delta_since(%L, %L, filter => %L)', 'orders',
                              overlay(:'s0' placing 'A' from 20 for 1), 'status = ''open'''));
-- A filtered column that changes type: every older cursor resyncs (ALTER TABLE raises the
-- table's horizon), shaped or not.
SELECT d->>'serverVersion' AS t0 FROM delta_since('orders', NULL, filter => $$note > 'a'$$) d \gset
ALTER TABLE orders ALTER COLUMN note TYPE varchar(100);
SELECT pg_temp.summary(d) FROM delta_since('orders', :'t0', filter => $$note > 'a'$$) d;

-- ---------------------------------------------------------------------------------------------
-- A composite primary key: every key column is in every shape, and a row out of the shape is
-- reported in deleted by its key string (the compact JSON array of its key values, in key order)
-- ---------------------------------------------------------------------------------------------
-- The key's order (order_id, line_no) is not the table's.
CREATE TABLE lines (note text, line_no integer, order_id text, qty integer NOT NULL,
                    PRIMARY KEY (order_id, line_no));
SELECT delta_sync.track('lines');
INSERT INTO lines VALUES ('x', 1, 'a,b', 5), ('y', 2, 'a,b', 50), ('z', 1, 'c', 7), ('w', 3, 'c', 70);
-- Each bucket sorted by its text; records as they come (the key columns in the table's order).
CREATE FUNCTION pg_temp.buckets(d json) RETURNS text LANGUAGE sql AS $$
    SELECT format('created %s updated %s deleted %s resync %s',
        (SELECT coalesce(string_agg(e::text, ' ' ORDER BY e::text), '-') FROM json_array_elements(d->'created') e),
        (SELECT coalesce(string_agg(e::text, ' ' ORDER BY e::text), '-') FROM json_array_elements(d->'updated') e),
        (SELECT coalesce(string_agg(e::text, ' ' ORDER BY e::text), '-') FROM json_array_elements(d->'deleted') e),
        d->>'fullResyncRequired')
$$;
-- Only qty asked for, or no column at all: both key columns come along.
SELECT pg_temp.buckets(d) FROM delta_since('lines', NULL, columns => '{qty}', filter => 'qty < 10') d;
SELECT pg_temp.buckets(d) FROM delta_since('lines', NULL, columns => '{}', filter => $$order_id = 'c'$$) d;
SELECT d->>'serverVersion' AS k0
  FROM delta_since('lines', NULL, columns => '{qty}', filter => 'qty < 10') d \gset
UPDATE lines SET qty = 100 WHERE order_id = 'a,b' AND line_no = 1;  -- moves out
UPDATE lines SET qty = 3 WHERE order_id = 'a,b' AND line_no = 2;    -- moves in
UPDATE lines SET qty = 71 WHERE order_id = 'c' AND line_no = 3;     -- stays out
DELETE FROM lines WHERE order_id = 'c' AND line_no = 1;             -- deleted
INSERT INTO lines VALUES ('v', 9, 'd', 1);                          -- created in the shape
SELECT pg_temp.buckets(d) FROM delta_since('lines', :'k0', columns => '{qty}', filter => 'qty < 10') d;
-- In pages of one entry: the same entries (the pages sorted here by their text).
SELECT pg_temp.buckets(d)
  FROM delta_since('lines', :'k0', columns => '{qty}', filter => 'qty < 10', page_size => 1) d
 ORDER BY 1;
-- Each deleted string is the JSON array of the key values of its row, in key order.
SELECT k::json->>0 AS order_id, (k::json->>1)::integer AS line_no
  FROM delta_since('lines', :'k0', columns => '{qty}', filter => 'qty < 10') d,
       json_array_elements_text(d->'deleted') k
 ORDER BY 1, 2;

-- Hard-delete mode: the tombstones of a composite key (key_1, key_2), reported to the shape.
CREATE TABLE hard_lines (order_id integer, line_no integer, k integer NOT NULL,
                         PRIMARY KEY (order_id, line_no));
SELECT delta_sync.track('hard_lines', deletes => 'hard');
INSERT INTO hard_lines VALUES (1, 1, 1), (1, 2, 0), (2, 1, 1), (2, 2, 1);
SELECT d->>'serverVersion' AS hk0
  FROM delta_since('hard_lines', NULL, columns => '{k}', filter => 'k = 1') d \gset
DELETE FROM hard_lines WHERE (order_id, line_no) IN ((1, 1), (1, 2));
UPDATE hard_lines SET k = 0 WHERE order_id = 2 AND line_no = 1;
SELECT pg_temp.buckets(d) FROM delta_since('hard_lines', :'hk0', columns => '{k}', filter => 'k = 1') d;
SELECT pg_temp.buckets(d)
  FROM delta_since('hard_lines', :'hk0', columns => '{k}', filter => 'k = 1', page_size => 1) d
 ORDER BY 1;

DROP TABLE lines, hard_lines;
DROP TABLE orders, many, hard, written;
DROP FUNCTION public.volatile_f(integer), public.writes(integer), public.lying_writer(integer),
              public.doubled(integer);
DROP SEQUENCE seq;
DROP SCHEMA shadow CASCADE;
DROP ROLE regress_shape_reader;
