#!/usr/bin/env bash
# Upgrade and trusted install:
#  - a 1.0 install with tracked tables and a client cursor, upgraded in place to 1.1: tracking,
#    the cursor and the new purge() all work; then to the current version, after which the
#    upgraded extension has exactly the objects of a fresh install;
#  - the extension is trusted: a database owner without superuser installs and uses it.
# Needs the PG* variables of a running cluster (make test exports them).
set -euo pipefail

export PGOPTIONS="-c client_min_messages=warning"
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

for db in ds_upgrade ds_fresh ds_trusted; do q -d postgres -c "DROP DATABASE IF EXISTS $db"; done
q -d postgres -c "DROP ROLE IF EXISTS ds_dbowner"

# -- 1.0 with tracked tables, then UPDATE TO 1.1 -------------------------------------------------
q -d postgres -c "CREATE DATABASE ds_upgrade"
q -d ds_upgrade <<'SQL'
CREATE EXTENSION delta_sync VERSION '1.0';
CREATE TABLE a (id int PRIMARY KEY, v text);
CREATE TABLE b (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), n int);
INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 100) g;
INSERT INTO b (n) SELECT g FROM generate_series(1, 50) g;
SELECT delta_sync.track('a');
SELECT delta_sync.track('b', max_changes => 20);
DELETE FROM a WHERE id <= 10;
SQL
[ "$(q -d ds_upgrade -c "SELECT extversion FROM pg_extension WHERE extname = 'delta_sync'")" = 1.0 ] ||
  fail "could not install version 1.0"
q -d ds_upgrade -c "SELECT 1 FROM pg_proc WHERE proname = 'purge'" | grep -q 1 && fail "1.0 already has purge()"
cursor=$(q -d ds_upgrade -c "SELECT d->>'serverVersion' FROM delta_since('a') d")

q -d ds_upgrade -c "ALTER EXTENSION delta_sync UPDATE TO '1.1'"
[ "$(q -d ds_upgrade -c "SELECT extversion FROM pg_extension WHERE extname = 'delta_sync'")" = 1.1 ] ||
  fail "the update did not reach 1.1"

q -d ds_upgrade -c "INSERT INTO a VALUES (1000, 'new'); UPDATE a SET v = 'changed' WHERE id = 50; DELETE FROM a WHERE id = 60"
got=$(q -d ds_upgrade -c "SELECT json_array_length(d->'created') || ' ' || json_array_length(d->'updated') || ' ' || (d->'deleted')::text || ' ' || (d->'fullResyncRequired')::text FROM delta_since('a', '$cursor') d")
[ "$got" = '1 1 ["60"] false' ] || fail "a 1.0 cursor after the upgrade gave: $got"
q -d ds_upgrade -c "UPDATE a SET deleted_at = now() - interval '60 days' WHERE id <= 10"
[ "$(q -d ds_upgrade -c "SELECT delta_sync.purge('a')")" = 10 ] || fail "purge after the upgrade"
[ "$(q -d ds_upgrade -c "SELECT max_changes FROM delta_sync.tracked WHERE relid = 'b'::regclass")" = 20 ] ||
  fail "the upgrade lost a table's settings"
q -d ds_upgrade -c "UPDATE b SET n = n + 1 WHERE n <= 30"
[ "$(q -d ds_upgrade -c "SELECT (d->'fullResyncRequired')::text FROM delta_since('b', '$cursor') d")" = true ] ||
  fail "threshold of b after the upgrade"

# The upgraded extension and a fresh 1.1 install have the same objects, with the same definitions.
objects() {
  q -d "$1" <<'SQL'
SELECT pg_describe_object(classid, objid, objsubid) || coalesce(' = ' || md5(pg_get_functiondef(objid)), '')
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'delta_sync')
   AND (classid <> 'pg_proc'::regclass OR (SELECT prokind FROM pg_proc WHERE oid = objid) <> 'a')
 ORDER BY 1;
SQL
}
q -d postgres -c "CREATE DATABASE ds_fresh"
q -d ds_fresh -c "CREATE EXTENSION delta_sync"
# Then on to the current version: the cursor and settings still hold.
q -d ds_upgrade -c "ALTER EXTENSION delta_sync UPDATE"
current=$(q -d ds_fresh -c "SELECT extversion FROM pg_extension WHERE extname = 'delta_sync'")
[ "$(q -d ds_upgrade -c "SELECT extversion FROM pg_extension WHERE extname = 'delta_sync'")" = "$current" ] ||
  fail "the update did not reach $current"
[ "$(q -d ds_upgrade -c "SELECT max_changes FROM delta_sync.tracked WHERE relid = 'b'::regclass")" = 20 ] ||
  fail "the update to $current lost a table's settings"
# Tables tracked before 1.2 keep notifying (their clients may LISTEN); tables tracked after do not.
[ "$(q -d ds_upgrade -c "SELECT string_agg(notify::text, ',' ORDER BY relid::text) FROM delta_sync.tracked")" = true,true ] ||
  fail "the update to $current changed the notify setting of tables tracked before it"
q -d ds_upgrade -c "CREATE TABLE c (id int PRIMARY KEY); SELECT delta_sync.track('c')" >/dev/null
[ "$(q -d ds_upgrade -c "SELECT notify FROM delta_sync.tracked WHERE relid = 'c'::regclass")" = f ] ||
  fail "a table tracked after the update to $current notifies by default"
