-- Hard-delete mode (track(tbl, deletes => 'hard')): DELETE deletes for real, with row counts,
-- RETURNING and other triggers as without tracking; the delta reports the key from a tombstone
-- until purge() removes it; re-inserted keys and changed keys; switching modes with live cursors.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE hard (id integer PRIMARY KEY, v text);
INSERT INTO hard SELECT g, 'row ' || g FROM generate_series(1, 6) g;
SELECT delta_sync.track('hard', deletes => 'hard');
SELECT tombstones FROM delta_sync.tracked WHERE relid = 'hard'::regclass;
SELECT d->>'serverVersion' AS v0 FROM delta_since('hard') d \gset

-- A user AFTER DELETE trigger fires, DELETE counts and returns the rows.
CREATE TABLE audit (id integer, op text);
CREATE FUNCTION audit_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit VALUES (OLD.id, TG_OP); RETURN NULL; END $$;
CREATE TRIGGER audit_delete AFTER DELETE ON hard FOR EACH ROW EXECUTE FUNCTION audit_delete();
DELETE FROM hard WHERE id IN (1, 2) RETURNING id, v;
SELECT * FROM audit ORDER BY id;
SELECT count(*) AS rows_left FROM hard;
SELECT key, delta_sync_changed_xid = pg_current_xact_id() AS mine, deleted_at IS NOT NULL AS stamped
  FROM hard_delta_sync_tombstones ORDER BY key;

-- The delta reports the deletions; a full sync knows nothing of them.
SELECT pg_temp.summary(d) FROM delta_since('hard', :'v0') d;
SELECT pg_temp.summary(d) FROM delta_since('hard') d;
SELECT d->>'serverVersion' AS v1 FROM delta_since('hard') d \gset

-- A row created and deleted after the cursor: the client never held it, it is not reported.
INSERT INTO hard VALUES (10, 'short-lived');
DELETE FROM hard WHERE id = 10;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'v1') d;

-- Re-inserting a deleted key creates the row anew (no 23505) and is reported as created, its
-- tombstone not as deleted.
INSERT INTO hard VALUES (1, 'again');
SELECT pg_temp.summary(d) FROM delta_since('hard', :'v0') d;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'v1') d;
-- ON CONFLICT on a hard-deleted key inserts; on a live one it updates.
INSERT INTO hard VALUES (2, 'upserted'), (3, 'changed') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;
SELECT id, v FROM hard WHERE id IN (1, 2, 3) ORDER BY id;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'v1') d;
SELECT d->>'serverVersion' AS v2 FROM delta_since('hard') d \gset

-- Deleted again: the key is reported deleted to a cursor that saw its first creation too.
DELETE FROM hard WHERE id = 1;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'v0') d;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'v2') d;
SELECT d->>'serverVersion' AS v3 FROM delta_since('hard') d \gset

-- A key change: the old key deleted, the row created under the new one.
UPDATE hard SET id = 40 WHERE id = 4;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'v3') d;
SELECT d->'created'->0->>'id' AS new_id, d->'created'->0->>'v' AS v FROM delta_since('hard', :'v3') d;
-- An update that leaves the key alone writes no tombstone.
UPDATE hard SET v = 'touched' WHERE id = 5;
SELECT count(*) AS tombstones FROM hard_delta_sync_tombstones;
SELECT d->>'serverVersion' AS v4 FROM delta_since('hard') d \gset

-- Own uncommitted hard deletes: this transaction's pull leaves them out and makes the next pull
-- resync (they may roll back).
BEGIN;
DELETE FROM hard WHERE id = 6;
SELECT pg_temp.summary(d), (SELECT pg_temp.summary(n) FROM delta_since('hard', d->>'serverVersion') n) AS next
  FROM delta_since('hard', :'v4') d;
ROLLBACK;

