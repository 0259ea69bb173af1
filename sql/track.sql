-- delta_sync.track / delta_sync.untrack (docs/design.md §2): what tracking adds, that a second track
-- changes nothing, that untrack removes only the internals, and every refusal with its SQLSTATE.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

-- Everything tracking puts on a table, as one comparable text (no xids, no OIDs).
CREATE FUNCTION pg_temp.tracking_state(tbl regclass) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(E'\n',
        'columns: ' || (SELECT string_agg(format('%s %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                                 CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                                                 coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')),
                                          ', ' ORDER BY a.attnum)
                          FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                         WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped),
        'indexes: ' || coalesce((SELECT string_agg(regexp_replace(pg_get_indexdef(i.indexrelid), 'INDEX \S+ ON', 'INDEX ON'), '; '
                                                   ORDER BY pg_get_indexdef(i.indexrelid))
                                   FROM pg_index i WHERE i.indrelid = tbl), '-'),
        'triggers: ' || coalesce((SELECT string_agg(pg_get_triggerdef(t.oid) || ' [' || t.tgenabled::text || ']', '; ' ORDER BY t.tgname)
                                    FROM pg_trigger t WHERE t.tgrelid = tbl AND NOT t.tgisinternal), '-'),
        'registry: ' || coalesce((SELECT format('max_changes %s', r.max_changes) FROM delta_sync.tracked r WHERE r.relid = tbl), '-'))
$$;

SELECT count(*) AS registry_rows_at_start FROM delta_sync.tracked \gset
CREATE TABLE items (id integer PRIMARY KEY, name text);
INSERT INTO items VALUES (1, 'one'), (2, 'two');
SELECT pg_temp.tracking_state('items');

-- A cursor from before tracking started (cursors are not bound to a table): taken on another
-- tracked table, it must be refused for items with fullResyncRequired, never an empty delta.
CREATE TABLE other (id integer PRIMARY KEY);
SELECT delta_sync.track('other');
SELECT d->>'serverVersion' AS before_tracking FROM delta_since('other', NULL) d \gset

SELECT delta_sync.track('items');
SELECT pg_temp.tracking_state('items');

-- Existing rows are stamped with the tracking transaction.
SELECT count(*) AS rows, count(DISTINCT delta_sync_created_xid) AS creators,
       bool_and(delta_sync_created_xid = delta_sync_changed_xid) AS same_version,
       bool_and(created_at IS NOT NULL AND updated_at IS NOT NULL AND deleted_at IS NULL) AS stamped
  FROM items;
SELECT (SELECT horizon FROM delta_sync.tracked WHERE relid = 'items'::regclass)
       = (SELECT DISTINCT delta_sync_created_xid FROM items) AS horizon_is_tracking_xact;
SELECT d->'fullResyncRequired' AS resync, json_array_length(d->'created') AS created
  FROM delta_since('items', :'before_tracking') d;

-- The initial sync holds the existing rows, without the internal columns.
SELECT e->>'id' AS id, e->>'name' AS name,
       (SELECT string_agg(k, ',') FROM json_object_keys(e) k) AS keys
  FROM delta_since('items', NULL) d, json_array_elements(d->'created') e ORDER BY 1;

-- Second track: nothing changes, not even the versions of the rows or the registry's horizon.
SELECT pg_temp.tracking_state('items') AS before \gset
SELECT (SELECT string_agg(format('%s %s %s %s', id, delta_sync_created_xid, delta_sync_changed_xid, updated_at), ';' ORDER BY id)
          FROM items) AS rows_before,
       (SELECT horizon FROM delta_sync.tracked WHERE relid = 'items'::regclass) AS horizon_before \gset
SELECT delta_sync.track('items');
SELECT pg_temp.tracking_state('items') = :'before' AS state_unchanged,
       (SELECT string_agg(format('%s %s %s %s', id, delta_sync_created_xid, delta_sync_changed_xid, updated_at), ';' ORDER BY id)
          FROM items) = :'rows_before' AS rows_unchanged,
       (SELECT horizon FROM delta_sync.tracked WHERE relid = 'items'::regclass) = :'horizon_before' AS horizon_unchanged;
