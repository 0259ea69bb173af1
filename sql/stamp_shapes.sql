-- The stamp trigger keeps a table's shape (the tracking columns' numbers, the key) per backend
-- across statements, and writes an UPDATE's version and updated_at over a copy of the row. Both
-- must follow every change of the table made in this session (kept or rolled back) and every
-- layout of a row: NULLs, short, long and toasted values, dropped and added columns.

-- stamped(t, id): the row carries this transaction's version and start time.
CREATE FUNCTION pg_temp.stamped(t regclass, k integer) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    EXECUTE format('SELECT updated_at = now() AND delta_sync_changed_xid = pg_current_xact_id()
                      AND delta_sync_created_xid < delta_sync_changed_xid FROM %s WHERE id = $1', t)
        INTO ok USING k;
    RETURN ok;
END $$;

CREATE TABLE shapes (id integer PRIMARY KEY, a text, b integer, c text, d bytea);
ALTER TABLE shapes ALTER COLUMN d SET STORAGE EXTERNAL;
SELECT delta_sync.track('shapes');
INSERT INTO shapes VALUES (1, 'x', 1, 'short', NULL),
                          (2, NULL, NULL, repeat('long ', 400), 'bytes'),
                          (3, repeat('y', 300), 3, NULL, decode(repeat('ab', 5000), 'hex'));
CREATE TABLE shapes_before AS SELECT id, a, b, c, d, created_at, delta_sync_created_xid FROM shapes;

-- Rows of every layout: only the version and updated_at change.
BEGIN;
UPDATE shapes SET b = b WHERE id = 1;
UPDATE shapes SET b = b WHERE id = 2;
UPDATE shapes SET b = b WHERE id = 3;
SELECT id, pg_temp.stamped('shapes', id) FROM shapes ORDER BY id;
COMMIT;
SELECT s.id, (s.a, s.b, s.c, s.d, s.created_at, s.delta_sync_created_xid)
             IS NOT DISTINCT FROM (o.a, o.b, o.c, o.d, o.created_at, o.delta_sync_created_xid) AS kept
  FROM shapes s JOIN shapes_before o USING (id) ORDER BY id;

-- An UPDATE that sets updated_at to NULL is stamped all the same.
BEGIN;
UPDATE shapes SET updated_at = NULL, a = 'z' WHERE id = 1;
SELECT pg_temp.stamped('shapes', 1), a FROM shapes WHERE id = 1;
COMMIT;

-- A dropped column before the tracking columns, one added after them (stored rows lack it).
ALTER TABLE shapes DROP COLUMN b;
ALTER TABLE shapes ADD COLUMN e integer DEFAULT 7;
BEGIN;
UPDATE shapes SET a = a WHERE id IN (2, 3);
SELECT id, pg_temp.stamped('shapes', id), e FROM shapes WHERE id IN (2, 3) ORDER BY id;
COMMIT;

-- updated_at and the version dropped and added again: new column numbers.
SELECT attname, attnum FROM pg_attribute
 WHERE attrelid = 'shapes'::regclass AND attname IN ('updated_at', 'delta_sync_changed_xid')
 ORDER BY attnum;
ALTER TABLE shapes DROP COLUMN updated_at,
                   ADD COLUMN updated_at timestamptz NOT NULL DEFAULT '2000-01-01';
ALTER TABLE shapes DROP COLUMN delta_sync_changed_xid,
                   ADD COLUMN delta_sync_changed_xid xid8 NOT NULL DEFAULT '1';
SELECT attname, attnum FROM pg_attribute
 WHERE attrelid = 'shapes'::regclass AND attname IN ('updated_at', 'delta_sync_changed_xid')
 ORDER BY attnum;
BEGIN;
UPDATE shapes SET a = 'moved' WHERE id = 1;
SELECT pg_temp.stamped('shapes', 1), e FROM shapes WHERE id = 1;
COMMIT;

-- A shape seen only inside a rolled-back transaction is not kept after it.
BEGIN;
ALTER TABLE shapes DROP COLUMN updated_at,
                   ADD COLUMN updated_at timestamptz NOT NULL DEFAULT '2000-01-01';
UPDATE shapes SET a = 'inside' WHERE id = 2;
SELECT pg_temp.stamped('shapes', 2);
ROLLBACK;
BEGIN;
UPDATE shapes SET a = 'after' WHERE id = 2;
SELECT pg_temp.stamped('shapes', 2), a FROM shapes WHERE id = 2;
COMMIT;

-- A renamed tracking column is missed at once.
ALTER TABLE shapes RENAME COLUMN deleted_at TO deleted_on;
UPDATE shapes SET a = 'renamed' WHERE id = 1;
ALTER TABLE shapes RENAME COLUMN deleted_on TO deleted_at;
UPDATE shapes SET a = 'renamed back' WHERE id = 1;

-- A new primary key: the key the stamp trigger guards is the new one.
UPDATE shapes SET id = 10 WHERE id = 1;
ALTER TABLE shapes DROP CONSTRAINT shapes_pkey;
ALTER TABLE shapes ADD PRIMARY KEY (a);
UPDATE shapes SET id = 10 WHERE id = 1;
UPDATE shapes SET a = 'rekeyed' WHERE id = 10;
SELECT id, left(a, 10) AS a FROM shapes ORDER BY id;

-- Two tracked tables of different layouts written in turn, and many rows in one statement.
CREATE TABLE shapes_other (note text, id integer PRIMARY KEY, n integer);
SELECT delta_sync.track('shapes_other');
INSERT INTO shapes_other (note, id, n) SELECT 'n' || i, i, i FROM generate_series(1, 50) i;
BEGIN;
UPDATE shapes_other SET note = note WHERE id = 1;
UPDATE shapes SET a = a WHERE id = 2;
UPDATE shapes_other SET n = n + 1;
SELECT count(*) FILTER (WHERE pg_temp.stamped('shapes_other', id)) AS stamped,
       count(*) FILTER (WHERE n = id + 1 AND note = 'n' || id) AS kept,
       sum(n) AS n FROM shapes_other;
SELECT id, pg_temp.stamped('shapes', id) FROM shapes WHERE id = 2;
COMMIT;

-- A composite key under a kept shape: updates of other columns stamped in place, a change of
-- either key column refused (soft-delete mode); then the key replaced by one of the same types
-- (the tombstone table still fits): the column that left the key may change, the one that joined
-- it may not, and a soft-deleted row's key is reused under the new key.
CREATE FUNCTION pg_temp.fresh(t regclass) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    EXECUTE format('SELECT string_agg(CASE WHEN updated_at = now()
                                            AND delta_sync_changed_xid = pg_current_xact_id()
                                       THEN ''stamped'' ELSE ''old'' END, '' ''
                                       ORDER BY delta_sync_created_xid, created_at) FROM %s', t)
        INTO r;
    RETURN r;
END $$;
CREATE TABLE shapes_pair (a integer, b integer, c integer, v text, PRIMARY KEY (a, b));
SELECT delta_sync.track('shapes_pair');
INSERT INTO shapes_pair VALUES (1, 1, 10, 'x'), (1, 2, 20, 'y');
BEGIN;
UPDATE shapes_pair SET v = 'x1' WHERE a = 1 AND b = 1;
UPDATE shapes_pair SET v = 'y1' WHERE a = 1 AND b = 2;
SELECT pg_temp.fresh('shapes_pair');
COMMIT;
UPDATE shapes_pair SET b = 3 WHERE a = 1 AND b = 1;
UPDATE shapes_pair SET a = 3 WHERE a = 1 AND b = 1;
ALTER TABLE shapes_pair DROP CONSTRAINT shapes_pair_pkey, ADD PRIMARY KEY (a, c);
BEGIN;
UPDATE shapes_pair SET b = 3 WHERE a = 1 AND c = 10;
UPDATE shapes_pair SET v = 'y2' WHERE a = 1 AND c = 20;
SELECT pg_temp.fresh('shapes_pair');
COMMIT;
UPDATE shapes_pair SET c = 30 WHERE a = 1 AND c = 20;
DELETE FROM shapes_pair WHERE a = 1 AND c = 20;
INSERT INTO shapes_pair VALUES (1, 9, 20, 'again');
SELECT a, b, c, v, deleted_at IS NOT NULL AS deleted FROM shapes_pair ORDER BY a, c;

-- A partitioned table under kept shapes of its partitions: a partition detached (its triggers
-- go, its writes are not stamped) and attached again; then an update in place there and a
-- move into it (the key holds the partition key: the move writes its tombstone in the root's
-- tombstone table, under both key columns).
CREATE TABLE shapes_parts (id integer, region text, v text, PRIMARY KEY (id, region))
    PARTITION BY LIST (region);
CREATE TABLE shapes_parts_eu PARTITION OF shapes_parts FOR VALUES IN ('eu');
CREATE TABLE shapes_parts_us PARTITION OF shapes_parts FOR VALUES IN ('us');
SELECT delta_sync.track('shapes_parts');
INSERT INTO shapes_parts (id, region, v) VALUES (1, 'eu', 'a'), (2, 'eu', 'b'), (3, 'us', 'c');
BEGIN;
UPDATE shapes_parts SET v = v || '1';
SELECT pg_temp.fresh('shapes_parts');
COMMIT;
ALTER TABLE shapes_parts DETACH PARTITION shapes_parts_us;
BEGIN;
UPDATE shapes_parts_us SET v = 'alone' WHERE id = 3;
SELECT pg_temp.fresh('shapes_parts_us');
COMMIT;
ALTER TABLE shapes_parts ATTACH PARTITION shapes_parts_us FOR VALUES IN ('us');
BEGIN;
UPDATE shapes_parts SET v = 'in place' WHERE id = 3;
UPDATE shapes_parts SET region = 'us' WHERE id = 1;
SELECT id, region, tableoid::regclass AS part, v,
       updated_at = now() AND delta_sync_changed_xid = pg_current_xact_id() AS stamped
  FROM shapes_parts ORDER BY id;
COMMIT;
SELECT key_1, key_2 FROM shapes_parts_delta_sync_tombstones ORDER BY key_1, key_2;
-- A move out of the partition whose shape is kept, after the tree changed again.
ALTER TABLE shapes_parts DETACH PARTITION shapes_parts_eu;
ALTER TABLE shapes_parts ATTACH PARTITION shapes_parts_eu FOR VALUES IN ('eu');
UPDATE shapes_parts SET region = 'eu' WHERE id = 3;
SELECT id, region, tableoid::regclass AS part FROM shapes_parts ORDER BY id;
SELECT key_1, key_2 FROM shapes_parts_delta_sync_tombstones ORDER BY key_1, key_2;

-- The root's owner changed under a kept shape of its partition: the partition's next move finds
-- the tombstone table no longer the root owner's, as a freshly read shape would; with the owner
-- back it moves.
CREATE ROLE regress_stamp_shapes_owner;
UPDATE shapes_parts SET v = 'kept' WHERE id = 3;
ALTER TABLE shapes_parts OWNER TO regress_stamp_shapes_owner;
UPDATE shapes_parts SET region = 'us' WHERE id = 3;
ALTER TABLE shapes_parts OWNER TO CURRENT_USER;
UPDATE shapes_parts SET region = 'us' WHERE id = 3;
SELECT id, region, tableoid::regclass AS part FROM shapes_parts ORDER BY id;
DROP ROLE regress_stamp_shapes_owner;
SELECT delta_sync.untrack('shapes');
SELECT delta_sync.untrack('shapes_other');
SELECT delta_sync.untrack('shapes_pair');
SELECT delta_sync.untrack('shapes_parts');
DROP TABLE shapes, shapes_before, shapes_other, shapes_pair, shapes_parts;