-- Foreign keys act as without tracking: CASCADE reaches the tracked child, RESTRICT refuses.
CREATE TABLE parent (id integer PRIMARY KEY);
CREATE TABLE child (id integer PRIMARY KEY, parent integer REFERENCES parent ON DELETE CASCADE);
CREATE TABLE strict_child (id integer PRIMARY KEY, parent integer REFERENCES parent ON DELETE RESTRICT);
INSERT INTO parent VALUES (1), (2);
INSERT INTO child VALUES (11, 1), (12, 1), (21, 2);
INSERT INTO strict_child VALUES (22, 2);
SELECT delta_sync.track('parent', deletes => 'hard');
SELECT delta_sync.track('child', deletes => 'hard');
SELECT delta_sync.track('strict_child', deletes => 'hard');
SELECT d->>'serverVersion' AS c0 FROM delta_since('child') d \gset
DELETE FROM parent WHERE id = 1;
SELECT id, parent FROM child ORDER BY id;
SELECT pg_temp.summary(d) FROM delta_since('child', :'c0') d;
SELECT pg_temp.attempt('DELETE FROM parent WHERE id = 2');

-- Switching modes: cursors from before the switch resync (the triggers change by ALTER TABLE).
-- In soft mode new deletes are soft, the tombstones stay (until purged).
SELECT delta_sync.track('hard', deletes => 'soft');
SELECT pg_temp.summary(d) FROM delta_since('hard', :'v3') d;
SELECT d->>'serverVersion' AS s1 FROM delta_since('hard') d \gset
DELETE FROM hard WHERE id = 3;
SELECT id, deleted_at IS NOT NULL AS soft_deleted FROM hard WHERE id = 3;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'s1') d;
-- In soft mode a key change is refused.
SELECT pg_temp.attempt('UPDATE hard SET id = 50 WHERE id = 5');
-- And back to hard: the soft-deleted row stays, new deletes are real.
SELECT delta_sync.track('hard', deletes => 'hard');
SELECT pg_temp.summary(d) FROM delta_since('hard', :'s1') d;
SELECT d->>'serverVersion' AS h1 FROM delta_since('hard') d \gset
SELECT delta_sync.track('hard');  -- keeps the mode, no resync
DELETE FROM hard WHERE id = 5;
SELECT id, deleted_at IS NOT NULL AS soft_deleted FROM hard ORDER BY id;
SELECT pg_temp.summary(d) FROM delta_since('hard', :'h1') d;
SELECT pg_temp.attempt($$SELECT delta_sync.track('hard', deletes => 'firm')$$);

-- purge() removes old tombstones and raises the horizon past them.
UPDATE hard_delta_sync_tombstones SET deleted_at = now() - interval '40 days' WHERE key IN (1, 2);
SELECT delta_sync.purge('hard') AS purged;
SELECT key FROM hard_delta_sync_tombstones ORDER BY key;
SELECT d->'fullResyncRequired' AS resync_v0 FROM delta_since('hard', :'v0') d;

-- Row-level security: a role the table's policies apply to never reads a tombstone; a deletion
-- it did not see makes its cursor resync instead.
CREATE ROLE regress_ds_hard_reader;
CREATE TABLE secret (id integer PRIMARY KEY, owner text);
INSERT INTO secret VALUES (1, 'regress_ds_hard_reader'), (2, 'other'), (3, 'regress_ds_hard_reader');
ALTER TABLE secret ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON secret USING (owner = current_user);
GRANT SELECT, DELETE ON secret TO regress_ds_hard_reader;
SELECT delta_sync.track('secret', deletes => 'hard');
SET ROLE regress_ds_hard_reader;
SELECT d->>'serverVersion' AS s0 FROM delta_since('secret') d \gset
SELECT pg_temp.summary(d) FROM delta_since('secret', :'s0') d;
RESET ROLE;
DELETE FROM secret WHERE id = 2;
SET ROLE regress_ds_hard_reader;
SELECT pg_temp.summary(d) FROM delta_since('secret', :'s0') d;
SELECT count(*) AS tombstones_seen FROM secret_delta_sync_tombstones;
RESET ROLE;
SELECT pg_temp.summary(d) FROM delta_since('secret', :'s0') d;

SELECT count(*) AS tombstones_seen FROM secret_delta_sync_tombstones;

