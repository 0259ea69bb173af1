-- delta_sync 1.0: change tracking and gap-free JSON deltas.
\echo Use "CREATE EXTENSION delta_sync" to load this file. \quit

-- ---------------------------------------------------------------------------------------------
-- Schema and registry
-- ---------------------------------------------------------------------------------------------

CREATE SCHEMA delta_sync;
GRANT USAGE ON SCHEMA delta_sync TO PUBLIC;
COMMENT ON SCHEMA delta_sync IS 'delta_sync: tracking functions and the registry of tracked tables';

-- One row per tracked table. horizon: the xid of the last event that removed history the cursors
-- cannot see (tracking start, TRUNCATE, purge); a cursor whose xmin is not beyond it must resync.
CREATE TABLE delta_sync.tracked (
    relid regclass PRIMARY KEY,
    max_changes integer NOT NULL DEFAULT 1000 CHECK (max_changes >= 1),
    horizon xid8 NOT NULL,
    tracked_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE delta_sync.tracked IS 'tables tracked by delta_sync, their delta threshold and horizon';
-- Dumped with the database, so a restore keeps tracking (tables are created before this data).
SELECT pg_catalog.pg_extension_config_dump('delta_sync.tracked', '');
-- Anyone may read it (delta_since does, as its caller); a table's row may be written only by roles
-- that own the table (track, untrack, purge run as their caller). TRUNCATE raises a horizon as the
-- registry's owner, from C.
ALTER TABLE delta_sync.tracked ENABLE ROW LEVEL SECURITY;
CREATE POLICY anyone_reads ON delta_sync.tracked FOR SELECT USING (true);
CREATE POLICY owners_write ON delta_sync.tracked FOR ALL
    USING (pg_catalog.pg_has_role(CURRENT_USER,
        (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) relid::pg_catalog.oid), 'USAGE'))
    WITH CHECK (pg_catalog.pg_has_role(CURRENT_USER,
        (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) relid::pg_catalog.oid), 'USAGE'));
GRANT SELECT, INSERT, UPDATE, DELETE ON delta_sync.tracked TO PUBLIC;

-- ---------------------------------------------------------------------------------------------
-- Triggers (C++)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION delta_sync._stamp() RETURNS trigger
    AS 'MODULE_PATHNAME', 'delta_sync_stamp' LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync._stamp() IS
    'BEFORE INSERT OR UPDATE row trigger: versions the row with the writing transaction id, sets updated_at';

CREATE FUNCTION delta_sync._soft_delete() RETURNS trigger
    AS 'MODULE_PATHNAME', 'delta_sync_soft_delete' LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync._soft_delete() IS
    'BEFORE DELETE row trigger: turns the delete into deleted_at = now()';

CREATE FUNCTION delta_sync._after_statement() RETURNS trigger
    AS 'MODULE_PATHNAME', 'delta_sync_after_statement' LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync._after_statement() IS
    'AFTER statement trigger: NOTIFY delta_sync; on TRUNCATE raises the table horizon';

