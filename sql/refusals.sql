-- delta_since refusals (docs/design.md §3, §10): every argument error with its SQLSTATE; a serverVersion
-- that is malformed, truncated or altered is 22023 with a message saying what a serverVersion is;
-- one from another cluster or from the future is not an error but fullResyncRequired.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE accounts (id integer PRIMARY KEY, owner text);
SELECT delta_sync.track('accounts');
INSERT INTO accounts VALUES (1, 'ann'), (2, 'bob');
SELECT d->>'serverVersion' AS v FROM delta_since('accounts', NULL) d \gset
CREATE TABLE untracked (id integer PRIMARY KEY);
CREATE VIEW accounts_view AS SELECT id, owner FROM accounts;

-- Arguments.
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(NULL)');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(NULL, ''garbage'', 0, 0)');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', NULL, max_changes => 0)');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', NULL, max_changes => -1)');
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L, max_changes => 0)', :'v'));
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', NULL, page_size => 0)');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', NULL, page_size => -1000)');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''untracked'', NULL)');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts_view'', NULL)');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''no_such_table'', NULL)');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(0, NULL)');
-- The untracked refusal says how to start tracking.
\set VERBOSITY default
SELECT delta_since('untracked', NULL);

-- Privileges: delta_since runs as its caller and needs SELECT on the table.
CREATE ROLE regress_delta_sync_reader;
SET ROLE regress_delta_sync_reader;
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', NULL)');
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', :'v'));
RESET ROLE;
GRANT SELECT ON accounts TO regress_delta_sync_reader;
SET ROLE regress_delta_sync_reader;
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', NULL)');
SELECT json_array_length(d->'created') AS created FROM delta_since('accounts', NULL) d;
RESET ROLE;
-- Column privileges on only some columns are not enough.
REVOKE SELECT ON accounts FROM regress_delta_sync_reader;
GRANT SELECT (id) ON accounts TO regress_delta_sync_reader;
SET ROLE regress_delta_sync_reader;
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', NULL)');
RESET ROLE;
-- Row-level security: delta_since shows a reader only the rows the policies let it see.
GRANT SELECT ON accounts TO regress_delta_sync_reader;
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY only_ann ON accounts FOR SELECT TO regress_delta_sync_reader USING (owner = 'ann');
SET ROLE regress_delta_sync_reader;
SELECT e->>'id' AS id FROM delta_since('accounts', NULL) d, json_array_elements(d->'created') e;
RESET ROLE;
ALTER TABLE accounts DISABLE ROW LEVEL SECURITY;

