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
