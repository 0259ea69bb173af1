-- Helper functions shared by the pg_regress tests in sql/. Each test that needs them loads this
-- file with echo off, so that it still runs alone (make installcheck REGRESS=name) and its
-- expected output shows only the test itself:
--
--   \set ECHO none
--   \getenv abs_srcdir PG_ABS_SRCDIR
--   \i :abs_srcdir/sql/include/helpers.sql
--   \set ECHO all
--
-- pg_regress sets PG_ABS_SRCDIR to the absolute --inputdir. This file is not a test itself: the
-- Makefile finds tests as sql/*.sql only. Everything here lives in pg_temp and so vanishes with
-- the test's session.

-- One line per DeltaResponse document: the ids in each bucket (sorted as integers) and
-- fullResyncRequired. For tables whose key is an integer column called id.
CREATE FUNCTION pg_temp.summary(d json) RETURNS text LANGUAGE sql AS $$
    SELECT format('created [%s] updated [%s] deleted [%s] resync %s',
        (SELECT string_agg(e->>'id', ',' ORDER BY (e->>'id')::int) FROM json_array_elements(d->'created') e),
        (SELECT string_agg(e->>'id', ',' ORDER BY (e->>'id')::int) FROM json_array_elements(d->'updated') e),
        (SELECT string_agg(e #>> '{}', ',' ORDER BY (e #>> '{}')::int) FROM json_array_elements(d->'deleted') e),
        d->>'fullResyncRequired')
$$;

-- Runs a statement and returns 'ok', or the SQLSTATE and primary message of its error as one
-- text ('42501: must be owner of ...').
CREATE FUNCTION pg_temp.attempt(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ': ' || msg;
END $$;

-- Runs a statement and returns its outcome as columns: state is 'ok' or the SQLSTATE; message
-- and detail are the error's (NULL when it succeeded).
CREATE FUNCTION pg_temp.attempt_details(stmt text, OUT state text, OUT message text, OUT detail text)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    state := 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
END $$;
