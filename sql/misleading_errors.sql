-- Errors say what is wrong, and hints that show SQL show SQL that runs (names quoted and
-- qualified, inside a string literal).

CREATE FUNCTION pg_temp.attempt(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RETURN st || ': ' || msg || coalesce(E'\nHINT: ' || nullif(hint, ''), '');
END $$;
-- Runs the SQL a hint shows (everything from "SELECT" on).
CREATE FUNCTION pg_temp.follow_hint(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
    -- The hint is a sentence: the SQL runs from its first SELECT to the closing period, and
    -- "... and SELECT ..." joins two statements.
    hint := replace(substring(hint FROM '(SELECT .*)\.$'), ' and SELECT ', '; SELECT ');
    EXECUTE hint;
    RETURN 'ran: ' || hint;
END $$;

-- Names that need quoting: the hint of an untracked table tracks it when run.
CREATE TABLE "Mixed Case" (id integer PRIMARY KEY);
CREATE TABLE "un'tracked" (id integer PRIMARY KEY);
SELECT pg_temp.attempt($$SELECT * FROM delta_since('"Mixed Case"')$$);
SELECT pg_temp.follow_hint($$SELECT * FROM delta_since('"Mixed Case"')$$);
SELECT pg_temp.follow_hint($$SELECT * FROM delta_since('"un''tracked"')$$);
SELECT count(*) AS now_tracked FROM delta_sync.tracked WHERE relid IN ('"Mixed Case"'::regclass, '"un''tracked"'::regclass);

-- A tracked table that lost its primary key, or deleted_at: delta_since says so, not "not tracked".
ALTER TABLE "Mixed Case" DROP CONSTRAINT "Mixed Case_pkey";
SELECT pg_temp.attempt($$SELECT * FROM delta_since('"Mixed Case"')$$);
ALTER TABLE "Mixed Case" ADD PRIMARY KEY (id);
SELECT pg_temp.attempt($$SELECT count(*) FROM delta_since('"Mixed Case"')$$);
ALTER TABLE "un'tracked" DROP COLUMN deleted_at;
SELECT pg_temp.attempt($$SELECT * FROM delta_since('"un''tracked"')$$);
-- The triggers say it too, and their hint repairs the table when run.
SELECT pg_temp.attempt($$INSERT INTO "un'tracked" VALUES (1)$$);
SELECT pg_temp.follow_hint($$INSERT INTO "un'tracked" VALUES (1)$$);
SELECT pg_temp.attempt($$INSERT INTO "un'tracked" VALUES (1)$$);
SELECT json_array_length(d->'created') AS created FROM delta_since('"un''tracked"') d;

-- A user's BEFORE UPDATE trigger that skips updates (returns NULL) also skips the soft delete:
-- DELETE fails and says so, instead of blaming row-level security.
CREATE FUNCTION pg_temp.frozen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER a_frozen BEFORE UPDATE ON "Mixed Case" FOR EACH ROW EXECUTE FUNCTION pg_temp.frozen();
INSERT INTO "Mixed Case" VALUES (1);
SELECT pg_temp.attempt($$DELETE FROM "Mixed Case" WHERE id = 1$$);
SELECT count(*) AS still_live FROM "Mixed Case" WHERE deleted_at IS NULL;

-- Row-level security that hides the row from UPDATE is still named as the cause (42501).
CREATE ROLE regress_ds_rls_user;
CREATE TABLE rls_t (id integer PRIMARY KEY);
SELECT delta_sync.track('rls_t');
INSERT INTO rls_t VALUES (1);
ALTER TABLE rls_t ENABLE ROW LEVEL SECURITY;
CREATE POLICY may_see ON rls_t FOR SELECT USING (true);
CREATE POLICY may_delete ON rls_t FOR DELETE USING (true);
CREATE POLICY may_not_update ON rls_t FOR UPDATE USING (false);
GRANT SELECT, UPDATE, DELETE ON rls_t TO regress_ds_rls_user;
SET ROLE regress_ds_rls_user;
SELECT pg_temp.attempt($$DELETE FROM rls_t WHERE id = 1$$);
RESET ROLE;

DROP TABLE "Mixed Case", "un'tracked", rls_t;
DROP ROLE regress_ds_rls_user;
