-- Timestamps in records equal to_json(row) in every session time zone, switched back and forth in
-- one session: the encoder writes timestamps itself when the zone has a single UTC offset (checked
-- once per zone) and must notice every switch.
CREATE TABLE moments (id integer PRIMARY KEY, at timestamptz, local_at timestamp);
INSERT INTO moments VALUES
    (1, '2024-03-31 00:59:59.999999+00', '2024-03-31 00:59:59.999999'),
    (2, '2024-03-31 01:00:00+00', '2024-10-27 01:30:00'),
    (3, '1900-01-01 00:00:00+00', '0001-01-01 00:00:00'),
    (4, '4713-01-01 00:00:00+00 BC', '294276-12-31 23:59:59.999999'),
    (5, 'infinity', '-infinity'),
    (6, '2016-12-31 23:59:59.5+00', '2000-02-29 12:34:56.789'),
    (7, NULL, NULL);
SELECT delta_sync.track('moments');

CREATE FUNCTION pg_temp.all_equal() RETURNS text LANGUAGE sql AS $$
    WITH doc AS (SELECT d FROM delta_since('moments', NULL) d),
         got AS (SELECT (e->>'id')::int AS id, e::text AS rec FROM doc, json_array_elements(d->'created') e),
         want AS (SELECT r.id, to_json(r)::text AS rec
                    FROM (SELECT id, at, local_at, created_at, updated_at, deleted_at FROM moments) r)
    SELECT format('%s of %s records equal', count(*) FILTER (WHERE got.rec = want.rec), count(*))
      FROM want LEFT JOIN got USING (id)
$$;

SET TIME ZONE 'UTC';
SELECT current_setting('TimeZone') AS zone, pg_temp.all_equal();
SET TIME ZONE 'Asia/Kolkata';
SELECT current_setting('TimeZone') AS zone, pg_temp.all_equal();
SET TIME ZONE 'Europe/Dublin';
SELECT current_setting('TimeZone') AS zone, pg_temp.all_equal();
SET TIME ZONE 'UTC';
SELECT current_setting('TimeZone') AS zone, pg_temp.all_equal();
SET TIME ZONE 'America/St_Johns';
SELECT current_setting('TimeZone') AS zone, pg_temp.all_equal();
SET TIME ZONE '+05:45';
SELECT current_setting('TimeZone') AS zone, pg_temp.all_equal();
SET TIME ZONE 'Asia/Kolkata';
SELECT current_setting('TimeZone') AS zone, pg_temp.all_equal();
RESET TIME ZONE;
SELECT delta_sync.untrack('moments');
DROP TABLE moments;
