-- No code of the extension runs a user's code with rights the user lacks. A table owner plants
-- an ENABLE ALWAYS trigger that makes her superuser, then gets the extension to write her table:
-- the restore path (re-creating delta_sync_stamp over rows with versions from the future) and a
-- superuser's purge both run her trigger as herself, under SECURITY_RESTRICTED_OPERATION.

CREATE FUNCTION pg_temp.attempt(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN st || ': ' || msg;
END $$;

-- Nothing is SECURITY DEFINER, and only the event triggers call their functions.
SELECT count(*) AS security_definer FROM pg_proc WHERE pronamespace = 'delta_sync'::regnamespace AND prosecdef;
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_call
  FROM pg_proc p WHERE p.pronamespace = 'delta_sync'::regnamespace
   AND (p.prorettype = 'event_trigger'::regtype OR p.proname = '_registry_write_check')
 ORDER BY 1;

CREATE ROLE regress_ds_mallory;
CREATE SCHEMA mallory AUTHORIZATION regress_ds_mallory;
SET ROLE regress_ds_mallory;
CREATE TABLE mallory.loot (id integer PRIMARY KEY, v text);
INSERT INTO mallory.loot VALUES (1, 'a'), (2, 'b');
SELECT delta_sync.track('mallory.loot');
CREATE FUNCTION mallory.escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    ALTER ROLE regress_ds_mallory SUPERUSER;
    RETURN coalesce(NEW, OLD);
END $$;

-- The restore path: versions from the future, the stamp trigger created again.
DROP TRIGGER delta_sync_stamp ON mallory.loot;
UPDATE mallory.loot SET delta_sync_changed_xid = '4000000000'::xid8 WHERE id = 1;
CREATE TRIGGER escalate BEFORE UPDATE ON mallory.loot FOR EACH ROW EXECUTE FUNCTION mallory.escalate();
ALTER TABLE mallory.loot ENABLE ALWAYS TRIGGER escalate;
SELECT pg_temp.attempt($$CREATE TRIGGER delta_sync_stamp BEFORE INSERT OR UPDATE ON mallory.loot
    FOR EACH ROW EXECUTE FUNCTION delta_sync._stamp()$$) AS restamp_with_trap;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_ds_mallory';

-- Without the trap the restore path works for her: versions come back to this cluster.
SET ROLE regress_ds_mallory;
DROP TRIGGER escalate ON mallory.loot;
CREATE TRIGGER delta_sync_stamp BEFORE INSERT OR UPDATE ON mallory.loot
    FOR EACH ROW EXECUTE FUNCTION delta_sync._stamp();
SELECT id, delta_sync_changed_xid <= pg_current_xact_id() AS restamped FROM mallory.loot ORDER BY id;
SELECT horizon > '3'::xid8 AS horizon_raised FROM delta_sync.tracked WHERE relid = 'mallory.loot'::regclass;

-- A superuser's purge of her table: her BEFORE DELETE trigger runs as her.
DELETE FROM mallory.loot WHERE id = 2;
CREATE TRIGGER escalate BEFORE DELETE ON mallory.loot FOR EACH ROW EXECUTE FUNCTION mallory.escalate();
ALTER TABLE mallory.loot ENABLE ALWAYS TRIGGER escalate;
RESET ROLE;
SELECT pg_temp.attempt($$SELECT delta_sync.purge('mallory.loot', '0 seconds')$$) AS superuser_purge;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_ds_mallory';
-- Without the trap the superuser's purge works.
DROP TRIGGER escalate ON mallory.loot;
SELECT delta_sync.purge('mallory.loot', '0 seconds') AS purged;

-- Event triggers fire for her as before: ALTER raises the horizon, DROP forgets the table.
SET ROLE regress_ds_mallory;
SELECT horizon AS before_alter FROM delta_sync.tracked WHERE relid = 'mallory.loot'::regclass \gset
ALTER TABLE mallory.loot ADD COLUMN w text DEFAULT 'x';
SELECT horizon > :'before_alter'::xid8 AS raised_by_alter FROM delta_sync.tracked WHERE relid = 'mallory.loot'::regclass;
-- She cannot write another owner's registry row, nor call the event trigger functions.
RESET ROLE;
CREATE TABLE not_hers (id integer PRIMARY KEY);
SELECT delta_sync.track('not_hers');
SET ROLE regress_ds_mallory;
SELECT pg_temp.attempt($$UPDATE delta_sync.tracked SET horizon = '1' WHERE relid = 'not_hers'::regclass$$) AS other_row;
SELECT pg_temp.attempt($$INSERT INTO delta_sync.tracked (relid, horizon) VALUES ('pg_class', '1')$$) AS catalog_row;
SELECT pg_temp.attempt($$SELECT delta_sync._restamp_restored()$$) AS direct_call;
SELECT 'mallory.loot'::regclass::oid AS loot_oid \gset
SELECT count(*) AS registered_before_drop FROM delta_sync.tracked WHERE relid::oid = :loot_oid;
DROP TABLE mallory.loot;
RESET ROLE;
SELECT count(*) AS registered_after_drop FROM delta_sync.tracked WHERE relid::oid = :loot_oid;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_ds_mallory';

DROP TABLE not_hers;
DROP SCHEMA mallory CASCADE;
DROP ROLE regress_ds_mallory;
