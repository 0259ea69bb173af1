-- Benchmark data and the baselines, as plain SQL. Loaded once per benchmark cluster by run.sh.
-- "The seed" is the timestamp-cursor design the benchmarks compare against (docs/design.md §12).
--
--   bench_products(name, n)   a products-like table of n rows (bigint id, text name, numeric price,
--                             int stock, text[] tags, jsonb attrs), the same rows for every n prefix
--   bench_seed(name, n)       the seed's design: the same rows plus created_at/updated_at/deleted_at,
--                             a PL/pgSQL updated_at trigger, and an index on each of the timestamps
--   seed_delta(tbl, since)    the seed's endpoint: its three queries, json_agg, the 1000 threshold
--
-- Every table gets its columns in the same order so that the JSON of a row is the same bytes
-- whichever design produced it.

CREATE EXTENSION IF NOT EXISTS delta_sync;
CREATE EXTENSION IF NOT EXISTS moddatetime;

-- The rows: deterministic, a few needing JSON escapes (a quote every 97th name), NULL prices
-- every 50th row, a mix of small and larger jsonb documents.
CREATE FUNCTION bench_products(tbl text, n integer) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($sql$
        CREATE TABLE %I (
            id bigint PRIMARY KEY,
            name text NOT NULL,
            price numeric(12,2),
            stock integer NOT NULL,
            tags text[] NOT NULL,
            attrs jsonb NOT NULL
        )$sql$, tbl);
    EXECUTE format($sql$
        INSERT INTO %I
        SELECT i,
               CASE WHEN i %% 97 = 0 THEN 'Product "' || i || '" deluxe' ELSE 'Product ' || i END,
               CASE WHEN i %% 50 = 0 THEN NULL ELSE ((i * 7919) %% 100000) / 100.0 + 0.99 END,
               (i * 31) %% 1000,
               ARRAY['cat' || (i %% 17), 'brand' || (i %% 101)],
               jsonb_build_object('color', (ARRAY['red','green','blue','black'])[1 + i %% 4],
                                  'weight_g', (i * 13) %% 5000,
                                  'sku', 'SKU-' || lpad(i::text, 8, '0'))
        FROM generate_series(1::bigint, %s) i$sql$, tbl, n);
END
$fn$;

-- The seed's write path: a PL/pgSQL trigger that sets updated_at (also the "plain PL/pgSQL
-- trigger" baseline of the write benchmarks).
CREATE FUNCTION seed_set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$fn$;