SELECT count(*) AS registry_rows FROM delta_sync.tracked WHERE relid = 'items'::regclass;

-- track again with another threshold changes only the threshold.
SELECT delta_sync.track('items', max_changes => 5);
SELECT max_changes FROM delta_sync.tracked WHERE relid = 'items'::regclass;
SELECT horizon = :'horizon_before' AS horizon_unchanged FROM delta_sync.tracked WHERE relid = 'items'::regclass;
-- A plain track keeps the table's threshold; max_changes sets it.
SELECT delta_sync.track('items');
SELECT max_changes FROM delta_sync.tracked WHERE relid = 'items'::regclass;
SELECT delta_sync.track('items', max_changes => 1000);
SELECT max_changes FROM delta_sync.tracked WHERE relid = 'items'::regclass;

-- A table that already has created_at/updated_at/deleted_at of the right types keeps them (and
-- their defaults); only the internal columns, index and triggers are added.
CREATE TABLE has_stamps (id text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT '2000-01-01 00:00:00+00',
                         updated_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz);
INSERT INTO has_stamps (id) VALUES ('a');
SELECT delta_sync.track('has_stamps');
SELECT pg_temp.tracking_state('has_stamps');
-- The insert trigger keeps an explicit created_at; an update keeps created_at whatever it is set to.
INSERT INTO has_stamps (id, created_at) VALUES ('b', '2001-02-03 04:05:06+00');
UPDATE has_stamps SET created_at = '1999-01-01 00:00:00+00' WHERE id = 'a';
SELECT id, created_at AT TIME ZONE 'UTC' AS created_utc FROM has_stamps ORDER BY id;

