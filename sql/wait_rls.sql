-- delta_sync.wait() on a table whose row-level security hides rows from the waiting role: only
-- changes of rows the role may see wake it (delta_since() would send it nothing else).
CREATE TABLE wr (id integer PRIMARY KEY, who name);
SELECT delta_sync.track('wr');
ALTER TABLE wr ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON wr USING (who = current_user);
CREATE ROLE wait_rls_reader;
GRANT SELECT ON wr TO wait_rls_reader;
SET ROLE wait_rls_reader;
SELECT d->>'serverVersion' AS v0 FROM delta_since('wr', NULL) d \gset
RESET ROLE;
INSERT INTO wr VALUES (1, 'somebody_else');
SET ROLE wait_rls_reader;
-- A hidden row changed: nothing for this role.
SELECT delta_sync.wait('{wr}', ARRAY[:'v0'], '0') AS hidden_change;
SELECT count(*) AS rows_seen FROM delta_since('wr', :'v0') d, json_array_length(d->'created') c WHERE c > 0;
-- A hidden row updated, still nothing; then one of its own rows: the table.
RESET ROLE;
UPDATE wr SET who = 'another' WHERE id = 1;
SET ROLE wait_rls_reader;
SELECT delta_sync.wait('{wr}', ARRAY[:'v0'], '0') AS hidden_update;
RESET ROLE;
INSERT INTO wr VALUES (2, 'wait_rls_reader');
SET ROLE wait_rls_reader;
SELECT delta_sync.wait('{wr}', ARRAY[:'v0'], '0') AS own_row;
-- The query's locks are not kept while the wait sleeps (nor after it, in this transaction).
BEGIN;
SELECT delta_sync.wait('{wr}', NULL, '10 ms') AS in_transaction;
SELECT count(*) AS locks_left FROM pg_locks
 WHERE pid = pg_backend_pid() AND locktype = 'relation' AND relation = 'wr'::regclass;
COMMIT;
-- An error of the probe's query is caught by an exception block like any other.
DO $$
BEGIN
    PERFORM delta_sync.wait('{wr}', NULL, '0') FROM (SELECT set_config('row_security', 'off', true)) s;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END
$$;
SELECT delta_sync.wait('{wr}', ARRAY[:'v0'], '0') AS after_caught_error;
-- The owner sees every row: the index probe, every change counts.
RESET ROLE;
SELECT delta_sync.wait('{wr}', ARRAY[:'v0'], '0') AS owner_sees_all;
-- With row_security off the role may not read the table at all, as with SELECT.
SET ROLE wait_rls_reader;
SET row_security = off;
SELECT delta_sync.wait('{wr}', ARRAY[:'v0'], '0');
RESET row_security;
RESET ROLE;
DROP TABLE wr;
DROP ROLE wait_rls_reader;