-- A registry row pointing at a table of another owner is not used as tombstones.
CREATE ROLE regress_ds_hard_owner;
CREATE TABLE victim (key integer PRIMARY KEY, delta_sync_created_xid xid8, delta_sync_changed_xid xid8, deleted_at timestamptz);
CREATE TABLE mine (id integer PRIMARY KEY);
ALTER TABLE mine OWNER TO regress_ds_hard_owner;
GRANT CREATE ON SCHEMA public TO regress_ds_hard_owner;
SET ROLE regress_ds_hard_owner;
SELECT delta_sync.track('mine', deletes => 'hard');
INSERT INTO mine VALUES (1), (2);
UPDATE delta_sync.tracked SET tombstones = 'victim' WHERE relid = 'mine'::regclass;
SELECT pg_temp.attempt('DELETE FROM mine WHERE id = 1');
SELECT pg_temp.attempt($$SELECT delta_since('mine', (SELECT d->>'serverVersion' FROM delta_since('mine') d))$$);
UPDATE delta_sync.tracked SET tombstones = 'mine_delta_sync_tombstones' WHERE relid = 'mine'::regclass;
-- Dropping a table drops its tombstones (the dropping role owns them).
DROP TABLE mine;
RESET ROLE;
SELECT to_regclass('mine_delta_sync_tombstones') IS NULL AS dropped_with_table, count(*) AS victim_rows FROM victim;

-- untrack drops the tombstones.
SELECT delta_sync.untrack('hard');
SELECT to_regclass('hard_delta_sync_tombstones') IS NULL AS tombstones_gone;
DROP TABLE child, strict_child, parent, hard, audit, secret, victim;
SELECT count(*) AS orphans FROM pg_class WHERE relname LIKE '%delta_sync_tombstones';
DROP FUNCTION audit_delete();
REVOKE CREATE ON SCHEMA public FROM regress_ds_hard_owner;
DROP ROLE regress_ds_hard_reader;
DROP ROLE regress_ds_hard_owner;

-- A composite key: the key change and the deletion reach the client encoded as the records'
-- keys are (the key-change trigger compares keys with the primary key index's equality).
CREATE SCHEMA keys;
CREATE TYPE keys.code AS (v text);
CREATE TABLE coded (id keys.code PRIMARY KEY, n integer);
INSERT INTO coded VALUES (ROW('a'), 1), (ROW('b'), 2);
SELECT delta_sync.track('coded', deletes => 'hard');
SELECT d->>'serverVersion' AS k0 FROM delta_since('coded') d \gset
UPDATE coded SET id = ROW('c') WHERE n = 1;
UPDATE coded SET n = 20 WHERE n = 2;
DELETE FROM coded WHERE n = 20;
SELECT (SELECT json_agg(e->'id') FROM json_array_elements(d->'created') e) AS created_ids,
       d->'updated' AS updated, d->'deleted' AS deleted
  FROM delta_since('coded', :'k0') d;
DROP TABLE coded;
DROP SCHEMA keys CASCADE;

-- A key respelled but equal under its type's equality is a different key to clients: the old
-- spelling is deleted, the new one created.
CREATE TABLE amounts (id numeric PRIMARY KEY, n integer);
INSERT INTO amounts VALUES (1.0, 1);
SELECT delta_sync.track('amounts', deletes => 'hard');
SELECT d->>'serverVersion' AS a0 FROM delta_since('amounts') d \gset
UPDATE amounts SET id = 1.00 WHERE n = 1;
SELECT (SELECT json_agg(e->'id') FROM json_array_elements(d->'created') e) AS created_ids,
       d->'updated' AS updated, d->'deleted' AS deleted
  FROM delta_since('amounts', :'a0') d;
DROP TABLE amounts;

-- delta_sync.wait hears of a hard delete (the row is gone; its tombstone is the change).
CREATE TABLE waited (id integer PRIMARY KEY);
INSERT INTO waited VALUES (1), (2);
SELECT delta_sync.track('waited', deletes => 'hard');
SELECT d->>'serverVersion' AS w0 FROM delta_since('waited') d \gset
SELECT delta_sync.wait('{waited}', ARRAY[:'w0'], '50 ms') AS before_delete;
DELETE FROM waited WHERE id = 1;
SELECT delta_sync.wait('{waited}', ARRAY[:'w0'], '10 s') AS after_delete;
DROP TABLE waited;