-- Timestamp columns in the same place delta_sync.track() puts them (after the user's columns).
CREATE FUNCTION bench_timestamps(tbl text) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format($sql$
        ALTER TABLE %I
            ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN deleted_at timestamptz$sql$, tbl);
END
$fn$;

CREATE FUNCTION bench_seed(tbl text, n integer) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM bench_products(tbl, n);
    PERFORM bench_timestamps(tbl);
    EXECUTE format('CREATE INDEX ON %I (created_at)', tbl);
    EXECUTE format('CREATE INDEX ON %I (updated_at)', tbl);
    EXECUTE format('CREATE INDEX ON %I (deleted_at)', tbl);
    EXECUTE format('CREATE TRIGGER seed_updated_at BEFORE UPDATE ON %I
                    FOR EACH ROW EXECUTE FUNCTION seed_set_updated_at()', tbl);
END
$fn$;

-- The seed's delta endpoint, query for query: created, updated and deleted each read by its own
-- statement (parsed and planned per call, as the seed's pool.query() does), json_agg standing in
-- for JSON.stringify, and the threshold applied after everything was read.
CREATE FUNCTION seed_delta(tbl regclass, since timestamptz) RETURNS json LANGUAGE plpgsql AS $fn$
DECLARE
    created json;
    updated json;
    deleted json;
    n_created bigint;
    n_updated bigint;
    n_deleted bigint;
BEGIN
    EXECUTE format('SELECT json_agg(t), count(*) FROM %s t
                    WHERE created_at > $1 AND deleted_at IS NULL', tbl)
        INTO created, n_created USING since;
    EXECUTE format('SELECT json_agg(t), count(*) FROM %s t
                    WHERE updated_at > $1 AND created_at <= $1 AND deleted_at IS NULL', tbl)
        INTO updated, n_updated USING since;
    EXECUTE format('SELECT json_agg(t.id::text), count(*) FROM %s t WHERE deleted_at > $1', tbl)
        INTO deleted, n_deleted USING since;
    IF n_created + n_updated + n_deleted > 1000 THEN
        RETURN json_build_object('created', '[]'::json, 'updated', '[]'::json,
                                 'deleted', '[]'::json, 'serverVersion', now(),
                                 'fullResyncRequired', true);
    END IF;
    RETURN json_build_object('created', coalesce(created, '[]'), 'updated', coalesce(updated, '[]'),
                             'deleted', coalesce(deleted, '[]'), 'serverVersion', now(),
                             'fullResyncRequired', false);
END
$fn$;

-- The write benchmarks: the same rows under each way of keeping updated_at, each with an index on
-- the column it versions by (what a delta query would search), so every variant writes one
-- indexed column per update.
--   w_tracked      delta_sync.track(): C++ row trigger, xid8 versions, index on the version
--   w_moddatetime  contrib moddatetime (C) on updated_at, index on updated_at
--   w_plpgsql      the seed's PL/pgSQL trigger on updated_at, index on updated_at
--   w_none         no trigger: the same columns and index as w_tracked, which the UPDATE itself
--                  writes (updated_at = now(), delta_sync_changed_xid = pg_current_xact_id())
CREATE FUNCTION bench_write_tables(n integer) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM bench_products('w_tracked', n);
    PERFORM delta_sync.track('w_tracked');

    PERFORM bench_products('w_moddatetime', n);
    PERFORM bench_timestamps('w_moddatetime');
    CREATE INDEX ON w_moddatetime (updated_at);
    CREATE TRIGGER w_moddatetime_updated_at BEFORE UPDATE ON w_moddatetime
        FOR EACH ROW EXECUTE FUNCTION moddatetime(updated_at);

    PERFORM bench_products('w_plpgsql', n);
    PERFORM bench_timestamps('w_plpgsql');
    CREATE INDEX ON w_plpgsql (updated_at);
    CREATE TRIGGER w_plpgsql_updated_at BEFORE UPDATE ON w_plpgsql
        FOR EACH ROW EXECUTE FUNCTION seed_set_updated_at();

    PERFORM bench_products('w_none', n);
    PERFORM bench_timestamps('w_none');
    ALTER TABLE w_none
        ADD COLUMN delta_sync_created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        ADD COLUMN delta_sync_changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
    CREATE INDEX ON w_none (delta_sync_changed_xid);
END
$fn$;

-- The pgbench tables: tracked; the same rows with no tracking at all; and the same columns and
-- index as the tracked table with no trigger (its script writes them itself).
CREATE FUNCTION bench_pgbench_tables(n integer) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM bench_products('pg_tracked', n);
    PERFORM delta_sync.track('pg_tracked');
    PERFORM bench_products('pg_untracked', n);
    PERFORM bench_products('pg_samecols', n);
    PERFORM bench_timestamps('pg_samecols');
    ALTER TABLE pg_samecols
        ADD COLUMN delta_sync_created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        ADD COLUMN delta_sync_changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
    CREATE INDEX ON pg_samecols (delta_sync_changed_xid);
END
$fn$;

-- The insert tables of the live-changes benchmark: tracked as the README says; untracked; and the
-- tracked columns and index without a trigger (their defaults write the version). Keys come from
-- a sequence per table.
CREATE FUNCTION bench_insert_tables() RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    k text;
BEGIN
    FOREACH k IN ARRAY ARRAY['tracked', 'untracked', 'samecols'] LOOP
        PERFORM bench_products('ins_' || k, 0);
        EXECUTE format('CREATE SEQUENCE %I', 'ins_' || k || '_id');
        EXECUTE format('ALTER TABLE %I ALTER COLUMN id SET DEFAULT nextval(%L)', 'ins_' || k, 'ins_' || k || '_id');
    END LOOP;
    PERFORM delta_sync.track('ins_tracked');
    PERFORM bench_timestamps('ins_samecols');
    ALTER TABLE ins_samecols
        ADD COLUMN delta_sync_created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
        ADD COLUMN delta_sync_changed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
    CREATE INDEX ON ins_samecols (delta_sync_changed_xid);
END
$fn$;
