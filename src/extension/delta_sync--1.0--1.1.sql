-- delta_sync 1.0 -> 1.1: retention (delta_sync.purge).
\echo Use "ALTER EXTENSION delta_sync UPDATE TO '1.1'" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- Retention (C++)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION delta_sync.purge(tbl regclass, older_than interval DEFAULT '30 days') RETURNS bigint
    AS 'MODULE_PATHNAME', 'delta_sync_purge'
    LANGUAGE C VOLATILE CALLED ON NULL INPUT SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync.purge(regclass, interval) IS
    'physically remove rows soft-deleted more than older_than ago; raises the horizon so cursors that could have missed them resync';

-- ---------------------------------------------------------------------------------------------
-- Dropped tables leave the registry
-- ---------------------------------------------------------------------------------------------

-- A registry row outliving its table would be dumped as a bare OID that no restore can resolve,
-- and could be mistaken for a new table that reuses the OID. The dropping role need not be able
-- to write the registry (its row-level security asks for the table's owner, and the table is
-- gone), so this runs as the extension's owner and removes only rows of objects just dropped.
CREATE FUNCTION delta_sync._forget_dropped() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    DELETE FROM delta_sync.tracked t
     USING pg_event_trigger_dropped_objects() o
     WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND t.relid::oid = o.objid;
END
$fn$;
COMMENT ON FUNCTION delta_sync._forget_dropped() IS
    'sql_drop event trigger: removes the registry rows of dropped tables';
CREATE EVENT TRIGGER delta_sync_forget_dropped ON sql_drop
    EXECUTE FUNCTION delta_sync._forget_dropped();

-- ---------------------------------------------------------------------------------------------
-- Schema changes resync clients
-- ---------------------------------------------------------------------------------------------

-- ALTER TABLE can change every row without versioning any: a column added with a default, a type
-- change, a rewrite (which, not being MVCC-safe, also shows a concurrent pull an empty table).
-- Raising the horizon makes every cursor from before the change resync. Runs as the extension's
-- owner (the registry's row-level security wants the table's owner, who may have handed ALTER
-- rights to another role); it touches only rows of tables the command altered.
CREATE FUNCTION delta_sync._schema_changed() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    UPDATE delta_sync.tracked t SET horizon = pg_current_xact_id()
      FROM pg_event_trigger_ddl_commands() c
     WHERE c.classid = 'pg_class'::regclass AND t.relid::oid = c.objid;
END
$fn$;
COMMENT ON FUNCTION delta_sync._schema_changed() IS
    'ddl_command_end event trigger: ALTER TABLE on a tracked table raises its horizon';
CREATE EVENT TRIGGER delta_sync_schema_changed ON ddl_command_end WHEN TAG IN ('ALTER TABLE')
    EXECUTE FUNCTION delta_sync._schema_changed();
