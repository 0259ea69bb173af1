-- The C++/PostgreSQL boundary of docs/design.md §11, through the probes of
-- tests/boundary/boundary_probe.cpp (a test-only module built beside the extension): an error
-- raised inside a guarded PostgreSQL call travels through C++ as an exception and comes back out
-- as the same error, and a guard misused fails loudly while leaving the error state sound.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\set probe :abs_srcdir '/tests/boundary/boundary_probe'
CREATE FUNCTION pg_temp.probe_plain() RETURNS void AS :'probe', 'boundary_probe_plain' LANGUAGE C;
CREATE FUNCTION pg_temp.probe_guarded() RETURNS void AS :'probe', 'boundary_probe_guarded' LANGUAGE C;
CREATE FUNCTION pg_temp.probe_inspect() RETURNS text AS :'probe', 'boundary_probe_inspect' LANGUAGE C;
CREATE FUNCTION pg_temp.probe_misuse(kind text) RETURNS void AS :'probe', 'boundary_probe_misuse' LANGUAGE C STRICT;
\set ECHO all

-- Runs a statement and returns every field of its error: SQLSTATE, message, detail, hint, and
-- the context lines the probes add (PL/pgSQL's own line is left out).
CREATE FUNCTION pg_temp.error_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hin text; ctx text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                            hin = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN format('%s: %s | detail: %s | hint: %s | context: %s', st, msg, det, hin,
        (SELECT string_agg(l, ' / ') FROM regexp_split_to_table(ctx, E'\n') l WHERE l LIKE '%probe frame'));
END $$;

-- Inside the guard the error becomes a PgError C++ exception carrying PostgreSQL's ErrorData,
-- and when it is caught the guard has already put back the error handler and the caller's error
-- context stack.
SELECT pg_temp.probe_inspect();

-- The reference: the error raised by plain C code. Then the same error raised inside a guard,
-- carried through C++ frames as an exception and raised again by the entry point: the client
-- sees the same error, field for field.
SELECT pg_temp.probe_plain();
SELECT pg_temp.probe_guarded();
SELECT f AS probe, pg_temp.error_of(format('SELECT pg_temp.%I()', f)) AS error
  FROM unnest(ARRAY['probe_plain', 'probe_guarded']) f;
SELECT pg_temp.error_of('SELECT pg_temp.probe_plain()')
     = pg_temp.error_of('SELECT pg_temp.probe_guarded()') AS same_error;

-- Misuse fails loudly: guarded code that returns with an error context callback still pushed, or
-- with an error handler of its own still installed (a return inside PG_TRY), and an entry
-- point's body that leaves a callback pushed, each end in an internal error naming the fault.
SELECT pg_temp.probe_misuse('context_left');
SELECT pg_temp.probe_misuse('handler_left');
SELECT pg_temp.probe_misuse('body_context_left');
-- A C++ exception leaving guarded code is no misuse: it surfaces with its own SQLSTATE.
SELECT pg_temp.probe_misuse('throw');

-- After each, within the same statement, the next error is caught where it should be and carries
-- no leaked context line: the guard put PostgreSQL's error state back before reporting.
CREATE FUNCTION pg_temp.misuse_then_error(kind text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE first text;
BEGIN
    first := pg_temp.error_of(format('SELECT pg_temp.probe_misuse(%L)', kind));
    RETURN first || E'\n  then: ' || pg_temp.error_of('SELECT pg_temp.probe_guarded()');
END $$;
SELECT pg_temp.misuse_then_error(k)
  FROM unnest(ARRAY['context_left', 'handler_left', 'body_context_left', 'throw']) k;