q -d ds_upgrade -c "SELECT delta_sync.untrack('c'); DROP TABLE c" >/dev/null
# A table with a composite primary key, which 1.1 refused, is tracked after the update.
q -d ds_upgrade -c "CREATE TABLE lines (order_id int, line text, PRIMARY KEY (order_id, line));
                    INSERT INTO lines VALUES (17, 'a,b'), (18, 'c'); SELECT delta_sync.track('lines')" >/dev/null
lines_cursor=$(q -d ds_upgrade -c "SELECT d->>'serverVersion' FROM delta_since('lines') d")
q -d ds_upgrade -c "DELETE FROM lines WHERE order_id = 17"
got=$(q -d ds_upgrade -c "SELECT (d->'deleted')::text FROM delta_since('lines', '$lines_cursor') d")
[ "$got" = '["[17,\"a,b\"]"]' ] || fail "a composite key after the update to $current gave: $got"
q -d ds_upgrade -c "SELECT delta_sync.untrack('lines'); DROP TABLE lines" >/dev/null
diff <(objects ds_upgrade) <(objects ds_fresh) || fail "an upgraded $current differs from a fresh $current"
echo "upgrade 1.0 -> 1.1 -> $current: tracked tables, cursors and settings kept; objects identical to a fresh $current ($(objects ds_fresh | wc -l) objects)"
# delta_since has one signature after the update (the shape parameters were added by dropping
# the old one, so no call is ambiguous), and a call without the new parameters keeps working.
[ "$(q -d ds_upgrade -c "SELECT string_agg(oid::regprocedure::text, ';') FROM pg_proc WHERE proname = 'delta_since'")" = \
  "delta_since(regclass,text,integer,integer,text[],text)" ] || fail "delta_since has other signatures after the update"
got=$(q -d ds_upgrade -c "SELECT json_array_length(d->'created') FROM delta_since('a', NULL, 1000, 10) d LIMIT 1")
[ "$got" = 10 ] || fail "a call of delta_since without shape parameters after the update gave: $got"
got=$(q -d ds_upgrade -c "SELECT (d->'created')::text FROM delta_since('a', NULL, columns => '{}', filter => 'id BETWEEN 11 AND 12') d")
[ "$got" = '[{"id":11},{"id":12}]' ] || fail "a shaped delta after the update gave: $got"

# A cursor issued by version 1.1 (format 1: a snapshot without a point of WAL history, byte for byte
# as 1.1 wrote it, see tests/unit/cursor_test.cpp) cannot show that it belongs to this server's
# history: it resyncs once, and the cursor of the full sync that follows gets deltas.
sid=$(q -d ds_upgrade -c "SELECT system_identifier FROM pg_control_system()")
snap=$(q -d ds_upgrade -c "SELECT pg_current_snapshot()")
cursor_1_1=$(cd "$(dirname "$0")" && /usr/bin/python3 -B -c "
import sys, pgcluster
xmin, xmax, xip = sys.argv[2].split(':')
print(pgcluster.encode_cursor(int(sys.argv[1]), int(xmin), int(xmax),
                              [int(x) for x in xip.split(',') if x], timeline=None))" "$sid" "$snap")
got=$(q -d ds_upgrade -c "SELECT (d->'fullResyncRequired')::text || ' ' || json_array_length(d->'created') FROM delta_since('a', '$cursor_1_1') d")
[ "$got" = "true 0" ] || fail "a cursor of version 1.1 after the upgrade gave: $got"
next=$(q -d ds_upgrade -c "SELECT d->>'serverVersion' FROM delta_since('a') d")
q -d ds_upgrade -c "UPDATE a SET v = 'after' WHERE id = 70"
got=$(q -d ds_upgrade -c "SELECT (d->'fullResyncRequired')::text || ' ' || json_array_length(d->'updated') FROM delta_since('a', '$next') d")
[ "$got" = "false 1" ] || fail "the cursor after the resync of a 1.1 cursor gave: $got"
echo "cursors issued by 1.1 (no point of WAL history) get fullResyncRequired once; the new cursor gets deltas"

# -- trusted: a database owner without superuser ------------------------------------------------------
q -d postgres -c "CREATE ROLE ds_dbowner LOGIN"
q -d postgres -c "CREATE DATABASE ds_trusted OWNER ds_dbowner"
psql -X -q -v ON_ERROR_STOP=1 -At -U ds_dbowner -d ds_trusted <<'SQL' >/dev/null || fail "a database owner could not install and use delta_sync"
CREATE EXTENSION delta_sync;
CREATE TABLE t (id int PRIMARY KEY, v text);
INSERT INTO t VALUES (1, 'x'), (2, 'y');
SELECT delta_sync.track('t');
SELECT d->>'serverVersion' AS v FROM delta_since('t') d \gset
DELETE FROM t WHERE id = 1;
TRUNCATE t;  -- raises the horizon in a registry the owner cannot write directly
SQL
q -d ds_trusted -c "SELECT (SELECT rolsuper FROM pg_roles WHERE oid = extowner) FROM pg_extension WHERE extname = 'delta_sync'" |
  grep -qx f || fail "the extension should be owned by the non-superuser who installed it"
echo "trusted: installed, tracked, truncated by a database owner without superuser"

for db in ds_upgrade ds_fresh ds_trusted; do q -d postgres -c "DROP DATABASE $db"; done
q -d postgres -c "DROP ROLE ds_dbowner"
