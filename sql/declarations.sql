-- Explicit declarations: every function of the extension has the volatility, NULL handling and
-- parallel safety the install scripts' "Explicit declarations" section gives it, and PUBLIC (a
-- plain role) may execute exactly the functions meant for it.
--
-- The rules (src/extension/delta_sync--1.1--1.2.sql): writers, DDL and triggers are VOLATILE
-- PARALLEL UNSAFE; delta_since is STABLE PARALLEL UNSAFE (its own SPI cursors, a scan kept across
-- calls); wait is VOLATILE PARALLEL RESTRICTED; functions that refuse NULL with an error of their
-- own are CALLED ON NULL INPUT; internal functions are not executable by PUBLIC, except the
-- four trigger functions (CREATE TRIGGER needs EXECUTE for the table's owner),
-- _notify_setting_changed (set_notify runs as its caller and calls it) and _tombstones_hidden
-- (the policy of the tombstone tables, evaluated as whoever reads them), and the helpers track and
-- untrack call as their caller (_track_partitions, _untrack_partitions, which check ownership, and
-- the read-only checks _refuse_untrackable and _check_existing_columns).

CREATE ROLE regress_ds_plain;

CREATE TEMP TABLE intended (fn text PRIMARY KEY, volatility "char", strict boolean,
                            parallel "char", public_may_execute boolean);
INSERT INTO intended VALUES
    ('delta_since(regclass,text,integer,integer,text[],text)', 's', false, 'u', true),
    ('delta_sync.wait(regclass[],text[],interval)', 'v', false, 'r', true),
    ('delta_sync.track(regclass,integer,text)', 'v', false, 'u', true),
    ('delta_sync.untrack(regclass)', 'v', false, 'u', true),
    ('delta_sync.purge(regclass,interval)', 'v', false, 'u', true),
    ('delta_sync.set_notify(regclass,boolean)', 'v', false, 'u', true),
    ('delta_sync._notify_setting_changed(regclass)', 'v', true, 'u', true),
    ('delta_sync._stamp()', 'v', false, 'u', true),
    ('delta_sync._soft_delete()', 'v', false, 'u', true),
    ('delta_sync._after_statement()', 'v', false, 'u', true),
    ('delta_sync._tombstone()', 'v', false, 'u', true),
    ('delta_sync._tombstones_hidden(oid)', 's', false, 'r', true),
    ('delta_sync._registry_write_check()', 'v', false, 'u', false),
    ('delta_sync._forget_dropped()', 'v', false, 'u', false),
    ('delta_sync._schema_changed()', 'v', false, 'u', false),
    ('delta_sync._restamp_restored()', 'v', false, 'u', false),
    ('delta_sync._partitions_changed()', 'v', false, 'u', false),
    ('delta_sync._partitions_dropping()', 'v', false, 'u', false),
    ('delta_sync._track_partitions(regclass)', 'v', false, 'u', true),
    ('delta_sync._untrack_partitions(regclass)', 'v', false, 'u', true),
    ('delta_sync._refuse_untrackable(regclass,text)', 's', false, 's', true),
    ('delta_sync._check_existing_columns(regclass)', 's', false, 's', true);

CREATE TEMP VIEW actual AS
SELECT p.oid::regprocedure::text AS fn, p.provolatile AS volatility, p.proisstrict AS strict,
       p.proparallel AS parallel,
       has_function_privilege('regress_ds_plain', p.oid, 'EXECUTE') AS public_may_execute
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND d.refclassid = 'pg_extension'::regclass
 WHERE e.extname = 'delta_sync';

-- Every function of the extension is listed here, and nothing listed is missing.
SELECT fn AS unlisted FROM actual EXCEPT SELECT fn FROM intended ORDER BY 1;
SELECT fn AS missing FROM intended EXCEPT SELECT fn FROM actual ORDER BY 1;
-- No function differs from its intended declaration (none of these rows).
SELECT a.*, i.volatility AS want_volatility, i.strict AS want_strict, i.parallel AS want_parallel,
       i.public_may_execute AS want_public
  FROM actual a JOIN intended i USING (fn)
 WHERE (a.volatility, a.strict, a.parallel, a.public_may_execute)
       IS DISTINCT FROM (i.volatility, i.strict, i.parallel, i.public_may_execute)
 ORDER BY fn;
-- The whole table, for the record.
SELECT * FROM actual ORDER BY fn;

-- A plain role does what it should: reads deltas and waits on a table it may read; tracks,
-- tunes, purges and untracks a table it owns (track() creates the triggers as that role); and is
-- refused the internal functions before they run.
CREATE TABLE decl_t (id integer PRIMARY KEY);
SELECT delta_sync.track('decl_t');
GRANT SELECT ON decl_t TO regress_ds_plain;
CREATE SCHEMA decl AUTHORIZATION regress_ds_plain;
SET ROLE regress_ds_plain;
SELECT d->>'fullResyncRequired' AS full_resync FROM delta_since('decl_t') d;
SELECT delta_sync.wait('{decl_t}', NULL, '10 ms') IS NOT NULL AS waited;
CREATE TABLE decl.mine (id integer PRIMARY KEY);
SELECT delta_sync.track('decl.mine');
INSERT INTO decl.mine VALUES (1);
DELETE FROM decl.mine;
SELECT delta_sync.set_notify('decl.mine', true);
SELECT delta_sync.purge('decl.mine', '0 s') AS purged;
SELECT delta_sync.untrack('decl.mine');
SELECT delta_sync._forget_dropped();
SELECT delta_sync._registry_write_check();
RESET ROLE;
DROP TABLE decl_t;
DROP SCHEMA decl CASCADE;
DROP ROLE regress_ds_plain;
