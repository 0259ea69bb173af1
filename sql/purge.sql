-- delta_sync.purge (docs/design.md §6): old soft-deleted rows are removed physically, the
-- horizon moves past them, cursors that could have missed those deletions resync, newer ones don't.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE retained (id integer PRIMARY KEY, v text);
INSERT INTO retained SELECT g, 'row ' || g FROM generate_series(1, 8) g;
SELECT delta_sync.track('retained');
SELECT d->>'serverVersion' AS before_deletes FROM delta_since('retained') d \gset

DELETE FROM retained WHERE id <= 3;
-- Rows 1 and 2 were deleted long ago (as far as retention is concerned).
UPDATE retained SET deleted_at = now() - interval '40 days' WHERE id <= 2;
SELECT d->>'serverVersion' AS after_deletes FROM delta_since('retained') d \gset
DELETE FROM retained WHERE id = 4;

SELECT delta_sync.purge('retained') AS purged;
SELECT id, deleted_at IS NOT NULL AS soft_deleted FROM retained ORDER BY id;

-- A cursor from before the purged deletions could have missed them: full resync.
SELECT d->'fullResyncRequired' AS resync_before_deletes FROM delta_since('retained', :'before_deletes') d;
-- A cursor that saw them keeps working, and still hears of the newer deletion of 4.
SELECT d->'fullResyncRequired' AS resync_after_deletes, d->'deleted' AS deleted
  FROM delta_since('retained', :'after_deletes') d;

-- Nothing old enough left: nothing removed, the horizon stays, the cursor still works.
SELECT delta_sync.purge('retained', '30 days') AS purged_again;
SELECT d->'fullResyncRequired' AS still_fine FROM delta_since('retained', :'after_deletes') d;

-- older_than 0 removes every soft-deleted row, including 4, which that cursor had not seen.
SELECT delta_sync.purge('retained', '0 seconds') AS purged_all;
SELECT count(*) AS rows_left, count(deleted_at) AS soft_deleted_left FROM retained;
SELECT d->'fullResyncRequired' AS resync_now FROM delta_since('retained', :'after_deletes') d;

-- After a purge a DELETE is a soft delete again.
DELETE FROM retained WHERE id = 5;
SELECT id, deleted_at IS NOT NULL AS soft_deleted FROM retained WHERE id = 5;

-- A purge that fails half way must not leave physical deletes enabled for the session.
CREATE FUNCTION pg_temp.refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.v = 'boom' THEN RAISE EXCEPTION 'boom row cannot go'; END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER zz_refuse_boom BEFORE DELETE ON retained FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse_boom();
UPDATE retained SET v = 'boom' WHERE id = 5;
SELECT pg_temp.attempt($$SELECT delta_sync.purge('retained', '0 seconds')$$) AS failed_purge;
DROP TRIGGER zz_refuse_boom ON retained;
-- 5 is soft-deleted already: DELETE again changes nothing (a leaked purge would remove it).
DELETE FROM retained WHERE id IN (5, 6);
SELECT id, v, deleted_at IS NOT NULL AS soft_deleted FROM retained WHERE id IN (5, 6) ORDER BY id;

-- Refusals.
CREATE TABLE not_tracked (id integer PRIMARY KEY);
CREATE ROLE regress_ds_purger;
GRANT ALL ON retained TO regress_ds_purger;
SELECT pg_temp.attempt($$SELECT delta_sync.purge(NULL)$$) AS null_table;
SELECT pg_temp.attempt($$SELECT delta_sync.purge('retained', NULL)$$) AS null_interval;
SELECT pg_temp.attempt($$SELECT delta_sync.purge('retained', '-1 day')$$) AS negative;
SELECT pg_temp.attempt($$SELECT delta_sync.purge('not_tracked')$$) AS untracked;
SET ROLE regress_ds_purger;
SELECT pg_temp.attempt($$SELECT delta_sync.purge('retained')$$) AS not_owner;
RESET ROLE;
REVOKE ALL ON retained FROM regress_ds_purger;
DROP ROLE regress_ds_purger;
