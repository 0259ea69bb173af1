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
