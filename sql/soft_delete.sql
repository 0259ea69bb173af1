-- Soft delete (docs/design.md §2): DELETE keeps the row with deleted_at set and a new version; a DELETE
-- of a deleted row changes nothing; undelete by setting deleted_at back to NULL.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE notes (id integer PRIMARY KEY, body text);
SELECT delta_sync.track('notes');
INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 6) g;
SELECT d->>'serverVersion' AS v0 FROM delta_since('notes', NULL) d \gset

-- DELETE keeps the row, sets deleted_at (to the transaction's now()) and gives it a new version.
SELECT delta_sync_changed_xid AS x1, updated_at AS u1 FROM notes WHERE id = 1 \gset
SELECT pg_sleep(0.01);
BEGIN;
DELETE FROM notes WHERE id = 1;
SELECT deleted_at = now() AS deleted_at_is_now, updated_at = now() AS updated_at_is_now,
       delta_sync_changed_xid = pg_current_xact_id() AS versioned_by_deleter,
       delta_sync_created_xid = :'x1' AS creation_kept
  FROM notes WHERE id = 1;
COMMIT;
SELECT count(*) AS rows_kept, count(*) FILTER (WHERE deleted_at IS NOT NULL) AS soft_deleted FROM notes;
SELECT pg_temp.summary(d) FROM delta_since('notes', :'v0') d;

-- A DELETE of an already deleted row changes nothing: same deleted_at, same version, and a
-- client that already heard of the delete hears nothing more.
SELECT d->>'serverVersion' AS v1 FROM delta_since('notes', :'v0') d \gset
SELECT deleted_at AS d1, delta_sync_changed_xid AS x2, ctid AS t1 FROM notes WHERE id = 1 \gset
DELETE FROM notes WHERE id = 1;
DELETE FROM notes WHERE id IN (1, 2);
SELECT deleted_at = :'d1' AS deleted_at_kept, delta_sync_changed_xid = :'x2' AS version_kept,
       ctid = :'t1' AS not_rewritten
  FROM notes WHERE id = 1;
SELECT pg_temp.summary(d) FROM delta_since('notes', :'v1') d;

-- DELETE ... RETURNING and the row count: the physical delete is skipped, so PostgreSQL reports
-- no deleted row, and the row stays selectable.
WITH gone AS (DELETE FROM notes WHERE id = 3 RETURNING id) SELECT count(*) AS returned FROM gone;
SELECT id, deleted_at IS NOT NULL AS deleted FROM notes WHERE id = 3;

-- Deleting many rows in one statement.
DELETE FROM notes WHERE id >= 4;
SELECT pg_temp.summary(d) FROM delta_since('notes', :'v1') d;
SELECT count(*) AS live FROM notes WHERE deleted_at IS NULL;
SELECT pg_temp.summary(d) FROM delta_since('notes', NULL) d;

-- Undelete: deleted_at back to NULL; the row is updated (new version), not created.
SELECT d->>'serverVersion' AS v2 FROM delta_since('notes', :'v1') d \gset
UPDATE notes SET deleted_at = NULL WHERE id IN (1, 4);
SELECT pg_temp.summary(d) FROM delta_since('notes', :'v2') d;
SELECT pg_temp.summary(d) FROM delta_since('notes', NULL) d;
-- Deleted again after the undelete: deleted again.
SELECT d->>'serverVersion' AS v3 FROM delta_since('notes', :'v2') d \gset
DELETE FROM notes WHERE id = 4;
SELECT pg_temp.summary(d) FROM delta_since('notes', :'v3') d;

-- Soft delete goes through an UPDATE of deleted_at, as the deleting role: a role allowed to
-- DELETE but not to UPDATE is refused (nothing is deleted, softly or otherwise).
CREATE ROLE regress_delta_sync_deleter;
GRANT SELECT, DELETE ON notes TO regress_delta_sync_deleter;
SET ROLE regress_delta_sync_deleter;
\set VERBOSITY terse
DELETE FROM notes WHERE id = 1;
\set VERBOSITY default
RESET ROLE;
SELECT id, deleted_at IS NOT NULL AS deleted FROM notes WHERE id = 1;

SELECT delta_sync.untrack('notes');
DROP TABLE notes;
DROP ROLE regress_delta_sync_deleter;
