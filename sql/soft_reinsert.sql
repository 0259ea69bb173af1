-- Soft-delete mode: inserting a key whose row is soft-deleted creates the row anew (no 23505);
-- ON CONFLICT of a soft-deleted key inserts; track warns about DELETE triggers it stops.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE again (id integer PRIMARY KEY, v text);
INSERT INTO again SELECT g, 'row ' || g FROM generate_series(1, 5) g;
SELECT delta_sync.track('again');
SELECT d->>'serverVersion' AS v0 FROM delta_since('again') d \gset
DELETE FROM again WHERE id IN (1, 2, 3, 4);
SELECT d->>'serverVersion' AS v1 FROM delta_since('again') d \gset

-- The key comes back: one row, live, new.
INSERT INTO again VALUES (1, 'back') RETURNING id, v, deleted_at;
SELECT id, v, deleted_at IS NULL AS live FROM again WHERE id = 1;
SELECT pg_temp.summary(d) FROM delta_since('again', :'v0') d;
SELECT pg_temp.summary(d) FROM delta_since('again', :'v1') d;

-- ON CONFLICT DO UPDATE of a soft-deleted key inserts the new row (the deleted one is gone for
-- the application); of a live key it updates.
INSERT INTO again VALUES (2, 'inserted'), (5, 'conflict') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v || ' (updated)';
INSERT INTO again VALUES (3, 'nothing') ON CONFLICT (id) DO NOTHING;
SELECT id, v, deleted_at IS NULL AS live FROM again ORDER BY id;
SELECT pg_temp.summary(d) FROM delta_since('again', :'v1') d;

-- Rolled back, the re-insert leaves the soft-deleted row as it was.
BEGIN;
INSERT INTO again VALUES (4, 'not kept');
ROLLBACK;
SELECT id, v, deleted_at IS NOT NULL AS soft_deleted FROM again WHERE id = 4;

-- The inserting role needs no DELETE right to reuse a soft-deleted key.
CREATE ROLE regress_ds_inserter;
GRANT SELECT, INSERT ON again TO regress_ds_inserter;
SET ROLE regress_ds_inserter;
INSERT INTO again VALUES (4, 'by inserter');
RESET ROLE;
SELECT id, v, deleted_at IS NULL AS live FROM again WHERE id = 4;
SELECT count(*) AS rows_with_key_4 FROM again WHERE id = 4;

-- A child referencing a soft-deleted parent references the re-inserted one.
CREATE TABLE again_child (id integer PRIMARY KEY, parent integer REFERENCES again ON DELETE CASCADE);
INSERT INTO again_child VALUES (10, 5);
DELETE FROM again WHERE id = 5;
INSERT INTO again VALUES (5, 'parent again');
SELECT c.id, a.v FROM again_child c JOIN again a ON a.id = c.parent;

-- A key re-inserted with another spelling (equal numerics): the soft-deleted row goes, and its
-- key reaches clients as deleted, since the new row's key is another key to them.
CREATE TABLE amounts (id numeric PRIMARY KEY);
INSERT INTO amounts VALUES (1.0), (2.0);
SELECT delta_sync.track('amounts');
SELECT d->>'serverVersion' AS a0 FROM delta_since('amounts') d \gset
DELETE FROM amounts;
INSERT INTO amounts VALUES (1.00), (2.0);
SELECT id, deleted_at IS NULL AS live FROM amounts ORDER BY id::text;
SELECT (SELECT json_agg(e->'id') FROM json_array_elements(d->'created') e) AS created_ids,
       d->'updated' AS updated, d->'deleted' AS deleted
  FROM delta_since('amounts', :'a0') d;
DROP TABLE amounts;

-- track warns about DELETE triggers that soft deletes stop.
CREATE TABLE audited (id integer PRIMARY KEY);
CREATE FUNCTION audited_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
CREATE TRIGGER audit_after AFTER DELETE ON audited FOR EACH ROW EXECUTE FUNCTION audited_trigger();
CREATE TRIGGER a_before_runs BEFORE DELETE ON audited FOR EACH ROW EXECUTE FUNCTION audited_trigger();
CREATE TRIGGER z_before_skipped BEFORE DELETE ON audited FOR EACH ROW EXECUTE FUNCTION audited_trigger();
CREATE TRIGGER statement_level AFTER DELETE ON audited FOR EACH STATEMENT EXECUTE FUNCTION audited_trigger();
SELECT delta_sync.track('audited');
SELECT delta_sync.track('audited', deletes => 'hard');

DROP TABLE again_child, again, audited;
DROP FUNCTION audited_trigger();
DROP ROLE regress_ds_inserter;
