-- The scan of a paged delta_since belongs to the call alone: no portal of it is listed in
-- pg_cursors (so none can be closed, fetched from or replaced), it is closed when the caller
-- stops early, and it survives what the caller's own cursor survives: WITH HOLD over COMMIT,
-- ROLLBACK TO SAVEPOINT, a PL/pgSQL exception block. Cursor positions are not transactional in
-- PostgreSQL, so after a rollback the next FETCH gives the next page.

CREATE TABLE scanned (id integer PRIMARY KEY, v text);
SELECT delta_sync.track('scanned');
INSERT INTO scanned SELECT g, 'v' || g FROM generate_series(1, 10) g;
CREATE ROLE regress_ds_scan_reader;
GRANT SELECT ON scanned TO regress_ds_scan_reader;

CREATE FUNCTION pg_temp.ids(d json) RETURNS text LANGUAGE sql AS $$
    SELECT coalesce(string_agg(e->>'id', ',' ORDER BY (e->>'id')::int), '') FROM json_array_elements(d->'created') e
$$;
-- The ids of every page left in a cursor, page by page.
CREATE FUNCTION pg_temp.drain(c refcursor) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d json; pages text[] := '{}';
BEGIN
    LOOP
        FETCH c INTO d;
        EXIT WHEN NOT FOUND;
        pages := pages || pg_temp.ids(d);
    END LOOP;
    RETURN array_to_string(pages, ' | ');
END $$;

SET ROLE regress_ds_scan_reader;

-- Only the caller's cursor is listed, and the next page still comes after a statement that
-- closes every other cursor of the session.
BEGIN;
DECLARE outer_cursor CURSOR FOR SELECT delta_since('scanned', NULL, page_size => 3);
SELECT pg_temp.ids(d) FROM (SELECT delta_since('scanned', NULL, page_size => 3) LIMIT 1) s(d);
FETCH 1 FROM outer_cursor \gset first_
SELECT pg_temp.ids(:'first_delta_since');
SELECT name FROM pg_cursors ORDER BY name;
CLOSE ALL;
SELECT count(*) AS cursors_after_close_all FROM pg_cursors;
DECLARE outer_cursor CURSOR FOR SELECT delta_since('scanned', NULL, page_size => 3);
FETCH 1 FROM outer_cursor \gset
DECLARE "<unnamed portal 1>" CURSOR FOR SELECT 1, 1094795585::int8, now(), now(), NULL::timestamptz, '0'::xid8;
FETCH 1 FROM outer_cursor \gset second_
SELECT pg_temp.ids(:'second_delta_since') AS second_page;
COMMIT;

-- Stopping early leaves nothing open: LIMIT, LATERAL rescans, a closed outer cursor.
BEGIN;
SELECT count(*) FROM generate_series(1, 2000) g,
       LATERAL (SELECT delta_since('scanned', NULL, page_size => 2 + 0 * g) LIMIT 1) s;
SELECT count(*) AS cursors_after_lateral FROM pg_cursors;
DO $$ BEGIN FOR i IN 1..500 LOOP PERFORM delta_since('scanned', NULL, page_size => 2) LIMIT 1; END LOOP; END $$;
SELECT count(*) AS cursors_after_limit FROM pg_cursors;
DECLARE c CURSOR FOR SELECT delta_since('scanned', NULL, page_size => 2);
FETCH 1 FROM c \gset
CLOSE c;
SELECT count(*) AS cursors_after_close FROM pg_cursors;
COMMIT;

-- WITH HOLD: the rest of the pages are kept at COMMIT, whatever the cursor's name.
BEGIN;
DECLARE a CURSOR WITH HOLD FOR SELECT delta_since('scanned', NULL, page_size => 3);
DECLARE "zzzz" CURSOR WITH HOLD FOR SELECT delta_since('scanned', NULL, page_size => 4);
DECLARE "<unnamed portal 9>" CURSOR WITH HOLD FOR SELECT delta_since('scanned', NULL, page_size => 5);
FETCH 1 FROM a \gset
FETCH 1 FROM "zzzz" \gset
COMMIT;
SELECT name, is_holdable FROM pg_cursors ORDER BY name;
SELECT pg_temp.drain('a') AS rest_of_a, pg_temp.drain('zzzz') AS rest_of_zzzz,
       pg_temp.drain('<unnamed portal 9>') AS all_of_unnamed_9;
CLOSE ALL;

-- ROLLBACK TO SAVEPOINT after the first FETCH: the next FETCH gives the next page.
BEGIN;
DECLARE c CURSOR FOR SELECT delta_since('scanned', NULL, page_size => 4);
SAVEPOINT s;
FETCH 1 FROM c \gset
ROLLBACK TO s;
FETCH 1 FROM c \gset next_
SELECT pg_temp.ids(:'next_delta_since') AS after_rollback_to;
RELEASE s;
CLOSE c;
-- A cursor declared inside the savepoint is gone with it, and so is its scan.
SAVEPOINT s2;
DECLARE inner_c CURSOR FOR SELECT delta_since('scanned', NULL, page_size => 4);
FETCH 1 FROM inner_c \gset
ROLLBACK TO s2;
SELECT count(*) AS cursors_after_rollback FROM pg_cursors;
COMMIT;

-- A PL/pgSQL exception block rolls back after the first FETCH.
DO $$
DECLARE c refcursor := 'plc'; d json;
BEGIN
    OPEN c FOR SELECT delta_since('scanned', NULL, page_size => 4);
    BEGIN
        FETCH c INTO d;
        RAISE NOTICE 'first page: %', pg_temp.ids(d);
        RAISE EXCEPTION 'undo';
    EXCEPTION WHEN raise_exception THEN NULL;
    END;
    FETCH c INTO d;
    RAISE NOTICE 'second page: %', pg_temp.ids(d);
    FETCH c INTO d;
    RAISE NOTICE 'third page: %', pg_temp.ids(d);
    CLOSE c;
END $$;

RESET ROLE;
DROP OWNED BY regress_ds_scan_reader;
DROP ROLE regress_ds_scan_reader;
DROP TABLE scanned;
