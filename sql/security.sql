-- Privileges and search_path (docs/design.md §10): delta_since runs with the caller's rights,
-- row-level security filters all three buckets, track/untrack/purge need the owner, and nothing
-- the extension runs inside someone else's statement can be hijacked through search_path.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE ROLE regress_ds_owner;
CREATE ROLE regress_ds_alice;
CREATE ROLE regress_ds_stranger;
CREATE SCHEMA secure AUTHORIZATION regress_ds_owner;
GRANT USAGE ON SCHEMA secure TO regress_ds_alice, regress_ds_stranger;

SET ROLE regress_ds_owner;
CREATE TABLE secure.notes (id integer PRIMARY KEY, owner name NOT NULL, body text);
INSERT INTO secure.notes VALUES (1, 'regress_ds_alice', 'mine'), (2, 'regress_ds_bob', 'not mine'),
                                (3, 'regress_ds_alice', 'mine too'), (4, 'regress_ds_bob', 'secret');
SELECT delta_sync.track('secure.notes');
ALTER TABLE secure.notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON secure.notes USING (owner = current_user);
GRANT SELECT, INSERT, UPDATE, DELETE ON secure.notes TO regress_ds_alice;
RESET ROLE;

-- No SELECT privilege: refused, whatever the cursor.
SET ROLE regress_ds_stranger;
SELECT pg_temp.attempt($$SELECT * FROM delta_since('secure.notes')$$) AS stranger_full;
RESET ROLE;
SELECT d->>'serverVersion' AS v0 FROM delta_since('secure.notes') d \gset
SET ROLE regress_ds_stranger;
SELECT pg_temp.attempt(format('SELECT * FROM delta_since(%L, %L)', 'secure.notes', :'v0')) AS stranger_delta;
SELECT pg_temp.attempt(format('SELECT * FROM delta_since(%L, %L, max_changes => 1)', 'secure.notes', :'v0')) AS stranger_resync;
RESET ROLE;

-- Row-level security: Alice's initial sync has her rows only.
SET ROLE regress_ds_alice;
SELECT json_array_length(d->'created') AS alice_created,
       (SELECT array_agg((r->>'id')::int ORDER BY (r->>'id')::int) FROM json_array_elements(d->'created') r) AS ids
  FROM delta_since('secure.notes') d;
SELECT d->>'serverVersion' AS alice_v FROM delta_since('secure.notes') d \gset
RESET ROLE;

-- Changes to rows on both sides of the policy.
UPDATE secure.notes SET body = body || '!' WHERE id IN (1, 2);
DELETE FROM secure.notes WHERE id IN (3, 4);
INSERT INTO secure.notes VALUES (5, 'regress_ds_alice', 'new'), (6, 'regress_ds_bob', 'new secret');

-- Alice hears only of her rows, in every bucket: the id of Bob's deleted row never appears.
SET ROLE regress_ds_alice;
SELECT d->'created' IS NOT NULL AS ok,
       (SELECT array_agg(r->>'id') FROM json_array_elements(d->'created') r) AS created,
       (SELECT array_agg(r->>'id') FROM json_array_elements(d->'updated') r) AS updated,
       d->'deleted' AS deleted
  FROM delta_since('secure.notes', :'alice_v') d;
-- Her DELETE is a soft delete of her own row; a row hidden from her cannot be touched.
DELETE FROM secure.notes WHERE id IN (5, 6);
RESET ROLE;
SELECT id, owner, deleted_at IS NOT NULL AS soft_deleted FROM secure.notes ORDER BY id;

-- track, untrack and purge need the table's owner.
SET ROLE regress_ds_alice;
SELECT pg_temp.attempt($$SELECT delta_sync.track('secure.notes')$$) AS alice_track;
SELECT pg_temp.attempt($$SELECT delta_sync.untrack('secure.notes')$$) AS alice_untrack;
SELECT pg_temp.attempt($$SELECT delta_sync.purge('secure.notes')$$) AS alice_purge;
-- Nor can she change the registry behind the functions' back.
SELECT pg_temp.attempt($$UPDATE delta_sync.tracked SET max_changes = 1 WHERE relid = 'secure.notes'::regclass$$) AS alice_registry_update;
SELECT max_changes FROM delta_sync.tracked WHERE relid = 'secure.notes'::regclass;
SELECT pg_temp.attempt($$DELETE FROM delta_sync.tracked WHERE relid = 'secure.notes'::regclass$$) AS alice_registry_delete;
SELECT count(*) AS still_registered FROM delta_sync.tracked WHERE relid = 'secure.notes'::regclass;
RESET ROLE;

