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
            RAISE EXCEPTION 'must be owner of table "%" to change its delta_sync registration', rel
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
-- One lock order: the table, then its registry row
-- ---------------------------------------------------------------------------------------------

-- track() locks the table before it writes the registry row, like purge() and the event
-- triggers: see its 1.2 definition in "Hard deletes" below.

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
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF enabled IS NULL THEN
        RAISE EXCEPTION 'enabled must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = tbl
                      AND pg_has_role(current_user, c.relowner, 'USAGE')) THEN
        RAISE EXCEPTION 'must be owner of table "%" to change its notifications', tbl
            USING ERRCODE = '42501';
    END IF;
    UPDATE delta_sync.tracked t SET notify = enabled WHERE t.relid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table "%" is not tracked by delta_sync', tbl USING ERRCODE = '55000',
            HINT = format('Start tracking it with SELECT delta_sync.track(%s).', quote_literal(tbl::text));
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

-- =============================================================================================
-- Error messages in PostgreSQL's style
-- =============================================================================================

-- untrack() as in 1.0, with its messages in PostgreSQL's style (no function name in the primary
-- message, names in double quotes). set_notify() got its own where 1.2 redefines it above,
-- track() in "Hard deletes" below.
CREATE OR REPLACE FUNCTION delta_sync.untrack(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning AS $fn$
DECLARE
    rel record;
    qualified text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT c.relowner, c.relname, n.nspname INTO rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
    END IF;
    qualified := format('%I.%I', rel.nspname, rel.relname);
    IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table "%" to untrack it', qualified USING ERRCODE = '42501';
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


-- =============================================================================================
-- Hard deletes: DELETE deletes for real, a tombstone tells the clients
-- =============================================================================================

-- track(tbl, deletes => 'hard'): DELETE removes the row as on an untracked table (row counts,
-- RETURNING, foreign-key actions, other triggers), and an AFTER DELETE statement trigger records the
-- key in the table's tombstone table (created next to it, key column of the key's own type), which
-- delta_since() reports in "deleted" until purge() removes it. deletes => NULL (the default)
-- keeps the table's mode, 'soft' for a table tracked afresh.
ALTER TABLE delta_sync.tracked ADD COLUMN tombstones regclass;
COMMENT ON COLUMN delta_sync.tracked.tombstones IS
    'the table''s tombstone table (hard-delete mode, or hard-deleted keys kept from it), or NULL';

CREATE FUNCTION delta_sync._tombstone() RETURNS trigger
    AS 'MODULE_PATHNAME', 'delta_sync_tombstone' LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync._tombstone() IS
    'hard-delete mode: AFTER DELETE statement trigger (old transition table) and AFTER UPDATE row trigger of key changes; records the old keys in the tombstone table';

