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

-- ---------------------------------------------------------------------------------------------
-- Restored tables get versions of this cluster
-- ---------------------------------------------------------------------------------------------

-- pg_dump carries the version columns, xids of the cluster the data came from. Restored into a
-- cluster whose xid counter is behind, rows would look changed by transactions that have not
-- happened yet and be counted in every delta until the counter caught up. pg_restore loads the
-- data (and the registry, a configuration table) before it creates the triggers, so when the
-- stamp trigger is created on a table the registry already lists, this is a restore: versions
-- beyond the restoring transaction become the restoring transaction, without touching
-- updated_at (the UPDATE runs with session_replication_role = replica so no trigger fires), and
-- the horizon makes every older cursor resync. track() registers a table only after creating its
-- triggers, so it never gets here.
CREATE FUNCTION delta_sync._restamp_restored() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    rel regclass;
    me xid8 := pg_current_xact_id();
    role_before text := current_setting('session_replication_role');
BEGIN
    FOR rel IN
        SELECT tg.tgrelid::regclass
          FROM pg_event_trigger_ddl_commands() c
          JOIN pg_trigger tg ON c.classid = 'pg_trigger'::regclass AND tg.oid = c.objid
          JOIN delta_sync.tracked k ON k.relid::oid = tg.tgrelid
         WHERE tg.tgname = 'delta_sync_stamp'
    LOOP
        PERFORM set_config('session_replication_role', 'replica', true);
        EXECUTE format('UPDATE ONLY %s SET
                delta_sync_created_xid = CASE WHEN delta_sync_created_xid > $1 THEN $1
                                              ELSE delta_sync_created_xid END,
                delta_sync_changed_xid = CASE WHEN delta_sync_changed_xid > $1 THEN $1
                                              ELSE delta_sync_changed_xid END
              WHERE delta_sync_changed_xid > $1 OR delta_sync_created_xid > $1', rel) USING me;
        PERFORM set_config('session_replication_role', role_before, true);
        UPDATE delta_sync.tracked SET horizon = me WHERE relid = rel;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION delta_sync._restamp_restored() IS
    'ddl_command_end event trigger: a restored tracked table gets versions of this cluster';
CREATE EVENT TRIGGER delta_sync_restamp_restored ON ddl_command_end WHEN TAG IN ('CREATE TRIGGER')
    EXECUTE FUNCTION delta_sync._restamp_restored();

-- ---------------------------------------------------------------------------------------------
-- Trigger functions without a pinned search_path
-- ---------------------------------------------------------------------------------------------

-- A SET clause makes PostgreSQL save, set and restore search_path around every call: 18% of a
-- bulk UPDATE of a tracked table. The trigger functions resolve nothing by name (the stamp is
-- plain C; the soft delete and the horizon update run fully qualified SQL with OPERATOR(pg_catalog.=)),
-- which sql/security.sql checks under a hostile search_path, so the clause buys nothing here.
ALTER FUNCTION delta_sync._stamp() RESET search_path;
ALTER FUNCTION delta_sync._soft_delete() RESET search_path;
ALTER FUNCTION delta_sync._after_statement() RESET search_path;

-- ---------------------------------------------------------------------------------------------
-- Purges have a horizon of their own
-- ---------------------------------------------------------------------------------------------

-- horizon is exact (a cursor that does not see that xid predates the event). A purge needs
-- "has seen every transaction up to the newest removed deletion", which an unrelated old
-- transaction can spoil; keeping it apart lets events resync only the cursors they concern.
ALTER TABLE delta_sync.tracked ADD COLUMN purged_through xid8;
COMMENT ON COLUMN delta_sync.tracked.purged_through IS
    'newest version among rows delta_sync.purge() removed; cursors that had not seen every transaction up to it resync';

-- ---------------------------------------------------------------------------------------------
-- NOTIFY can be turned off per table
-- ---------------------------------------------------------------------------------------------

-- Every transaction that sends a NOTIFY takes one cluster-wide lock at commit and keeps it
-- through its WAL flush, so a table written by many small concurrent transactions commits them
-- one at a time (bench/: 0.38x the untracked TPS with 8 clients, 0.78x without the NOTIFY).
-- Such a table can turn it off; its clients then find changes by polling.
ALTER TABLE delta_sync.tracked ADD COLUMN notify boolean NOT NULL DEFAULT true;
COMMENT ON COLUMN delta_sync.tracked.notify IS
    'whether each writing statement sends NOTIFY delta_sync (delta_sync.set_notify)';

CREATE FUNCTION delta_sync.set_notify(tbl regclass, enabled boolean) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
BEGIN
    IF tbl IS NULL OR enabled IS NULL THEN
        RAISE EXCEPTION 'delta_sync.set_notify: arguments must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tbl
                      AND pg_has_role(current_user, c.relowner, 'USAGE')) THEN
        RAISE EXCEPTION 'must be owner of table % to change its notifications', tbl
            USING ERRCODE = '42501';
    END IF;
    UPDATE delta_sync.tracked t SET notify = enabled WHERE t.relid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % is not tracked by delta_sync', tbl USING ERRCODE = '55000';
    END IF;
END
$fn$;
COMMENT ON FUNCTION delta_sync.set_notify(regclass, boolean) IS
    'turn NOTIFY delta_sync after writing statements on or off for a tracked table';
