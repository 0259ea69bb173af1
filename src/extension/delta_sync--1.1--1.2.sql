-- delta_sync 1.1 -> 1.2
\echo Use "ALTER EXTENSION delta_sync UPDATE TO '1.2'" to load this file. \quit

-- =============================================================================================
-- Live changes: no cluster-wide lock on the write path; delta_sync.wait()
-- =============================================================================================

-- NOTIFY becomes opt-in. A writer that notifies takes one cluster-wide lock at commit and holds
-- it through its WAL flush, so every tracked table serialised the commits of the whole cluster.
-- Tables tracked from now on do not notify; clients wait with delta_sync.wait(). Tables of an
-- upgraded installation keep the setting they had (on, unless set_notify turned it off), so
-- clients that LISTEN keep working until their owner turns it off.
ALTER TABLE delta_sync.tracked ALTER COLUMN notify SET DEFAULT false;
COMMENT ON COLUMN delta_sync.tracked.notify IS
    'whether changes send NOTIFY delta_sync, ''<schema>.<table>'' (delta_sync.set_notify; off by default)';

-- The statement trigger caches the setting per backend; changing it invalidates the table's
-- relcache entry so every backend reads it again.
CREATE FUNCTION delta_sync._notify_setting_changed(tbl regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'delta_sync_notify_setting_changed'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION delta_sync._notify_setting_changed(regclass) IS
    'internal: makes every backend read the table''s notify setting again (owner only)';

CREATE OR REPLACE FUNCTION delta_sync.set_notify(tbl regclass, enabled boolean) RETURNS void
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
    PERFORM delta_sync._notify_setting_changed(tbl);
END
$fn$;
COMMENT ON FUNCTION delta_sync.set_notify(regclass, boolean) IS
    'turn NOTIFY delta_sync, ''<schema>.<table>'' on or off for a tracked table (off by default; sent by a background worker when the library is preloaded)';
COMMENT ON FUNCTION delta_sync._after_statement() IS
    'AFTER statement trigger: signals waiters and opt-in NOTIFY; on TRUNCATE raises the table horizon';

CREATE FUNCTION delta_sync.wait(tables regclass[], since text[] DEFAULT NULL,
                                timeout interval DEFAULT '30 seconds') RETURNS regclass[]
    AS 'MODULE_PATHNAME', 'delta_sync_wait'
    LANGUAGE C VOLATILE CALLED ON NULL INPUT PARALLEL RESTRICTED;
COMMENT ON FUNCTION delta_sync.wait(regclass[], text[], interval) IS
    'wait until one of the tables has a committed change its cursor (since: one per table, one for all, or NULL for now) does not see; returns those tables, or an empty array at the timeout';
