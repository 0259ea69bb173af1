-- Every statement the benchmarks time, by name (bench.py reads this file). {t} is the table;
-- %(name)s are parameters. Results are reduced to a number in the server (pg_column_size reads a
-- value's header only), so no figure includes shipping JSON to the benchmark's client.
-- delta_since is called in the select list: in FROM, a function scan first copies every document
-- into a tuplestore, and a sub-select around it costs another copy of each document.

-- ---------------------------------------------------------------------------------------------
-- Full snapshot: every live row as JSON, and PostgreSQL's own best over the same rows and columns
-- (the record columns: the user's and the three timestamps, not the internal xid8 versions).
-- ---------------------------------------------------------------------------------------------

-- name: snapshot_delta_since
SELECT pg_column_size(delta_since('{t}', NULL));

-- One number per page.
-- name: snapshot_delta_since_paged
SELECT pg_column_size(delta_since('{t}', NULL, page_size => %(page_size)s));

-- name: snapshot_copy
COPY (SELECT id, name, price, stock, tags, attrs, created_at, updated_at, deleted_at
      FROM {t} WHERE deleted_at IS NULL) TO '/dev/null';

-- name: snapshot_to_json
SELECT sum(pg_column_size(to_json(s))) FROM (
    SELECT id, name, price, stock, tags, attrs, created_at, updated_at, deleted_at
    FROM {t} WHERE deleted_at IS NULL) s;

-- name: snapshot_json_agg
SELECT pg_column_size(json_agg(s)) FROM (
    SELECT id, name, price, stock, tags, attrs, created_at, updated_at, deleted_at
    FROM {t} WHERE deleted_at IS NULL) s;

-- ---------------------------------------------------------------------------------------------
-- Deltas
-- ---------------------------------------------------------------------------------------------

-- The current cursor without reading the table: the first page of one row of a full snapshot.
-- name: cursor_now
SELECT d->>'serverVersion' FROM (SELECT delta_since('{t}', NULL, page_size => 1) AS d LIMIT 1) s;

-- name: delta
SELECT pg_column_size(delta_since('{t}', %(cursor)s));

-- A shape: the rows matching a filter (bench_shapes).
-- name: cursor_now_shaped
SELECT d->>'serverVersion' FROM (SELECT delta_since('{t}', NULL, page_size => 1, filter => %(filter)s) AS d LIMIT 1) s;

-- name: delta_shaped
SELECT pg_column_size(delta_since('{t}', %(cursor)s, filter => %(filter)s));

-- name: delta_check_shaped
SELECT json_array_length(d->'created'), json_array_length(d->'updated'),
       json_array_length(d->'deleted'), (d->>'fullResyncRequired')::boolean
FROM delta_since('{t}', %(cursor)s, filter => %(filter)s) d;

-- An empty delta, through a prepared statement: $1 is a cursor nothing changed since.
-- name: empty_delta
SELECT pg_column_size(delta_since('{t}', $1))

-- The same 1,000 times in one execution: the cost of a call without the client's round trip.
-- name: empty_delta_loop
SELECT count(pg_column_size(d)) FROM (SELECT delta_since('{t}', $1) AS d FROM generate_series(1, 1000)) s

-- name: delta_check
SELECT json_array_length(d->'created'), json_array_length(d->'updated'),
       json_array_length(d->'deleted'), (d->>'fullResyncRequired')::boolean
FROM delta_since('{t}', %(cursor)s) d;

-- The seed's endpoint (schema.sql: seed_delta) with its timestamp cursor.
-- name: seed_delta
SELECT pg_column_size(seed_delta('{t}', %(since)s));

-- name: seed_delta_check
SELECT json_array_length(d->'created'), json_array_length(d->'updated'),
       json_array_length(d->'deleted'), (d->>'fullResyncRequired')::boolean
FROM seed_delta('{t}', %(since)s) d;

-- name: change_rows
UPDATE {t} SET stock = stock + 1 WHERE id = ANY (%(ids)s);

-- name: change_many
UPDATE {t} SET stock = stock + 1 WHERE mod(id, 10) < 3;

-- name: refuse
SELECT pg_column_size(delta_since('{t}', %(cursor)s, max_changes => 1000));

-- name: seq_scan
SELECT count(*) FROM {t};

-- ---------------------------------------------------------------------------------------------
-- Bulk writes: every row once (schema.sql: bench_write_tables)
-- ---------------------------------------------------------------------------------------------

-- name: bulk_tracked
UPDATE w_tracked SET stock = stock + 1;

-- name: bulk_moddatetime
UPDATE w_moddatetime SET stock = stock + 1;

-- name: bulk_plpgsql
UPDATE w_plpgsql SET stock = stock + 1;

-- name: bulk_none
UPDATE w_none SET stock = stock + 1, updated_at = now(), delta_sync_changed_xid = pg_current_xact_id();

-- ---------------------------------------------------------------------------------------------
-- The client's first sync is compared with psql copying the same rows to a file over the socket.
-- ---------------------------------------------------------------------------------------------

-- name: client_copy
\copy (SELECT id, name, price, stock, tags, attrs, created_at, updated_at, deleted_at FROM {t} WHERE deleted_at IS NULL) TO '{file}'