-- A hostile search_path: every function and operator the extension could resolve by name is
-- shadowed by one that raises. Triggers, delta_since, track, untrack and purge must not notice.
CREATE SCHEMA hostile;
GRANT USAGE ON SCHEMA hostile TO PUBLIC;
CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked now()'; END$$;
CREATE FUNCTION hostile.pg_current_xact_id() RETURNS xid8 LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked pg_current_xact_id()'; END$$;
CREATE FUNCTION hostile.to_json(anyelement) RETURNS json LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked to_json()'; END$$;
CREATE FUNCTION hostile.pg_visible_in_snapshot(xid8, pg_snapshot) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked pg_visible_in_snapshot()'; END$$;
CREATE FUNCTION hostile.xid8_ge(xid8, xid8) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked >='; END$$;
CREATE OPERATOR hostile.>= (LEFTARG = xid8, RIGHTARG = xid8, FUNCTION = hostile.xid8_ge);
CREATE FUNCTION hostile.xid8_ne(xid8, xid8) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked <>'; END$$;
CREATE OPERATOR hostile.<> (LEFTARG = xid8, RIGHTARG = xid8, FUNCTION = hostile.xid8_ne);
CREATE FUNCTION hostile.tid_eq(tid, tid) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked ='; END$$;
CREATE OPERATOR hostile.= (LEFTARG = tid, RIGHTARG = tid, FUNCTION = hostile.tid_eq);
CREATE FUNCTION hostile.regclass_eq(regclass, oid) RETURNS boolean LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked = on regclass'; END$$;
CREATE OPERATOR hostile.= (LEFTARG = regclass, RIGHTARG = oid, FUNCTION = hostile.regclass_eq);
CREATE FUNCTION hostile.count_state(bigint) RETURNS bigint LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked count()'; END$$;
CREATE AGGREGATE hostile.count(*) (SFUNC = hostile.count_state, STYPE = bigint);

CREATE TABLE secure.plain (id integer PRIMARY KEY, v text);
ALTER TABLE secure.plain OWNER TO regress_ds_owner;
SET ROLE regress_ds_owner;
SET search_path = hostile, pg_catalog, secure, public;
-- The hostile functions really are found first:
SELECT pg_temp.attempt($$SELECT now()$$) AS shadowed_now;
INSERT INTO plain VALUES (1, 'a'), (2, 'b'), (3, 'c');
SELECT pg_temp.attempt($$SELECT '1'::xid8 >= '1'::xid8$$) AS shadowed_operator;
SELECT pg_temp.attempt($$SELECT delta_sync.track('secure.plain')$$) AS track;
SELECT public.delta_since('secure.plain')->>'serverVersion' AS hv \gset
INSERT INTO plain VALUES (4, 'd');
UPDATE plain SET v = 'B' WHERE id = 2;
DELETE FROM plain WHERE id = 3;
UPDATE plain SET deleted_at = NULL WHERE id = 3;
DELETE FROM plain WHERE id = 1;
SELECT (SELECT array_agg(r->>'id') FROM json_array_elements(d->'created') r) AS created,
       (SELECT array_agg(r->>'id' ORDER BY r->>'id') FROM json_array_elements(d->'updated') r) AS updated,
       d->'deleted' AS deleted, d->'fullResyncRequired' AS resync
  FROM public.delta_since('secure.plain', :'hv') d;
SELECT pg_catalog.count(*) AS pages FROM public.delta_since('secure.plain', NULL, page_size => 1);
SELECT public.delta_since('secure.plain', :'hv', max_changes => 1)->'fullResyncRequired' AS small_threshold;
SELECT pg_temp.attempt($$TRUNCATE plain$$) AS truncate;
SELECT pg_temp.attempt($$SELECT delta_sync.purge('secure.plain', '0 seconds')$$) AS purge;
SELECT pg_temp.attempt($$SELECT delta_sync.untrack('secure.plain')$$) AS untrack;
RESET search_path;
RESET ROLE;

DROP SCHEMA hostile CASCADE;
DROP SCHEMA secure CASCADE;
DROP ROLE regress_ds_owner;
DROP ROLE regress_ds_alice;
DROP ROLE regress_ds_stranger;
