-- delta_sync 1.1 -> 1.2
\echo Use "ALTER EXTENSION delta_sync UPDATE TO '1.2'" to load this file. \quit

-- =============================================================================================
-- Trusted installs: no code of the extension runs a user's code with rights the user lacks
-- =============================================================================================

-- ---------------------------------------------------------------------------------------------
-- Event triggers run as their caller, in C
-- ---------------------------------------------------------------------------------------------

-- In 1.1 these were SECURITY DEFINER functions owned by the bootstrap superuser, also when a
-- database owner installed the extension: _restamp_restored's UPDATE of a user's table fired the
-- table's triggers as that superuser. Now the registry is written as its owner and a restored
-- table is restamped as the table's owner, both under SECURITY_RESTRICTED_OPERATION (see
-- src/extension/event_triggers.cpp). Nobody needs to call them but the event triggers.
CREATE OR REPLACE FUNCTION delta_sync._forget_dropped() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'delta_sync_forget_dropped'
    LANGUAGE C SECURITY INVOKER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync._forget_dropped() IS
    'sql_drop event trigger: removes the registry rows of dropped tables; a dropped column raises the horizons it reaches';
CREATE OR REPLACE FUNCTION delta_sync._schema_changed() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'delta_sync_schema_changed'
    LANGUAGE C SECURITY INVOKER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync._schema_changed() IS
    'ddl_command_end event trigger: ALTER TABLE, ALTER TYPE, CREATE OR REPLACE VIEW and the like raise the horizon of every tracked table whose records they can change';
CREATE OR REPLACE FUNCTION delta_sync._restamp_restored() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'delta_sync_restamp_restored'
    LANGUAGE C SECURITY INVOKER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync._restamp_restored() IS
    'ddl_command_end event trigger: a restored tracked table gets versions of this cluster (as the table''s owner)';
REVOKE EXECUTE ON FUNCTION delta_sync._forget_dropped() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION delta_sync._schema_changed() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION delta_sync._restamp_restored() FROM PUBLIC;

-- Records also change without versions when a type a column is built on changes (an enum value
-- renamed, a composite's attribute added; a view's row type, by CREATE OR REPLACE VIEW), or a
-- parent the table inherits from is altered.
DROP EVENT TRIGGER delta_sync_schema_changed;
CREATE EVENT TRIGGER delta_sync_schema_changed ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'ALTER TYPE', 'CREATE VIEW', 'ALTER VIEW',
                 'ALTER MATERIALIZED VIEW')
    EXECUTE FUNCTION delta_sync._schema_changed();

-- ---------------------------------------------------------------------------------------------
-- The registry is guarded by a trigger, not row-level security
-- ---------------------------------------------------------------------------------------------

-- Row-level security on a table the bootstrap superuser owns made pg_dump fail for a database
-- owner ("query would be affected by row-level security policy") and COPY into it fail on
-- restore. A trigger keeps the rule (a row may be written only by roles with its table's
-- owner's rights, or the registry's owner) and lets anyone read and dump it.
CREATE FUNCTION delta_sync._registry_write_check() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    rel regclass;
BEGIN
    FOREACH rel IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.relid END,
                               CASE WHEN TG_OP <> 'DELETE' THEN NEW.relid END] LOOP
        CONTINUE WHEN rel IS NULL;
        IF NOT coalesce(pg_has_role(current_user,
                   (SELECT c.relowner FROM pg_class c WHERE c.oid = rel::oid), 'USAGE'), false)
           AND NOT pg_has_role(current_user,
                   (SELECT c.relowner FROM pg_class c WHERE c.oid = 'delta_sync.tracked'::regclass),
                   'USAGE') THEN
            RAISE EXCEPTION 'must be owner of table % to change its delta_sync registration', rel
                USING ERRCODE = '42501';
        END IF;
    END LOOP;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;
COMMENT ON FUNCTION delta_sync._registry_write_check() IS
    'BEFORE row trigger on the registry: only roles with the table owner''s rights write its row';
CREATE TRIGGER registry_write_check BEFORE INSERT OR UPDATE OR DELETE ON delta_sync.tracked
    FOR EACH ROW EXECUTE FUNCTION delta_sync._registry_write_check();
ALTER TABLE delta_sync.tracked ENABLE ALWAYS TRIGGER registry_write_check;
-- A trigger's function is checked for EXECUTE only when the trigger is created.
REVOKE EXECUTE ON FUNCTION delta_sync._registry_write_check() FROM PUBLIC;
DROP POLICY anyone_reads ON delta_sync.tracked;
DROP POLICY owners_write ON delta_sync.tracked;
ALTER TABLE delta_sync.tracked DISABLE ROW LEVEL SECURITY;

-- ---------------------------------------------------------------------------------------------
-- A cursor that sees the purge is not sent back to resync by it
-- ---------------------------------------------------------------------------------------------

-- purged_through alone asks a cursor to have seen every transaction up to the newest removed
-- deletion, which any old transaction still open in the cluster spoils, also for cursors taken
-- after the purge. A cursor that sees the purging transaction was taken after every deletion
-- the purge removed had committed, so it could not have missed one.
ALTER TABLE delta_sync.tracked ADD COLUMN purged_by xid8;
COMMENT ON COLUMN delta_sync.tracked.purged_by IS
    'the transaction of the last delta_sync.purge() that removed rows; cursors that see it need not resync for purges';
