-- Columns track() takes over instead of adding: created_at, updated_at and deleted_at that the
-- table already has are checked, and what would make them wrong is refused with the table left
-- as it was. A wrong type is 42804; a generated column, a NOT NULL deleted_at or a deleted_at
-- with a default is 42P16. What is accepted: any default or nullability of created_at and
-- updated_at (the triggers write updated_at on every write and created_at on insert when it is
-- NULL), and a deleted_at without default that allows NULL.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE FUNCTION pg_temp.refused(tbl text) RETURNS TABLE (state text, message text, detail text,
                                                         left_as_it_was boolean)
LANGUAGE plpgsql AS $$
DECLARE before text;
BEGIN
    SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
      INTO before FROM pg_attribute WHERE attrelid = tbl::regclass AND attnum > 0 AND NOT attisdropped;
    SELECT a.state, a.message, a.detail INTO state, message, detail
      FROM pg_temp.attempt_details(format('SELECT delta_sync.track(%L)', tbl)) a;
    left_as_it_was := before = (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
                                  FROM pg_attribute WHERE attrelid = tbl::regclass AND attnum > 0 AND NOT attisdropped)
        AND NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl::regclass AND NOT tgisinternal)
        AND NOT EXISTS (SELECT 1 FROM delta_sync.tracked WHERE relid = tbl::regclass);
    RETURN NEXT;
END $$;

-- "Not deleted" spelled 'infinity': every row would count as deleted and a full sync be empty.
CREATE TABLE infinite (id integer PRIMARY KEY, deleted_at timestamptz NOT NULL DEFAULT 'infinity');
INSERT INTO infinite VALUES (1);
SELECT * FROM pg_temp.refused('infinite');
-- NOT NULL alone, and a default alone.
CREATE TABLE never_null (id integer PRIMARY KEY, deleted_at timestamptz NOT NULL);
SELECT * FROM pg_temp.refused('never_null');
CREATE TABLE born_deleted (id integer PRIMARY KEY, deleted_at timestamptz DEFAULT now());
SELECT * FROM pg_temp.refused('born_deleted');
-- Generated columns: a soft delete could not write deleted_at (every DELETE would fail with
-- 428C9); updated_at and created_at would not say when the row was written.
CREATE TABLE gen_deleted (id integer PRIMARY KEY, gone boolean,
    deleted_at timestamptz GENERATED ALWAYS AS (CASE WHEN gone THEN '2000-01-01'::timestamptz END) STORED);
SELECT * FROM pg_temp.refused('gen_deleted');
CREATE TABLE gen_updated (id integer PRIMARY KEY, t timestamptz,
    updated_at timestamptz GENERATED ALWAYS AS (t) STORED);
SELECT * FROM pg_temp.refused('gen_updated');
CREATE TABLE gen_created (id integer PRIMARY KEY, t timestamptz,
    created_at timestamptz GENERATED ALWAYS AS (t) STORED);
SELECT * FROM pg_temp.refused('gen_created');
-- Types: timestamp without time zone, a domain over timestamptz, and an identity column (which
-- must be an integer, so its type is what is refused).
CREATE TABLE plain_timestamp (id integer PRIMARY KEY, updated_at timestamp);
SELECT * FROM pg_temp.refused('plain_timestamp');
CREATE DOMAIN stamp AS timestamptz;
CREATE TABLE domain_stamp (id integer PRIMARY KEY, created_at stamp);
SELECT * FROM pg_temp.refused('domain_stamp');
CREATE TABLE identity_deleted (id integer PRIMARY KEY, deleted_at bigint GENERATED ALWAYS AS IDENTITY);
SELECT * FROM pg_temp.refused('identity_deleted');

-- Accepted: nullable created_at and updated_at with defaults of their own, deleted_at with an
-- explicit NULL default. The application's updated_at is overwritten by the trigger (it is the
-- time of the write as delta_sync knows it); an explicit created_at on insert is kept.
CREATE TABLE own_stamps (id integer PRIMARY KEY, created_at timestamptz DEFAULT '2000-01-01',
    updated_at timestamptz, deleted_at timestamptz DEFAULT NULL);
INSERT INTO own_stamps VALUES (1, NULL, NULL, NULL);
SELECT delta_sync.track('own_stamps');
INSERT INTO own_stamps (id, created_at, updated_at) VALUES (2, '2001-01-01', '1999-01-01');
UPDATE own_stamps SET updated_at = '1999-01-01' WHERE id = 1;
SELECT id, created_at AT TIME ZONE 'UTC' AS created_utc, updated_at > '2020-01-01' AS updated_now,
       deleted_at FROM own_stamps ORDER BY id;
DELETE FROM own_stamps WHERE id = 2;
SELECT id, deleted_at IS NOT NULL AS deleted FROM own_stamps ORDER BY id;
-- Checked once, when tracking starts: a table tracked again keeps going.
SELECT delta_sync.track('own_stamps');

DROP TABLE infinite, never_null, born_deleted, gen_deleted, gen_updated, gen_created,
    plain_timestamp, domain_stamp, identity_deleted, own_stamps;
DROP DOMAIN stamp;
