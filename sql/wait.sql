-- delta_sync.wait() in one session: what it returns for changes already committed, at the
-- timeout, for cursors a table can no longer answer, and the errors of its arguments.
-- (Waits across sessions, standbys, cancels and crashes: tests/test_wait.py.)

CREATE TABLE w1 (id integer PRIMARY KEY, v text);
CREATE TABLE w2 (id integer PRIMARY KEY, v text);
CREATE TABLE "W 3" (id integer PRIMARY KEY, v text);
SELECT delta_sync.track('w1'), delta_sync.track('w2'), delta_sync.track('"W 3"');
SELECT d->>'serverVersion' AS v0 FROM delta_since('w1', NULL) d \gset

-- Nothing changed since the cursor: the timeout passes, an empty array.
SELECT delta_sync.wait('{w1,w2,"\"W 3\""}', ARRAY[:'v0'], '50 ms') AS nothing;
-- Changes committed after the cursor: returned at once, only the changed tables.
INSERT INTO w2 VALUES (1, 'a');
INSERT INTO "W 3" VALUES (1, 'a');
SELECT delta_sync.wait('{w1,w2,"\"W 3\""}', ARRAY[:'v0'], '10 s') AS changed;
-- One cursor per table: w2's cursor has seen its insert.
SELECT d->>'serverVersion' AS v1 FROM delta_since('w2', NULL) d \gset
SELECT delta_sync.wait('{w1,w2}', ARRAY[:'v0', :'v1'], '50 ms') AS w2_seen;
-- Updates and (soft) deletes are changes too.
UPDATE w2 SET v = 'b';
SELECT delta_sync.wait('{w2}', ARRAY[:'v1'], '10 s') AS updated;
SELECT d->>'serverVersion' AS v2 FROM delta_since('w2', NULL) d \gset
DELETE FROM w2 WHERE id = 1;
SELECT delta_sync.wait('{w2}', ARRAY[:'v2'], '10 s') AS deleted;
-- NULL cursor: changes from now on only.
SELECT delta_sync.wait('{w2}', NULL, '50 ms') AS from_now;
SELECT delta_sync.wait('{w2}', ARRAY[NULL], '50 ms') AS from_now_too;
-- A write of the waiting transaction itself is a change it can see.
BEGIN;
SELECT d->>'serverVersion' AS v3 FROM delta_since('w1', NULL) d \gset
INSERT INTO w1 VALUES (1, 'mine');
SELECT delta_sync.wait('{w1}', ARRAY[:'v3'], '10 s') AS own_write;
ROLLBACK;
-- A rolled-back write is no change.
SELECT delta_sync.wait('{w1}', ARRAY[:'v3'], '50 ms') AS rolled_back;
-- A cursor from before TRUNCATE can only resync: returned at once.
SELECT d->>'serverVersion' AS v4 FROM delta_since('w1', NULL) d \gset
TRUNCATE w1;
SELECT delta_sync.wait('{w1}', ARRAY[:'v4'], '10 s') AS truncated;
-- A zero timeout probes once.
SELECT d->>'serverVersion' AS v5 FROM delta_since('w1', NULL) d \gset
SELECT delta_sync.wait('{w1}', ARRAY[:'v5'], '0') AS zero_timeout;

-- Errors.
SELECT delta_sync.wait(NULL, NULL, '1 s');
SELECT delta_sync.wait('{w1}', NULL, NULL);
SELECT delta_sync.wait('{}', NULL, '1 s');
SELECT delta_sync.wait('{w1,NULL}', NULL, '1 s');
SELECT delta_sync.wait('{w1}', NULL, '-1 s');
SELECT delta_sync.wait('{w1}', ARRAY['not a cursor'], '1 s');
SELECT delta_sync.wait('{w1,w2,"\"W 3\""}', ARRAY[:'v0', :'v0'], '1 s');
SELECT delta_sync.wait('{{w1},{w2}}', NULL, '1 s');
CREATE TABLE untracked (id integer PRIMARY KEY);
SELECT delta_sync.wait('{untracked}', NULL, '1 s');
SELECT delta_sync.wait(ARRAY[0::regclass], NULL, '1 s');
CREATE ROLE wait_stranger;
SET ROLE wait_stranger;
SELECT delta_sync.wait('{w1}', NULL, '1 s');
RESET ROLE;
DROP ROLE wait_stranger;

-- No lock is left behind (each probe releases its table locks at once).
SELECT count(*) AS locks_left FROM pg_locks
 WHERE pid = pg_backend_pid() AND relation IN ('w1'::regclass, 'w2'::regclass);
-- Immune to search_path.
SET search_path = pg_temp;
SELECT delta_sync.wait('{public.w2}', ARRAY[:'v0'], '10 s') AS hostile_path;
RESET search_path;
DROP TABLE w1, w2, "W 3", untracked;