-- serverVersions that are not: malformed.
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', '''')');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', ''garbage!'')');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', ''null'')');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', ''2024-01-01T00:00:00Z'')');
SELECT * FROM pg_temp.attempt_details('SELECT delta_since(''accounts'', ''A'')');
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', repeat('A', 100000)));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', repeat('A', 1048577)));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', :'v' || ' '));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', ' ' || :'v'));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', :'v' || '='));
-- (base64 instead of base64url; the length kept, since a cursor's length varies with its xids)
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', left(translate(:'v', '-_', '+/'), -2) || '+/'));
-- Altered: one character in the middle, the first, the last.
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    overlay(:'v' placing CASE WHEN substr(:'v', 12, 1) = 'A' THEN 'B' ELSE 'A' END from 12 for 1)));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    overlay(:'v' placing CASE WHEN substr(:'v', 1, 1) = 'A' THEN 'B' ELSE 'A' END from 1 for 1)));
SELECT state, message LIKE 'invalid serverVersion: %' AS says_invalid, detail
  FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    overlay(:'v' placing CASE WHEN right(:'v', 1) = 'A' THEN 'Q' ELSE 'A' END from length(:'v') for 1)));
-- Truncated: every proper prefix is refused with 22023 (the exact reason varies with the length).
SELECT count(*) = length(:'v') - 1 AS all_prefixes,
       count(*) FILTER (WHERE a.state = '22023' AND a.message LIKE 'invalid serverVersion: %'
                          AND a.detail LIKE 'A serverVersion is the opaque cursor returned in the previous delta_since() document%') = count(*) AS all_refused_22023
  FROM generate_series(1, length(:'v') - 1) n,
       pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', left(:'v', n))) a;
-- Every single-character substitution is refused too.
SELECT count(*) = length(:'v') AS all_substitutions, count(*) FILTER (WHERE a.state = '22023') = count(*) AS all_refused_22023
  FROM generate_series(1, length(:'v')) n,
       LATERAL (SELECT CASE WHEN substr(:'v', n, 1) = 'A' THEN 'g' ELSE 'A' END AS c) s,
       pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', overlay(:'v' placing s.c from n for 1))) a;
-- The real one still works.
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)', :'v'));

-- Forged cursors with a correct checksum (the layout of src/extension/cursor.cpp: u8 format (2) |
-- u64le system id | varint timeline | varint lsn | u64le xmin | varint xmax-xmin | varint count |
-- varint gaps | u32le crc32c; format 1, of version 1.1, has no timeline and lsn).
CREATE FUNCTION pg_temp.unb64(t text) RETURNS bytea LANGUAGE sql AS $$
    SELECT decode(rpad(translate(t, '-_', '+/'), (length(t) + 3) / 4 * 4, '='), 'base64') $$;
CREATE FUNCTION pg_temp.b64(b bytea) RETURNS text LANGUAGE sql AS $$
    SELECT translate(rtrim(replace(encode(b, 'base64'), E'\n', ''), '='), '+/', '-_') $$;
CREATE FUNCTION pg_temp.crc32c(b bytea) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE c bigint := 4294967295;
BEGIN
    FOR i IN 0 .. length(b) - 1 LOOP
        c := c # get_byte(b, i);
        FOR k IN 1 .. 8 LOOP
            IF c & 1 = 1 THEN c := (c >> 1) # 2197175160; ELSE c := c >> 1; END IF;
        END LOOP;
    END LOOP;
    RETURN c # 4294967295;
END $$;
-- The body (everything before the checksum) sealed with its checksum.
CREATE FUNCTION pg_temp.seal(body bytea) RETURNS text LANGUAGE sql AS $$
    SELECT pg_temp.b64(body || set_byte(set_byte(set_byte(set_byte('\x00000000'::bytea,
        0, (c & 255)::int), 1, ((c >> 8) & 255)::int), 2, ((c >> 16) & 255)::int), 3, ((c >> 24) & 255)::int))
      FROM pg_temp.crc32c(body) c $$;
CREATE FUNCTION pg_temp.body(v text) RETURNS bytea LANGUAGE sql AS $$
    SELECT substr(b, 1, length(b) - 4) FROM pg_temp.unb64(v) b $$;
CREATE FUNCTION pg_temp.u64le(n numeric) RETURNS bytea LANGUAGE sql AS $$
    SELECT string_agg(set_byte('\x00'::bytea, 0, (trunc(n / 256::numeric ^ i) % 256)::int), ''::bytea ORDER BY i)
      FROM generate_series(0, 7) i $$;

-- Format, system identifier, timeline 1 at position 0 (in the history of every server of a
-- cluster), xmin: the head of a forged cursor.
CREATE FUNCTION pg_temp.head(v text, xmin numeric) RETURNS bytea LANGUAGE sql AS $$
    SELECT '\x02'::bytea || substr(pg_temp.body(v), 2, 8) || '\x0100'::bytea || pg_temp.u64le(xmin) $$;
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::numeric AS xmin \gset

-- The helpers reproduce a real cursor exactly.
SELECT pg_temp.seal(pg_temp.body(:'v')) = :'v' AS resealed_equal;

-- Another cluster (system identifier changed): fullResyncRequired, not an error.
SELECT pg_temp.seal(set_byte(b, 1, get_byte(b, 1) # 1)) AS other_cluster FROM pg_temp.body(:'v') b \gset
SELECT d->>'fullResyncRequired' AS resync, json_array_length(d->'created') AS created,
       d->>'serverVersion' <> :'other_cluster' AS fresh_cursor
  FROM delta_since('accounts', :'other_cluster') d;
-- From the future (xmin a million xids ahead: a restored backup): fullResyncRequired.
SELECT pg_temp.seal(pg_temp.head(:'v', :xmin + 1000000) || '\x0000'::bytea) AS future \gset
SELECT d->>'fullResyncRequired' AS resync, json_array_length(d->'created') AS created
  FROM delta_since('accounts', :'future') d;
-- From before tracking began (xmin 3, the first normal xid): fullResyncRequired.
SELECT pg_temp.seal(pg_temp.head(:'v', 3) || '\x0000'::bytea) AS ancient \gset
SELECT d->>'fullResyncRequired' AS resync FROM delta_since('accounts', :'ancient') d;
-- Taken at a point of WAL history this server does not have: on a timeline it never was on, or
-- beyond its position on its own timeline (history.cpp): fullResyncRequired.
SELECT pg_temp.seal(overlay(pg_temp.head(:'v', :xmin) placing '\x02'::bytea from 10 for 1) || '\x0000'::bytea) AS other_timeline \gset
SELECT d->>'fullResyncRequired' AS resync FROM delta_since('accounts', :'other_timeline') d;
SELECT pg_temp.seal('\x02'::bytea || substr(pg_temp.body(:'v'), 2, 8) || '\x01ffffffffffff7f'::bytea
                    || pg_temp.u64le(:xmin) || '\x0000'::bytea) AS ahead \gset
SELECT d->>'fullResyncRequired' AS resync FROM delta_since('accounts', :'ahead') d;
-- The same snapshot at timeline 1, position 0 is in this server's history: a delta.
SELECT d->>'fullResyncRequired' AS resync
  FROM delta_since('accounts', pg_temp.seal(pg_temp.head(:'v', :xmin) || '\x0000'::bytea)) d;
-- A cursor of version 1.1 (format 1, no history point): fullResyncRequired, not an error.
SELECT d->>'fullResyncRequired' AS resync, json_array_length(d->'created') AS created,
       get_byte(pg_temp.unb64(d->>'serverVersion'), 0) AS format_handed_back
  FROM delta_since('accounts', pg_temp.seal('\x01'::bytea || substr(pg_temp.body(:'v'), 2, 8)
                                            || pg_temp.u64le(:xmin) || '\x0000'::bytea)) d;
-- Checksum right, content wrong: another format version; timeline 0; xmin 0; a count beyond the
-- bytes; an xip outside [xmin, xmax); trailing bytes; an overlong varint.
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    pg_temp.seal(overlay(pg_temp.body(:'v') placing '\x03'::bytea from 1 for 1))));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    pg_temp.seal(overlay(pg_temp.head(:'v', :xmin) placing '\x00'::bytea from 10 for 1) || '\x0000'::bytea)));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    pg_temp.seal(pg_temp.head(:'v', 0) || '\x0000'::bytea)));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    pg_temp.seal(pg_temp.head(:'v', :xmin) || '\x0a05'::bytea)));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    pg_temp.seal(pg_temp.head(:'v', :xmin) || '\x02010a'::bytea)));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    pg_temp.seal(pg_temp.head(:'v', :xmin) || '\x0100ff'::bytea)));
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    pg_temp.seal(pg_temp.head(:'v', :xmin) || '\x8100'::bytea || '\x00'::bytea)));
-- A well-formed forged cursor in range is accepted (it is a snapshot like any other).
SELECT * FROM pg_temp.attempt_details(format('SELECT delta_since(''accounts'', %L)',
    pg_temp.seal(pg_temp.head(:'v', :xmin) || '\x0000'::bytea)));

SELECT delta_sync.untrack('accounts');
DROP VIEW accounts_view;
DROP TABLE accounts, untracked;
DROP ROLE regress_delta_sync_reader;
