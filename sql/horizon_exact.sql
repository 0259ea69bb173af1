-- Horizons are exact: a transaction left open elsewhere (here in a second session) holds back
-- every snapshot's xmin, but must not make cursors taken after tracking, TRUNCATE or a purge
-- resync; cursors from before those events still must.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('old', format('dbname=%s host=%s port=%s user=%s', current_database(),
       split_part(current_setting('unix_socket_directories'), ',', 1), current_setting('port'), current_user));
SELECT dblink_exec('old', 'BEGIN');
SELECT count(*) AS old_has_xid FROM dblink('old', 'SELECT pg_current_xact_id()') AS t(x xid8);

CREATE TABLE steady (id integer PRIMARY KEY, v text);
INSERT INTO steady VALUES (1, 'a');
SELECT delta_sync.track('steady');
SELECT d->>'serverVersion' AS after_track FROM delta_since('steady') d \gset
INSERT INTO steady VALUES (2, 'b');
SELECT d->'fullResyncRequired' AS resync, d->'created'->0->>'id' AS created
  FROM delta_since('steady', :'after_track') d;

TRUNCATE steady;
SELECT d->'fullResyncRequired' AS resync_from_before_truncate FROM delta_since('steady', :'after_track') d;
SELECT d->>'serverVersion' AS after_truncate FROM delta_since('steady') d \gset
INSERT INTO steady VALUES (3, 'c');
SELECT d->'fullResyncRequired' AS resync, d->'created'->0->>'id' AS created
  FROM delta_since('steady', :'after_truncate') d;

-- A purge needs every transaction up to the newest removed deletion to have been seen, or the
-- purge itself: the transaction open in the other session is older than the deletion, so a
-- cursor from before the deletion resyncs, but one taken after the purge works (no resync loop).
SELECT d->>'serverVersion' AS before_delete FROM delta_since('steady') d \gset
DELETE FROM steady WHERE id = 3;
SELECT delta_sync.purge('steady', '0 seconds') AS purged;
SELECT d->'fullResyncRequired' AS resync_from_before_delete FROM delta_since('steady', :'before_delete') d;
SELECT d->>'serverVersion' AS after_purge FROM delta_since('steady') d \gset
SELECT d->'fullResyncRequired' AS resync_while_old_open FROM delta_since('steady', :'after_purge') d;
INSERT INTO steady VALUES (5, 'e');
SELECT d->'fullResyncRequired' AS resync, d->'created'->0->>'id' AS created
  FROM delta_since('steady', :'after_purge') d;
SELECT d->>'serverVersion' AS after_insert FROM delta_since('steady') d \gset
SELECT d->'fullResyncRequired' AS resync_while_old_open FROM delta_since('steady', :'after_insert') d;
SELECT dblink_exec('old', 'COMMIT');
SELECT dblink_disconnect('old');
SELECT d->>'serverVersion' AS after_old FROM delta_since('steady') d \gset
INSERT INTO steady VALUES (4, 'd');
SELECT d->'fullResyncRequired' AS resync, d->'created'->0->>'id' AS created
  FROM delta_since('steady', :'after_old') d;

SELECT delta_sync.untrack('steady');
DROP TABLE steady;
DROP EXTENSION dblink;
