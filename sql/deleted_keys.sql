-- A deleted entry is exactly the record's key as a client reads it: the content of the JSON
-- string when the record holds the key as a string, the record's JSON text otherwise (numbers,
-- booleans, arrays, composites, jsonb), always sent as a JSON string. Checked for keys of many
-- types under three DateStyles, two IntervalStyles and two time zones: each deleted key is
-- compared with the key of a live record of the same value, read in the same settings.

CREATE EXTENSION citext;
CREATE TYPE key_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN key_code AS text CHECK (VALUE <> '');
CREATE TYPE key_pair AS (a integer, b text);

CREATE TEMP TABLE key_types (name text PRIMARY KEY, type text, value text);
INSERT INTO key_types VALUES
    ('int2', 'int2', '-7'),
    ('int4', 'int4', '2147483647'),
    ('int8', 'int8', '-9223372036854775808'),
    ('numeric', 'numeric', '12.50'),
    ('numeric_nan', 'numeric', 'NaN'),
    ('float8', 'float8', '0.1'),
    ('text', 'text', 'a "quoted"\ttab and é'),
    ('varchar', 'varchar(20)', 'plain'),
    ('citext', 'citext', 'Alice@Example.org'),
    ('uuid', 'uuid', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
    ('enum', 'key_mood', 'happy'),
    ('domain', 'key_code', 'X-1'),
    ('date', 'date', '2024-01-02'),
    ('timestamp', 'timestamp', '2024-01-02 03:04:05.25'),
    ('timestamptz', 'timestamptz', '2024-01-02 03:04:05+00'),
    ('interval', 'interval', '1 day 02:03:04'),
    ('bool', 'bool', 'true'),
    ('bytea', 'bytea', '\x00ff41'),
    ('int_array', 'int[]', '{1,2,3}'),
    ('text_array', 'text[]', '{"a b",c}'),
    ('composite', 'key_pair', '(1,"x y")'),
    ('jsonb', 'jsonb', '{"b": [1, 2], "a": "x"}');

-- For each type: gone_<name> has the row soft-deleted after the cursor, live_<name> keeps it.
DO $$
DECLARE k record;
BEGIN
    FOR k IN SELECT * FROM key_types LOOP
        EXECUTE format('CREATE TABLE %I (id %s PRIMARY KEY)', 'gone_' || k.name, k.type);
        EXECUTE format('CREATE TABLE %I (id %s PRIMARY KEY)', 'live_' || k.name, k.type);
        PERFORM delta_sync.track(('gone_' || k.name)::regclass);
        PERFORM delta_sync.track(('live_' || k.name)::regclass);
        EXECUTE format('INSERT INTO %I VALUES (%L)', 'gone_' || k.name, k.value);
        EXECUTE format('INSERT INTO %I VALUES (%L)', 'live_' || k.name, k.value);
    END LOOP;
END $$;
CREATE TEMP TABLE before_delete AS
    SELECT name, (SELECT d->>'serverVersion' FROM delta_since(('gone_' || name)::regclass) d) AS v
      FROM key_types;
DO $$
DECLARE k record;
BEGIN
    FOR k IN SELECT * FROM key_types LOOP
        EXECUTE format('DELETE FROM %I', 'gone_' || k.name);
    END LOOP;
END $$;

-- Per type, in the current settings: the deleted entry, and the live record's key as a client
-- reads it (a JSON string's content, else the JSON text).
CREATE FUNCTION pg_temp.keys() RETURNS TABLE (name text, deleted_is_string boolean, deleted text, record_key text)
LANGUAGE plpgsql AS $$
DECLARE k record; gone json; live json;
BEGIN
    FOR k IN SELECT t.name, b.v FROM key_types t JOIN before_delete b USING (name) ORDER BY t.name LOOP
        SELECT d->'deleted'->0 INTO gone FROM delta_since(('gone_' || k.name)::regclass, k.v) d;
        SELECT d->'created'->0->'id' INTO live FROM delta_since(('live_' || k.name)::regclass) d;
        name := k.name;
        deleted_is_string := json_typeof(gone) = 'string';
        deleted := gone #>> '{}';
        record_key := CASE json_typeof(live) WHEN 'string' THEN live #>> '{}' ELSE live::text END;
        RETURN NEXT;
    END LOOP;
END $$;

SET TimeZone = 'UTC';
SET DateStyle = 'ISO, MDY';
SET IntervalStyle = 'postgres';
SELECT * FROM pg_temp.keys();

-- Every combination: each deleted key equals the record's key, and does not depend on DateStyle.
CREATE TEMP TABLE runs (zone text, datestyle text, intervalstyle text, name text, deleted_is_string boolean,
                        deleted text, record_key text);
DO $$
DECLARE zone text; ds text; ist text;
BEGIN
    FOREACH zone IN ARRAY ARRAY['UTC', 'Asia/Kolkata'] LOOP
        FOREACH ds IN ARRAY ARRAY['ISO, MDY', 'SQL, DMY', 'German', 'Postgres, YMD'] LOOP
            FOREACH ist IN ARRAY ARRAY['postgres', 'sql_standard'] LOOP
                PERFORM set_config('TimeZone', zone, true);
                PERFORM set_config('DateStyle', ds, true);
                PERFORM set_config('IntervalStyle', ist, true);
                INSERT INTO runs SELECT zone, ds, ist, k.* FROM pg_temp.keys() k;
            END LOOP;
        END LOOP;
    END LOOP;
END $$;
SELECT count(*) AS checks, count(DISTINCT name) AS types,
       count(DISTINCT (zone, datestyle, intervalstyle)) AS settings,
       bool_and(deleted_is_string) AS all_strings,
       count(*) FILTER (WHERE deleted IS DISTINCT FROM record_key) AS mismatches
  FROM runs;
-- DateStyle never changes a deleted key; the time zone changes a timestamptz key and IntervalStyle
-- an interval key exactly as they change the record (to_json follows them).
SELECT count(*) AS keys_changed_by_datestyle
  FROM (SELECT 1 FROM runs GROUP BY name, zone, intervalstyle HAVING count(DISTINCT deleted) > 1) s;
SELECT name, zone, intervalstyle, string_agg(DISTINCT deleted, ' / ') AS deleted
  FROM runs WHERE name IN ('timestamptz', 'interval', 'date', 'timestamp')
 GROUP BY name, zone, intervalstyle ORDER BY name, zone, intervalstyle;
RESET TimeZone;
RESET DateStyle;
RESET IntervalStyle;

DO $$
DECLARE k record;
BEGIN
    FOR k IN SELECT * FROM key_types LOOP
        EXECUTE format('DROP TABLE %I, %I', 'gone_' || k.name, 'live_' || k.name);
    END LOOP;
END $$;
DROP TYPE key_pair;
DROP DOMAIN key_code;
DROP TYPE key_mood;
DROP EXTENSION citext;
