-- Records changed without versions by DDL on something other than the tracked table itself: a
-- type a column is built on, a parent the table inherits from, a column dropped by CASCADE. Each
-- must make a cursor from before it resync, as ALTER TABLE on the table does.

CREATE TYPE st AS ENUM ('new', 'done');
CREATE DOMAIN st_domain AS st;
CREATE TYPE pt AS (x integer);
CREATE TABLE pets (name text);
CREATE TABLE cats (id integer PRIMARY KEY, s st, sd st_domain, ss st[], p pt) INHERITS (pets);
CREATE TABLE bystander (id integer PRIMARY KEY, v text);
INSERT INTO cats (id, s, sd, ss, p, name) VALUES (1, 'new', 'new', '{new}', ROW(1), 'tom');
INSERT INTO bystander VALUES (1, 'a');
SELECT delta_sync.track('cats');
SELECT delta_sync.track('bystander');

CREATE FUNCTION pg_temp.resync_after(tbl regclass, ddl text) RETURNS TABLE (resync json, bystander json)
LANGUAGE plpgsql AS $$
DECLARE before_t text; before_b text;
BEGIN
    SELECT d->>'serverVersion' INTO before_t FROM delta_since(tbl) d;
    SELECT d->>'serverVersion' INTO before_b FROM delta_since('bystander') d;
    EXECUTE ddl;
    RETURN QUERY SELECT (SELECT d->'fullResyncRequired' FROM delta_since(tbl, before_t) d),
                        (SELECT d->'fullResyncRequired' FROM delta_since('bystander', before_b) d);
END $$;

-- The enum of a column, of a domain column and of an array column.
SELECT * FROM pg_temp.resync_after('cats', $$ALTER TYPE st RENAME VALUE 'new' TO 'open'$$);
SELECT s, sd, ss FROM cats;
-- A composite column's type.
SELECT * FROM pg_temp.resync_after('cats', $$ALTER TYPE pt ADD ATTRIBUTE y integer$$);
SELECT * FROM pg_temp.resync_after('cats', $$ALTER TYPE pt RENAME ATTRIBUTE y TO z$$);
SELECT p FROM cats;
-- The inheritance parent.
SELECT * FROM pg_temp.resync_after('cats', $$ALTER TABLE pets ADD COLUMN color text DEFAULT 'black'$$);
SELECT name, color FROM cats;
SELECT * FROM pg_temp.resync_after('cats', $$ALTER TABLE pets RENAME COLUMN color TO colour$$);
-- A column dropped with the type it has.
SELECT * FROM pg_temp.resync_after('cats', $$DROP TYPE pt CASCADE$$);
SELECT count(*) AS p_columns FROM pg_attribute WHERE attrelid = 'cats'::regclass AND attname = 'p' AND NOT attisdropped;
-- A column dropped with its collation.
CREATE COLLATION plain_c (locale = 'C');
ALTER TABLE cats ADD COLUMN nick text COLLATE plain_c DEFAULT 'kitty';
SELECT * FROM pg_temp.resync_after('cats', $$DROP COLLATION plain_c CASCADE$$);
-- A table whose row type is a column of a tracked table.
CREATE TABLE address (street text);
CREATE TABLE people (id integer PRIMARY KEY, home address);
INSERT INTO people VALUES (1, ROW('Main St'));
SELECT delta_sync.track('people');
SELECT * FROM pg_temp.resync_after('people', $$ALTER TABLE address ADD COLUMN city text$$);
SELECT home FROM people;
-- A view's row type as a column type: CREATE OR REPLACE VIEW adds an attribute.
CREATE TABLE base (a integer, b integer);
CREATE VIEW shown AS SELECT a FROM base;
CREATE TABLE holder (id integer PRIMARY KEY, x shown);
INSERT INTO holder VALUES (1, ROW(1));
SELECT delta_sync.track('holder');
SELECT * FROM pg_temp.resync_after('holder', $$CREATE OR REPLACE VIEW shown AS SELECT a, b FROM base$$);
SELECT * FROM pg_temp.resync_after('holder', $$ALTER VIEW shown RENAME COLUMN b TO c$$);
SELECT x FROM holder;
-- Unrelated DDL leaves the cursors alone.
CREATE TYPE other AS ENUM ('a');
SELECT * FROM pg_temp.resync_after('cats', $$ALTER TYPE other RENAME VALUE 'a' TO 'b'$$);
CREATE TABLE elsewhere (a integer);
SELECT * FROM pg_temp.resync_after('cats', $$ALTER TABLE elsewhere ADD COLUMN b text DEFAULT 'x'$$);

SELECT * FROM pg_temp.resync_after('holder', $$CREATE VIEW unrelated AS SELECT 1 AS one$$);
DROP TABLE people, address, cats, pets, bystander, elsewhere, holder;
DROP VIEW shown, unrelated;
DROP TABLE base;
DROP DOMAIN st_domain;
DROP TYPE st, other;