-- Refusals, each with its SQLSTATE.
CREATE VIEW items_view AS SELECT id, name FROM items;
CREATE MATERIALIZED VIEW items_matview AS SELECT id FROM items;
CREATE TABLE parted (id integer PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES FROM (0) TO (10);
CREATE SEQUENCE a_sequence;
CREATE TABLE no_pk (id integer);
CREATE TABLE unique_only (id integer UNIQUE NOT NULL);
-- A composite key is tracked (sql/composite_keys.sql), but not with a column delta_sync maintains.
CREATE TABLE two_col_pk (a integer, created_at timestamptz, PRIMARY KEY (a, created_at));
CREATE TABLE bad_created (id integer PRIMARY KEY, created_at timestamp);
CREATE TABLE bad_deleted (id integer PRIMARY KEY, deleted_at date);
CREATE TABLE pk_is_stamp (created_at timestamptz PRIMARY KEY);
CREATE TABLE not_mine (id integer PRIMARY KEY);
CREATE ROLE regress_delta_sync_stranger;
GRANT ALL ON not_mine, items TO regress_delta_sync_stranger;

SELECT pg_temp.attempt('SELECT delta_sync.track(NULL)') AS null_table;
SELECT pg_temp.attempt('SELECT delta_sync.track(NULL::regclass, max_changes => 0)') AS null_table_first;
SELECT pg_temp.attempt('SELECT delta_sync.track(''items_view'')') AS view;
SELECT pg_temp.attempt('SELECT delta_sync.track(''items_matview'')') AS matview;
SELECT pg_temp.attempt('SELECT delta_sync.track(''parted_1'')') AS partition;
SELECT pg_temp.attempt('SELECT delta_sync.track(''a_sequence'')') AS sequence;
SELECT pg_temp.attempt('SELECT delta_sync.track(''no_pk'')') AS no_primary_key;
SELECT pg_temp.attempt('SELECT delta_sync.track(''unique_only'')') AS unique_is_not_pk;
SELECT pg_temp.attempt('SELECT delta_sync.track(''two_col_pk'')') AS composite_pk;
SELECT pg_temp.attempt('SELECT delta_sync.track(''bad_created'')') AS created_at_timestamp;
SELECT pg_temp.attempt('SELECT delta_sync.track(''bad_deleted'')') AS deleted_at_date;
SELECT pg_temp.attempt('SELECT delta_sync.track(''pk_is_stamp'')') AS pk_is_created_at;
SELECT pg_temp.attempt('SELECT delta_sync.track(''not_mine'', max_changes => 0)') AS max_changes_0;
SELECT pg_temp.attempt('SELECT delta_sync.track(''not_mine'', max_changes => -1)') AS max_changes_negative;
SELECT pg_temp.attempt('SELECT delta_sync.track(''no_such_table'')') AS missing_table;
SET ROLE regress_delta_sync_stranger;
SELECT pg_temp.attempt('SELECT delta_sync.track(''not_mine'')') AS not_owner;
SELECT pg_temp.attempt('SELECT delta_sync.untrack(''items'')') AS untrack_not_owner;
RESET ROLE;
SELECT pg_temp.attempt('SELECT delta_sync.untrack(NULL)') AS untrack_null;

-- A refused track leaves the table as it was.
SELECT pg_temp.tracking_state('bad_created');
SELECT pg_temp.tracking_state('not_mine');
SELECT count(*) AS registry_rows FROM delta_sync.tracked
 WHERE relid IN ('no_pk'::regclass, 'two_col_pk'::regclass, 'bad_created'::regclass, 'not_mine'::regclass);

-- A member of the owning role may track.
ALTER TABLE not_mine OWNER TO regress_delta_sync_stranger;
SELECT pg_temp.attempt('SELECT delta_sync.track(''not_mine'')') AS superuser_tracks_others;
SELECT delta_sync.untrack('not_mine');
-- (tracking creates an index, which needs CREATE on the table's schema, as any CREATE INDEX does)
GRANT CREATE ON SCHEMA public TO regress_delta_sync_stranger;
SET ROLE regress_delta_sync_stranger;
SELECT pg_temp.attempt('SELECT delta_sync.track(''not_mine'')') AS owner_tracks;
SELECT max_changes FROM delta_sync.tracked WHERE relid = 'not_mine'::regclass;
RESET ROLE;

-- untrack: triggers, internal columns, their index and the registry row go; the timestamps and
-- the soft-deleted rows (application data) stay; delta_since then refuses the table.
DELETE FROM items WHERE id = 2;
SELECT delta_sync.untrack('items');
SELECT pg_temp.tracking_state('items');
SELECT id, deleted_at IS NOT NULL AS deleted FROM items ORDER BY id;
SELECT pg_temp.attempt('SELECT delta_since(''items'', NULL)') AS delta_after_untrack;
-- Without the triggers a DELETE is a real delete again.
DELETE FROM items WHERE id = 2;
SELECT count(*) FROM items;
-- untrack of an untracked table is harmless; track again works and gives a full sync.
SELECT delta_sync.untrack('items');
SELECT delta_sync.track('items');
SELECT pg_temp.tracking_state('items') = :'before' AS same_as_first_tracking;
SELECT json_array_length(d->'created') AS created FROM delta_since('items', NULL) d;

-- Dropping a tracked table without untrack leaves its registry row behind (reported, not
-- asserted here), so the tables are untracked first.
SELECT delta_sync.untrack(t) FROM unnest(ARRAY['items', 'other', 'has_stamps', 'not_mine']::regclass[]) t;
DROP TABLE items, other, has_stamps, parted, no_pk, unique_only, two_col_pk, bad_created, bad_deleted,
           pk_is_stamp, not_mine CASCADE;
DROP SEQUENCE a_sequence;
REVOKE CREATE ON SCHEMA public FROM regress_delta_sync_stranger;
DROP ROLE regress_delta_sync_stranger;
SELECT count(*) - :registry_rows_at_start AS registry_rows_left FROM delta_sync.tracked;