-- ---------------------------------------------------------------------------------------------
-- Tracking
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION delta_sync.track(tbl regclass, max_changes integer DEFAULT 1000) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning AS $fn$
DECLARE
    rel record;
    pk smallint[];
    pk_name name;
    needed constant text[] := ARRAY['created_at', 'updated_at', 'deleted_at',
                                    'delta_sync_created_xid', 'delta_sync_changed_xid'];
    needed_type constant regtype[] := ARRAY['timestamptz', 'timestamptz', 'timestamptz',
                                            'xid8', 'xid8']::regtype[];
    have regtype;
    qualified text;
    intact boolean;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'delta_sync.track: the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF max_changes IS NULL OR max_changes < 1 THEN
        RAISE EXCEPTION 'delta_sync.track: max_changes must be at least 1, not %',
            coalesce(max_changes::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT c.relkind, c.relowner, c.relname, n.nspname INTO rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
    END IF;
    qualified := format('%I.%I', rel.nspname, rel.relname);
    IF rel.relkind <> 'r' THEN
        RAISE EXCEPTION 'delta_sync can only track ordinary tables; % is a %', qualified,
            CASE rel.relkind WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view'
                 WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
                 WHEN 'S' THEN 'sequence' ELSE 'relation of kind ' || rel.relkind::text END
            USING ERRCODE = '42809';
    END IF;
    IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table % to track it', qualified USING ERRCODE = '42501';
    END IF;
    SELECT con.conkey INTO pk FROM pg_constraint con WHERE con.conrelid = tbl AND con.contype = 'p';
    IF pk IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key', qualified USING ERRCODE = '55000',
            HINT = 'delta_sync identifies rows by a single-column primary key; add one first.';
    END IF;
    IF cardinality(pk) <> 1 THEN
        RAISE EXCEPTION 'table % has a primary key of % columns', qualified, cardinality(pk)
            USING ERRCODE = '0A000',
            HINT = 'delta_sync identifies rows by a single-column primary key.';
    END IF;
    SELECT a.attname INTO pk_name FROM pg_attribute a WHERE a.attrelid = tbl AND a.attnum = pk[1];
    IF pk_name = ANY (needed) THEN
        RAISE EXCEPTION 'the primary key of % is %, a column delta_sync maintains', qualified, pk_name
            USING ERRCODE = '0A000';
    END IF;

    -- Tracked already, with everything in place: only the threshold may change.
    intact := EXISTS (SELECT 1 FROM delta_sync.tracked t WHERE t.relid = tbl)
        AND (SELECT count(*) FROM pg_trigger tg WHERE tg.tgrelid = tbl AND NOT tg.tgisinternal
              AND tg.tgname IN ('delta_sync_stamp', 'delta_sync_soft_delete', 'delta_sync_notify')) = 3
        AND (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = tbl AND NOT a.attisdropped
              AND a.attname IN ('delta_sync_created_xid', 'delta_sync_changed_xid')) = 2;
    IF intact THEN
        UPDATE delta_sync.tracked t SET max_changes = track.max_changes
         WHERE t.relid = tbl AND t.max_changes IS DISTINCT FROM track.max_changes;
        RETURN;
    END IF;
    -- A registry row without its triggers is left over (its table was dropped and the OID
    -- reused, or tracking was half removed): start afresh.
    DELETE FROM delta_sync.tracked t WHERE t.relid = tbl;

    FOR i IN 1 .. cardinality(needed) LOOP
        SELECT a.atttypid::regtype INTO have FROM pg_attribute a
         WHERE a.attrelid = tbl AND a.attname = needed[i] AND NOT a.attisdropped;
        IF FOUND AND have <> needed_type[i] THEN
            RAISE EXCEPTION 'column %.% has type %, delta_sync needs %', qualified, needed[i],
                have, needed_type[i] USING ERRCODE = '42804';
        END IF;
    END LOOP;

    EXECUTE format('DROP TRIGGER IF EXISTS delta_sync_stamp ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_soft_delete ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_notify ON %1$s;
                    ALTER TABLE %1$s DROP COLUMN IF EXISTS delta_sync_created_xid,
                                     DROP COLUMN IF EXISTS delta_sync_changed_xid', qualified);
    -- Existing rows are stamped with this transaction (the volatile default is evaluated per row).
    EXECUTE format('ALTER TABLE %s
        ADD COLUMN IF NOT EXISTS created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
        ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
        ADD COLUMN IF NOT EXISTS deleted_at timestamptz,
        ADD COLUMN delta_sync_created_xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
        ADD COLUMN delta_sync_changed_xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()',
        qualified);
    EXECUTE format('CREATE INDEX ON %s (delta_sync_changed_xid)', qualified);
    EXECUTE format('CREATE TRIGGER delta_sync_stamp BEFORE INSERT OR UPDATE ON %1$s
                        FOR EACH ROW EXECUTE FUNCTION delta_sync._stamp();
                    CREATE TRIGGER delta_sync_soft_delete BEFORE DELETE ON %1$s
                        FOR EACH ROW EXECUTE FUNCTION delta_sync._soft_delete();
                    CREATE TRIGGER delta_sync_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %1$s
                        FOR EACH STATEMENT EXECUTE FUNCTION delta_sync._after_statement();
                    ALTER TABLE %1$s ENABLE ALWAYS TRIGGER delta_sync_stamp,
                                     ENABLE ALWAYS TRIGGER delta_sync_soft_delete,
                                     ENABLE ALWAYS TRIGGER delta_sync_notify', qualified);
    INSERT INTO delta_sync.tracked (relid, max_changes, horizon)
    VALUES (tbl, track.max_changes, pg_current_xact_id());
END
$fn$;
COMMENT ON FUNCTION delta_sync.track(regclass, integer) IS
    'start tracking changes of a table (idempotent; owner only; single-column primary key)';

CREATE FUNCTION delta_sync.untrack(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning AS $fn$
DECLARE
    rel record;
    qualified text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'delta_sync.untrack: the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT c.relowner, c.relname, n.nspname INTO rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
    END IF;
    qualified := format('%I.%I', rel.nspname, rel.relname);
    IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table % to untrack it', qualified USING ERRCODE = '42501';
    END IF;
    -- The timestamps and soft-deleted rows are the application's data and stay; the internal
    -- versions, their index and the triggers go.
    EXECUTE format('DROP TRIGGER IF EXISTS delta_sync_stamp ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_soft_delete ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_notify ON %1$s;
                    ALTER TABLE %1$s DROP COLUMN IF EXISTS delta_sync_created_xid,
                                     DROP COLUMN IF EXISTS delta_sync_changed_xid', qualified);
    DELETE FROM delta_sync.tracked t WHERE t.relid = tbl;
END
$fn$;
COMMENT ON FUNCTION delta_sync.untrack(regclass) IS
    'stop tracking a table: drops the triggers and internal version columns, keeps the timestamps';

-- ---------------------------------------------------------------------------------------------
-- Deltas (C++)
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION delta_since(tbl regclass, since text DEFAULT NULL, max_changes integer DEFAULT NULL,
                            page_size integer DEFAULT NULL) RETURNS SETOF json
    AS 'MODULE_PATHNAME', 'delta_since'
    LANGUAGE C STABLE CALLED ON NULL INPUT ROWS 1 SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_since(regclass, text, integer, integer) IS
    'DeltaResponse documents (created, updated, deleted, serverVersion, fullResyncRequired) of a tracked table since a serverVersion';
