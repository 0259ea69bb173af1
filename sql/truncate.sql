-- TRUNCATE (docs/design.md §6): it raises the table's horizon, so every cursor from before it gets
-- fullResyncRequired; a cursor taken after it works. A rolled back TRUNCATE changes nothing.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE logs (id integer PRIMARY KEY, line text);
CREATE TABLE bystander (id integer PRIMARY KEY);
SELECT delta_sync.track('logs');
SELECT delta_sync.track('bystander');
INSERT INTO logs VALUES (1, 'a'), (2, 'b'), (3, 'c');
INSERT INTO bystander VALUES (1);
SELECT d->>'serverVersion' AS v0 FROM delta_since('logs', NULL) d \gset
UPDATE logs SET line = 'b2' WHERE id = 2;
SELECT d->>'serverVersion' AS v1 FROM delta_since('logs', :'v0') d \gset
SELECT pg_temp.summary(d) FROM delta_since('logs', :'v0') d;

-- A rolled back TRUNCATE leaves the horizon and the cursors alone.
BEGIN;
TRUNCATE logs;
ROLLBACK;
SELECT pg_temp.summary(d) FROM delta_since('logs', :'v0') d;
SELECT pg_temp.summary(d) FROM delta_since('logs', :'v1') d;

-- TRUNCATE: both older cursors must resync (the rows vanished without a soft delete).
TRUNCATE logs;
SELECT pg_temp.summary(d) FROM delta_since('logs', :'v0') d;
SELECT pg_temp.summary(d) FROM delta_since('logs', :'v1') d;
SELECT regexp_replace(d::text, '"serverVersion":"[A-Za-z0-9_-]+"', '"serverVersion":"…"') AS doc
  FROM delta_since('logs', :'v1') d;
-- Other tables are not affected.
SELECT pg_temp.summary(d) FROM delta_since('bystander', :'v1') d;

-- The resync: a full sync (empty table) and its cursor, which works from then on.
SELECT pg_temp.summary(d) FROM delta_since('logs', NULL) d;
SELECT d->>'serverVersion' AS v2 FROM delta_since('logs', NULL) d \gset
INSERT INTO logs VALUES (10, 'after');
SELECT pg_temp.summary(d) FROM delta_since('logs', :'v2') d;
-- The cursor a refusal returns works too.
SELECT d->>'serverVersion' AS vr FROM delta_since('logs', :'v1') d \gset
SELECT pg_temp.summary(d) FROM delta_since('logs', :'vr') d;

-- A TRUNCATE followed by inserts in one transaction: the old cursor resyncs; a full sync has the
-- new rows.
SELECT d->>'serverVersion' AS v3 FROM delta_since('logs', :'v2') d \gset
BEGIN;
TRUNCATE logs;
INSERT INTO logs VALUES (20, 'x'), (21, 'y');
COMMIT;
SELECT pg_temp.summary(d) FROM delta_since('logs', :'v3') d;
SELECT pg_temp.summary(d) FROM delta_since('logs', NULL) d;

-- TRUNCATE by a role that may truncate but does not own the table (nor the registry) still
-- raises the horizon.
SELECT d->>'serverVersion' AS v4 FROM delta_since('logs', NULL) d \gset
CREATE ROLE regress_delta_sync_truncator;
GRANT TRUNCATE ON logs TO regress_delta_sync_truncator;
SET ROLE regress_delta_sync_truncator;
TRUNCATE logs;
RESET ROLE;
SELECT pg_temp.summary(d) FROM delta_since('logs', :'v4') d;

-- TRUNCATE of several tables at once raises each one's horizon.
INSERT INTO logs VALUES (30, 'z');
SELECT d->>'serverVersion' AS v5 FROM delta_since('logs', NULL) d \gset
TRUNCATE logs, bystander;
SELECT pg_temp.summary(d) FROM delta_since('logs', :'v5') d;
SELECT pg_temp.summary(d) FROM delta_since('bystander', :'v5') d;

SELECT delta_sync.untrack('logs');
SELECT delta_sync.untrack('bystander');
DROP TABLE logs, bystander;
DROP ROLE regress_delta_sync_truncator;