-- Whether the tombstones of a tombstone table (by its OID, the row's tableoid) are hidden from
-- the current role: the table they belong to has row-level security that applies to it. Looked
-- up through the registry, so the policy that calls it depends on no table (DROP TABLE of the
-- tracked table needs no CASCADE) and survives renames, dumps and restores.
CREATE FUNCTION delta_sync._tombstones_hidden(tombstones oid) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $fn$
    SELECT coalesce((SELECT pg_catalog.row_security_active(t.relid::pg_catalog.oid)
                       FROM delta_sync.tracked t
                      WHERE t.tombstones::pg_catalog.oid OPERATOR(pg_catalog.=) $1), true)
$fn$;
COMMENT ON FUNCTION delta_sync._tombstones_hidden(oid) IS
    'policy of tombstone tables: whether row-level security of their tracked table applies to the current role';

DROP FUNCTION delta_sync.track(regclass, integer);
CREATE FUNCTION delta_sync.track(tbl regclass, max_changes integer DEFAULT NULL,
                                 deletes text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning AS $fn$
DECLARE
    rel record;
    pk smallint[];
    pk_name name;
    pk_names name[];
    ts_columns text;
    ts_keys text;
    key_changed text;
    needed constant text[] := ARRAY['created_at', 'updated_at', 'deleted_at',
                                    'delta_sync_created_xid', 'delta_sync_changed_xid'];
    needed_type constant regtype[] := ARRAY['timestamptz', 'timestamptz', 'timestamptz',
                                            'xid8', 'xid8']::regtype[];
    have regtype;
    qualified text;
    intact boolean;
    mode text;
    current_mode text;
    ts regclass;
    ts_name text;
    grantee_name text;
    stopped text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- NULL keeps the table's threshold (1000 for a table tracked afresh).
    IF max_changes < 1 THEN
        RAISE EXCEPTION 'max_changes must be at least 1, not %', max_changes USING ERRCODE = '22023';
    END IF;
    IF deletes IS NOT NULL AND deletes NOT IN ('soft', 'hard') THEN
        RAISE EXCEPTION 'deletes must be ''soft'' or ''hard'', not %',
            quote_literal(deletes) USING ERRCODE = '22023';
    END IF;
    SELECT c.relkind, c.relowner, c.relname, n.nspname INTO rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
    END IF;
    qualified := format('%I.%I', rel.nspname, rel.relname);
    IF rel.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not an ordinary table', qualified USING ERRCODE = '42809',
            DETAIL = format('Only ordinary and partitioned tables can be tracked, and "%s" is a %s.', qualified,
                CASE rel.relkind WHEN 'v' THEN 'view'
                     WHEN 'm' THEN 'materialized view' WHEN 'f' THEN 'foreign table'
                     WHEN 'S' THEN 'sequence' ELSE 'relation of kind ' || rel.relkind::text END);
    END IF;
    IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table "%" to track it', qualified USING ERRCODE = '42501';
    END IF;
    -- The key's columns in key order (conkey lists them in column order), without INCLUDE columns.
    SELECT (i.indkey::smallint[])[0 : i.indnkeyatts - 1] INTO pk
      FROM pg_index i WHERE i.indrelid = tbl AND i.indisprimary;
    IF pk IS NULL THEN
        RAISE EXCEPTION 'table "%" has no primary key', qualified USING ERRCODE = '55000',
            DETAIL = 'Rows of a tracked table are identified by their primary key.',
            HINT = 'Add a primary key to the table first.';
    END IF;
    -- A composite key's tombstone columns are key_1 ... key_n, by position; a single column's
    -- is key (as delta_since and the tombstone trigger expect).
    SELECT array_agg(a.attname ORDER BY k.n),
           string_agg(CASE WHEN cardinality(pk) = 1 THEN 'key' ELSE 'key_' || k.n END || ' '
                      || format_type(a.atttypid, a.atttypmod)
                      || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                              THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END
                      || ' NOT NULL', ', ' ORDER BY k.n),
           string_agg(CASE WHEN cardinality(pk) = 1 THEN 'key' ELSE 'key_' || k.n END, ', ' ORDER BY k.n)
      INTO pk_names, ts_columns, ts_keys
      FROM unnest(pk) WITH ORDINALITY k(attnum, n)
      JOIN pg_attribute a ON a.attrelid = tbl AND a.attnum = k.attnum
      JOIN pg_type t ON t.oid = a.atttypid;
    SELECT k.name INTO pk_name FROM unnest(pk_names) k(name) WHERE k.name = ANY (needed) LIMIT 1;
    IF pk_name IS NOT NULL THEN
        RAISE EXCEPTION 'the primary key of "%" has column "%", a column delta_sync maintains',
            qualified, pk_name USING ERRCODE = '0A000';
    END IF;

    -- The table before its registry row, as on every path that writes one (purge, TRUNCATE,
    -- ALTER, untrack, DROP): a self-conflicting lock that readers and writers pass.
    EXECUTE format('LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE', qualified);

    -- Tracked already, with everything in place: the threshold and the delete mode may change.
    current_mode := CASE
        WHEN EXISTS (SELECT 1 FROM pg_trigger tg WHERE tg.tgrelid = tbl AND NOT tg.tgisinternal
                        AND tg.tgname = 'delta_sync_key_change') THEN 'hard'
        WHEN EXISTS (SELECT 1 FROM pg_trigger tg WHERE tg.tgrelid = tbl AND NOT tg.tgisinternal
                        AND tg.tgname = 'delta_sync_soft_delete') THEN 'soft' END;
    intact := EXISTS (SELECT 1 FROM delta_sync.tracked t WHERE t.relid = tbl)
        AND current_mode IS NOT NULL
        AND (SELECT count(*) FROM pg_trigger tg WHERE tg.tgrelid = tbl AND NOT tg.tgisinternal
              AND tg.tgname IN ('delta_sync_stamp', 'delta_sync_notify')) = 2
        AND (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = tbl AND NOT a.attisdropped
              AND a.attname IN ('delta_sync_created_xid', 'delta_sync_changed_xid')) = 2;
    mode := coalesce(deletes, CASE WHEN intact THEN current_mode END, 'soft');
    PERFORM delta_sync._refuse_untrackable(tbl, mode);
    IF intact THEN
        UPDATE delta_sync.tracked t SET max_changes = track.max_changes
         WHERE t.relid = tbl AND t.max_changes IS DISTINCT FROM track.max_changes
           AND track.max_changes IS NOT NULL;
    ELSE
        -- A registry row without its triggers is left over (its table was dropped and the OID
        -- reused, or tracking was half removed): start afresh.
        DELETE FROM delta_sync.tracked t WHERE t.relid = tbl;

        FOR i IN 1 .. cardinality(needed) LOOP
            SELECT a.atttypid::regtype INTO have FROM pg_attribute a
             WHERE a.attrelid = tbl AND a.attname = needed[i] AND NOT a.attisdropped;
            IF FOUND AND have <> needed_type[i] THEN
                RAISE EXCEPTION 'column "%" of table "%" has type %, delta_sync needs %', needed[i],
                    qualified, have, needed_type[i] USING ERRCODE = '42804';
            END IF;
        END LOOP;
        PERFORM delta_sync._check_existing_columns(tbl);

        EXECUTE format('DROP TRIGGER IF EXISTS delta_sync_stamp ON %1$s;
                        DROP TRIGGER IF EXISTS delta_sync_soft_delete ON %1$s;
                        DROP TRIGGER IF EXISTS delta_sync_tombstone ON %1$s;
                        DROP TRIGGER IF EXISTS delta_sync_key_change ON %1$s;
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
                        CREATE TRIGGER delta_sync_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %1$s
                            FOR EACH STATEMENT EXECUTE FUNCTION delta_sync._after_statement();
                        ALTER TABLE %1$s ENABLE ALWAYS TRIGGER delta_sync_stamp,
                                         ENABLE ALWAYS TRIGGER delta_sync_notify', qualified);
        PERFORM delta_sync._track_partitions(tbl);
        INSERT INTO delta_sync.tracked (relid, max_changes, horizon)
        VALUES (tbl, coalesce(track.max_changes, 1000), pg_current_xact_id());
        current_mode := NULL;
    END IF;
    SELECT t.tombstones INTO ts FROM delta_sync.tracked t WHERE t.relid = tbl;
    -- A tombstone table made for another primary key (the table's key was replaced since, which
    -- made every cursor resync) no longer fits: a new one replaces it.
    IF ts IS NOT NULL AND ts_columns IS DISTINCT FROM (
           SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                             || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                                     THEN ' COLLATE ' || a.attcollation::regcollation::text ELSE '' END
                             || ' NOT NULL', ', ' ORDER BY k.n)
             FROM pg_index i, unnest((i.indkey::smallint[])[0 : i.indnkeyatts - 1]) WITH ORDINALITY k(attnum, n),
                  pg_attribute a, pg_type t
            WHERE i.indrelid = ts AND i.indisprimary AND a.attrelid = ts AND a.attnum = k.attnum
              AND t.oid = a.atttypid) THEN
        EXECUTE format('DROP TABLE %s', ts);
        UPDATE delta_sync.tracked t SET tombstones = NULL WHERE t.relid = tbl;
        ts := NULL;
    END IF;
    IF mode IS NOT DISTINCT FROM current_mode AND ts IS NOT NULL AND EXISTS (SELECT 1 FROM pg_trigger tg
           WHERE tg.tgrelid = tbl AND NOT tg.tgisinternal AND tg.tgname = 'delta_sync_tombstone')
       -- In hard-delete mode the key-change trigger watches the columns of the current key (its
       -- WHEN depends on them), not those of a key replaced since.
       AND (mode = 'soft' OR (SELECT array_agg(DISTINCT d.refobjsubid ORDER BY d.refobjsubid)
                                FROM pg_trigger tg JOIN pg_depend d
                                  ON d.classid = 'pg_trigger'::regclass AND d.objid = tg.oid
                                 AND d.refclassid = 'pg_class'::regclass AND d.refobjid = tbl
                                 AND d.refobjsubid > 0
                               WHERE tg.tgrelid = tbl AND tg.tgname = 'delta_sync_key_change')
                             = (SELECT array_agg(k::integer ORDER BY k) FROM unnest(pk) k)) THEN
        RETURN;
    END IF;

    -- The tombstone table, in both modes: in soft-delete mode the deletes a foreign key cascades
    -- into the table are real, and leave tombstones too. Next to the table, owned by the table's
    -- owner, readable by the roles that may read the table now (grant SELECT on it to roles that
    -- get it later).
    IF ts IS NULL THEN
        -- The first free name: one left behind (DROP EXTENSION ... CASCADE keeps tombstone
        -- tables, which are the application's tables, not the extension's) is not reused.
        ts_name := left(rel.relname, 40) || '_delta_sync_tombstones';
        FOR i IN 2 .. 1000 LOOP
            EXIT WHEN to_regclass(format('%I.%I', rel.nspname, ts_name)) IS NULL;
            ts_name := left(rel.relname, 40) || '_delta_sync_tombstones_' || i;
        END LOOP;
        EXECUTE format('CREATE TABLE %I.%I (%s,
                            delta_sync_created_xid xid8 NOT NULL,
                            delta_sync_changed_xid xid8 NOT NULL,
                            deleted_at timestamptz NOT NULL,
                            PRIMARY KEY (%s))', rel.nspname, ts_name, ts_columns, ts_keys);
        ts := format('%I.%I', rel.nspname, ts_name)::regclass;
        EXECUTE format('CREATE INDEX ON %s (delta_sync_changed_xid)', ts);
        EXECUTE format('ALTER TABLE %s OWNER TO %I', ts, rel.relowner::regrole::text);
        EXECUTE format('COMMENT ON TABLE %s IS %L', ts,
                       'delta_sync tombstones of ' || qualified || ': keys deleted for real');
        -- A tombstone carries only a key, which row-level security on the table cannot judge:
        -- roles the table's policies apply to read none (delta_since answers them with a resync
        -- when a deletion they did not see exists).
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', ts);
        EXECUTE format('CREATE POLICY readers_of_every_row ON %s FOR SELECT
                            USING (NOT delta_sync._tombstones_hidden(tableoid))', ts);
        FOR grantee_name IN
            SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END
              FROM pg_class c, aclexplode(c.relacl) a
             WHERE c.oid = tbl AND a.privilege_type = 'SELECT' AND a.grantee <> rel.relowner
        LOOP
            EXECUTE format('GRANT SELECT ON %s TO %s', ts, grantee_name);
        END LOOP;
        UPDATE delta_sync.tracked t SET tombstones = ts WHERE t.relid = tbl;
    END IF;

    -- The delete mode. Rows soft-deleted before stay in the table and tombstones in theirs, and
    -- are reported from there until purge() removes them; the triggers change by ALTER TABLE,
    -- which raises the horizon, so cursors from before the switch resync.
    EXECUTE format('DROP TRIGGER IF EXISTS delta_sync_soft_delete ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_tombstone ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_key_change ON %1$s;
                    CREATE TRIGGER delta_sync_tombstone AFTER DELETE ON %1$s
                        REFERENCING OLD TABLE AS delta_sync_old
                        FOR EACH STATEMENT EXECUTE FUNCTION delta_sync._tombstone();
                    ALTER TABLE %1$s ENABLE ALWAYS TRIGGER delta_sync_tombstone', qualified);
    IF mode = 'soft' THEN
        EXECUTE format('CREATE TRIGGER delta_sync_soft_delete BEFORE DELETE ON %1$s
                            FOR EACH ROW EXECUTE FUNCTION delta_sync._soft_delete();
                        ALTER TABLE %1$s ENABLE ALWAYS TRIGGER delta_sync_soft_delete', qualified);
        -- DELETE triggers the soft delete will stop: a BEFORE DELETE trigger that sorts after
        -- ours and every AFTER DELETE row trigger (the row is updated, not deleted).
        SELECT string_agg(quote_ident(tg.tgname), ', ' ORDER BY tg.tgname) INTO stopped
          FROM pg_trigger tg
         WHERE tg.tgrelid = tbl AND NOT tg.tgisinternal AND (tg.tgtype & 8) <> 0
           AND (tg.tgtype & 1) <> 0 AND tg.tgname NOT LIKE 'delta\_sync\_%'
           AND ((tg.tgtype & 2) = 0 OR tg.tgname > 'delta_sync_soft_delete');
        IF stopped IS NOT NULL THEN
            RAISE WARNING 'soft-delete mode stops the DELETE triggers of "%": %', qualified, stopped
                USING DETAIL = 'A soft delete is an UPDATE of deleted_at: AFTER DELETE row triggers and BEFORE DELETE row triggers that sort after "delta_sync_soft_delete" never see the row.',
                      HINT = 'Track the table with deletes => ''hard'' to keep them firing.';
        END IF;
        RETURN;
    END IF;

    -- A key change is a change of the key as clients get it, its text: keys equal under their
    -- type's equality but spelled differently ('1.0' and '1.00' as numeric, 'Abc' and 'ABC' as
    -- citext) are different keys to a client. (The cast also needs no operator from any schema.)
    -- Of a composite key, any of its columns.
    SELECT string_agg(format('OLD.%1$I::pg_catalog.text IS DISTINCT FROM NEW.%1$I::pg_catalog.text', k.name),
                      ' OR ' ORDER BY k.n)
      INTO key_changed FROM unnest(pk_names) WITH ORDINALITY k(name, n);
    EXECUTE format('CREATE TRIGGER delta_sync_key_change AFTER UPDATE ON %1$s
                        FOR EACH ROW
                        WHEN (%2$s)
                        EXECUTE FUNCTION delta_sync._tombstone();
                    ALTER TABLE %1$s ENABLE ALWAYS TRIGGER delta_sync_key_change', qualified, key_changed);
END
$fn$;
COMMENT ON FUNCTION delta_sync.track(regclass, integer, text) IS
    'start tracking changes of a table (idempotent; owner only; a primary key of any columns); deletes => ''soft'' (default) or ''hard'' sets or switches the delete mode';

CREATE OR REPLACE FUNCTION delta_sync.untrack(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET client_min_messages = warning AS $fn$
DECLARE
    rel record;
    qualified text;
    ts regclass;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'the table must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT c.relowner, c.relname, n.nspname INTO rel
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
    END IF;
    qualified := format('%I.%I', rel.nspname, rel.relname);
    IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table "%" to untrack it', qualified USING ERRCODE = '42501';
    END IF;
    -- The timestamps and soft-deleted rows are the application's data and stay; the internal
    -- versions, their index, the triggers and the tombstones go.
    SELECT t.tombstones INTO ts FROM delta_sync.tracked t WHERE t.relid = tbl;
    PERFORM delta_sync._untrack_partitions(tbl);
    EXECUTE format('DROP TRIGGER IF EXISTS delta_sync_stamp ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_soft_delete ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_tombstone ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_key_change ON %1$s;
                    DROP TRIGGER IF EXISTS delta_sync_notify ON %1$s;
                    ALTER TABLE %1$s DROP COLUMN IF EXISTS delta_sync_created_xid,
                                     DROP COLUMN IF EXISTS delta_sync_changed_xid', qualified);
    DELETE FROM delta_sync.tracked t WHERE t.relid = tbl;
    IF ts IS NOT NULL THEN
        EXECUTE format('DROP TABLE IF EXISTS %s', ts);
    END IF;
END
$fn$;

-- =============================================================================================
-- Shapes: delta_since of chosen columns and of the rows that match a filter
-- =============================================================================================

-- Two trailing parameters: columns (every column of the primary key always comes along) and
-- filter, an expression over the table's columns that the extension parses and checks itself
-- before it runs (src/extension/shape.hpp). A row changed since the cursor that is out of the shape now is
-- reported in "deleted"; the cursor belongs to its shape. A new signature: the old one is
-- dropped, so that no call can be ambiguous between the two.
DROP FUNCTION @extschema@.delta_since(regclass, text, integer, integer);
CREATE FUNCTION @extschema@.delta_since(tbl regclass, since text DEFAULT NULL,
                                        max_changes integer DEFAULT NULL,
                                        page_size integer DEFAULT NULL,
                                        columns text[] DEFAULT NULL,
                                        filter text DEFAULT NULL) RETURNS SETOF json
    AS 'MODULE_PATHNAME', 'delta_since'
    LANGUAGE C STABLE CALLED ON NULL INPUT ROWS 1 SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.delta_since(regclass, text, integer, integer, text[], text) IS
    'DeltaResponse documents (created, updated, deleted, serverVersion, fullResyncRequired) of a tracked table since a serverVersion; columns and filter restrict it to a shape';

-- =============================================================================================
-- Any table an application has: partitioned tables, inheritance, existing columns
-- =============================================================================================

-- A partitioned table is tracked through its parent: its row triggers are cloned into every
-- partition by PostgreSQL, its statement triggers are put on every partition by
-- _track_partitions (track) and by the event trigger below (partitions created or attached
-- later), and taken off by _untrack_partitions (untrack) and the event trigger (a partition
-- detached). See src/extension/partitions.cpp.
CREATE FUNCTION delta_sync._track_partitions(tbl regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'delta_sync_track_partitions' LANGUAGE C;
COMMENT ON FUNCTION delta_sync._track_partitions(regclass) IS
    'internal: gives every partition of a tracked partitioned table the statement triggers (owner of each partition only)';
CREATE FUNCTION delta_sync._untrack_partitions(tbl regclass) RETURNS void
    AS 'MODULE_PATHNAME', 'delta_sync_untrack_partitions' LANGUAGE C;
COMMENT ON FUNCTION delta_sync._untrack_partitions(regclass) IS
    'internal: takes the statement triggers off the partitions of a partitioned table being untracked (owner only)';
CREATE FUNCTION delta_sync._partitions_changed() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'delta_sync_partitions_changed'
    LANGUAGE C SECURITY INVOKER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync._partitions_changed() IS
    'ddl_command_end event trigger: partitions created, attached or detached in a tracked tree; inheritance from a tracked table refused';
REVOKE EXECUTE ON FUNCTION delta_sync._partitions_changed() FROM PUBLIC;
CREATE EVENT TRIGGER delta_sync_partitions_changed ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION delta_sync._partitions_changed();
-- A dropped partition's rows leave its tree's view: the tree's cursors resync. When sql_drop
-- runs the catalog no longer says which tree it was in, so the DROP's start notes the trees.
CREATE FUNCTION delta_sync._partitions_dropping() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'delta_sync_partitions_dropping'
    LANGUAGE C SECURITY INVOKER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION delta_sync._partitions_dropping() IS
    'ddl_command_start event trigger: notes the partitions of tracked partitioned tables for the sql_drop event trigger of the same DROP';
REVOKE EXECUTE ON FUNCTION delta_sync._partitions_dropping() FROM PUBLIC;
CREATE EVENT TRIGGER delta_sync_partitions_dropping ON ddl_command_start
    WHEN TAG IN ('DROP TABLE', 'DROP SCHEMA', 'DROP OWNED')
    EXECUTE FUNCTION delta_sync._partitions_dropping();

-- What track() refuses about the table's place in a hierarchy (after its mode is known).
CREATE FUNCTION delta_sync._refuse_untrackable(tbl regclass, mode text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    top regclass;
    child regclass;
    parent regclass;
BEGIN
    IF (SELECT c.relispartition FROM pg_class c WHERE c.oid = tbl) THEN
        SELECT a.relid INTO top FROM pg_partition_ancestors(tbl) a
         ORDER BY (SELECT count(*) FROM pg_partition_ancestors(a.relid)) LIMIT 1;
        RAISE EXCEPTION 'table "%" is a partition of "%"', tbl, top USING ERRCODE = '0A000',
            DETAIL = 'A partition is tracked with its partitioned table, whose cursor serves the rows of all its partitions.',
            HINT = format('Track the partitioned table: SELECT delta_sync.track(%s).', quote_literal(top::text));
    END IF;
    SELECT i.inhrelid::regclass INTO child FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = tbl AND NOT c.relispartition ORDER BY 1 LIMIT 1;
    IF child IS NOT NULL THEN
        RAISE EXCEPTION 'table "%" has inheritance children', tbl USING ERRCODE = '0A000',
            DETAIL = format('SELECT * FROM %s shows the rows of %s too, which delta_sync cannot report as rows of %s.',
                            tbl, child, tbl),
            HINT = 'Track a partitioned table instead, or each table on its own after ALTER TABLE ... NO INHERIT.';
    END IF;
    -- A tracked parent with children is refused above and by the event trigger; one tracked
    -- before 1.2 may still have them.
    SELECT i.inhparent::regclass INTO parent FROM pg_inherits i
     WHERE i.inhrelid = tbl AND EXISTS (SELECT 1 FROM delta_sync.tracked t WHERE t.relid = i.inhparent)
     ORDER BY 1 LIMIT 1;
    IF parent IS NOT NULL THEN
        RAISE EXCEPTION 'table "%" inherits from tracked table "%"', tbl, parent USING ERRCODE = '0A000',
            DETAIL = format('SELECT * FROM %s shows the rows of %s, which delta_sync does not report as rows of %s.',
                            parent, tbl, parent),
            HINT = format('Untrack %s first: SELECT delta_sync.untrack(%s).', parent, quote_literal(parent::text));
    END IF;
    SELECT i.inhparent::regclass INTO parent FROM pg_inherits i WHERE i.inhrelid = tbl ORDER BY 1 LIMIT 1;
    IF parent IS NOT NULL AND mode = 'hard' THEN
        RAISE EXCEPTION 'table "%" inherits from "%" and cannot be tracked in hard-delete mode', tbl, parent
            USING ERRCODE = '0A000',
            DETAIL = format('A DELETE through %s would remove rows of %s without tombstones, and no client would hear of it.',
                            parent, tbl),
            HINT = 'Track it with deletes => ''soft'', or after ALTER TABLE ... NO INHERIT.';
    END IF;
END
$fn$;
COMMENT ON FUNCTION delta_sync._refuse_untrackable(regclass, text) IS
    'internal: track() refuses a partition, a table with inheritance children, and an inheritance child in hard-delete mode';

-- Columns track() takes over rather than adds: what the triggers could not do with them. The
-- types are checked in track() itself (42804); an identity column cannot be timestamptz.
CREATE FUNCTION delta_sync._check_existing_columns(tbl regclass) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $fn$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT a.attname, a.attnotnull, a.attgenerated, pg_get_expr(d.adbin, d.adrelid) AS default_expr,
               d.adbin IS NOT NULL AND NOT EXISTS (SELECT 1 WHERE pg_get_expr(d.adbin, d.adrelid)
                   ~ '^NULL(::timestamp with time zone)?$') AS non_null_default
          FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = tbl AND NOT a.attisdropped
           AND a.attname IN ('created_at', 'updated_at', 'deleted_at')
         ORDER BY array_position(ARRAY['created_at', 'updated_at', 'deleted_at']::name[], a.attname)
    LOOP
        IF col.attgenerated <> '' THEN
            RAISE EXCEPTION 'column "%" of table "%" is a generated column', col.attname, tbl
                USING ERRCODE = '42P16',
                DETAIL = CASE col.attname WHEN 'deleted_at'
                    THEN 'A soft delete writes deleted_at, which a generated column refuses: every DELETE would fail.'
                    ELSE format('The triggers of delta_sync write %s; PostgreSQL computes a generated column after them, so it would not say when the row was %s.',
                                col.attname, CASE col.attname WHEN 'created_at' THEN 'created' ELSE 'last written' END) END,
                HINT = format('Drop the column (delta_sync adds it) or rename it: ALTER TABLE %s DROP COLUMN %I.', tbl, col.attname);
        END IF;
        CONTINUE WHEN col.attname <> 'deleted_at';
        IF col.attnotnull THEN
            RAISE EXCEPTION 'column "deleted_at" of table "%" is NOT NULL', tbl USING ERRCODE = '42P16',
                DETAIL = 'A NULL deleted_at marks a live row to delta_sync: every row of the table would count as deleted.',
                HINT = format('Set deleted_at of the live rows to NULL and allow NULL: ALTER TABLE %s ALTER COLUMN deleted_at DROP NOT NULL.', tbl);
        END IF;
        IF col.non_null_default THEN
            RAISE EXCEPTION 'column "deleted_at" of table "%" has the default %', tbl, col.default_expr
                USING ERRCODE = '42P16',
                DETAIL = 'A NULL deleted_at marks a live row to delta_sync: a row inserted without deleted_at would be deleted from its start.',
                HINT = format('Drop the default: ALTER TABLE %s ALTER COLUMN deleted_at DROP DEFAULT.', tbl);
        END IF;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION delta_sync._check_existing_columns(regclass) IS
    'internal: track() refuses existing created_at, updated_at, deleted_at columns its triggers cannot keep right';

-- =============================================================================================
-- Explicit declarations
-- =============================================================================================
--
-- KEEP THIS SECTION LAST. CREATE OR REPLACE FUNCTION resets volatility, strictness and
-- parallel safety to what its own statement says (the defaults when it says nothing), so a
-- function redefined after these lines would silently lose them. Privileges survive it.
--
-- Every function says its volatility, what it does on NULL input and its parallel safety, even
-- where that is PostgreSQL's default. The rules:
--   - everything that writes, takes locks for writing or runs DDL is VOLATILE PARALLEL UNSAFE;
--   - functions that refuse NULL with an error of their own (track, untrack, purge, set_notify,
--     delta_since, wait) are CALLED ON NULL INPUT: STRICT would turn the error into a silent NULL;
--   - delta_since is PARALLEL UNSAFE: it opens its own SPI cursors and keeps a scan open across
--     the calls of a set-returning function; it is no work a parallel plan could share, and
--     unsafe keeps the planner from putting a query that calls it in parallel mode at all;
--   - wait() only reads shared memory and sleeps on its latch: PARALLEL RESTRICTED (it must run
--     in the leader, where the client's interrupts arrive).
ALTER FUNCTION @extschema@.delta_since(regclass, text, integer, integer, text[], text)
    STABLE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync.wait(regclass[], text[], interval)
    VOLATILE CALLED ON NULL INPUT PARALLEL RESTRICTED;
ALTER FUNCTION delta_sync.track(regclass, integer, text)
    VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._tombstone() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._tombstones_hidden(oid) STABLE CALLED ON NULL INPUT PARALLEL RESTRICTED;
ALTER FUNCTION delta_sync.untrack(regclass) VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync.purge(regclass, interval) VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync.set_notify(regclass, boolean)
    VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._notify_setting_changed(regclass) VOLATILE STRICT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._stamp() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._soft_delete() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._after_statement() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._registry_write_check() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._forget_dropped() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._schema_changed() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._restamp_restored() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._partitions_changed() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._partitions_dropping() VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._track_partitions(regclass) VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._untrack_partitions(regclass) VOLATILE CALLED ON NULL INPUT PARALLEL UNSAFE;
ALTER FUNCTION delta_sync._refuse_untrackable(regclass, text) STABLE CALLED ON NULL INPUT PARALLEL SAFE;
ALTER FUNCTION delta_sync._check_existing_columns(regclass) STABLE CALLED ON NULL INPUT PARALLEL SAFE;

-- Who may call what. PUBLIC keeps EXECUTE on the functions a plain role uses (delta_since,
-- wait; track, untrack, purge and set_notify check ownership of the table themselves), and on
-- the internal ones that must stay executable:
--   - _stamp, _soft_delete, _after_statement, _tombstone: CREATE TRIGGER checks EXECUTE on the trigger's
--     function for the role creating it, which is the table's owner running track() (or
--     pg_restore); called directly they refuse ("can only be called as a trigger");
--   - _notify_setting_changed: set_notify() runs as its caller and calls it; it checks
--     ownership of the table itself.
--   - _tombstones_hidden: the row-level security policy of the tombstone tables, evaluated as
--     the role reading them.
-- Everything else internal is revoked. The event-trigger functions and the registry's trigger
-- function lost EXECUTE above, in "Trusted installs"; said again here so this section is the
-- whole list.
REVOKE EXECUTE ON FUNCTION delta_sync._forget_dropped() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION delta_sync._schema_changed() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION delta_sync._restamp_restored() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION delta_sync._registry_write_check() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION delta_sync._partitions_changed() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION delta_sync._partitions_dropping() FROM PUBLIC;
