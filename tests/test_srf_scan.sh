#!/usr/bin/env bash
# The scan of delta_since cannot be reached from SQL, as a role with nothing but SELECT:
#  - the attack on the old named SPI cursor: after the first page of a cursor over a paged call,
#    close every other portal of the session and declare one of the same name over rows of the
#    wrong types (they were decoded as the table's: a crash of every backend); the next FETCH
#    must give the next page, and the server must not have restarted;
#  - then the SQL-level fuzzer (tests/fuzz_sql.py) for FUZZ_SQL_SECONDS (default 25): random
#    DECLARE / FETCH / CLOSE / SAVEPOINT / ROLLBACK TO / WITH HOLD / LIMIT sequences, no crash, no
#    XX error, no portal left behind. `make fuzz` runs it longer.
# Needs the PG* variables of a running cluster (make test exports them).
set -euo pipefail
cd "$(dirname "$0")/.."

export PGOPTIONS="-c client_min_messages=warning"
fail() { echo "FAILED: $*" >&2; exit 1; }
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

log="$(dirname "${PGHOST:-/nonexistent}")/server.log"
crashes() { [ -f "$log" ] && grep -c 'terminated by signal' "$log" || echo 0; }
crashes_before=$(crashes)
started=$(q -d postgres -c "SELECT pg_postmaster_start_time()")

q -d postgres -c "DROP DATABASE IF EXISTS ds_srf_scan"
q -d postgres -c "DROP ROLE IF EXISTS ds_srf_reader"
q -d postgres -c "CREATE ROLE ds_srf_reader LOGIN"
q -d postgres -c "CREATE DATABASE ds_srf_scan"
q -d ds_srf_scan >/dev/null <<'SQL'
CREATE EXTENSION delta_sync;
CREATE TABLE t (id int PRIMARY KEY, v text);
SELECT delta_sync.track('t');
INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 10) g;
GRANT SELECT ON t TO ds_srf_reader;
SQL

# Every portal but the caller's is closed and replaced by one with the same name whose rows would
# be read as the table's: an int8 where the text is (0x41414141 as a pointer), then mismatched types.
for replacement in \
  "SELECT 1, 1094795585::int8, now(), now(), NULL::timestamptz, '0'::xid8" \
  "SELECT 'text'::text, 1, 'x'::text, 'y'::text, now(), 42::int8"; do
  out=$(psql -X -q -At -d ds_srf_scan -U ds_srf_reader -v ON_ERROR_STOP=1 -v repl="$replacement" 2>&1 <<'SQL'
BEGIN;
DECLARE c CURSOR FOR SELECT delta_since('t', NULL, page_size => 2);
FETCH 1 FROM c \gset
SELECT format('CLOSE %I', name), format('DECLARE %I CURSOR FOR %s', name, :'repl')
  FROM pg_cursors WHERE name <> 'c' \gexec
FETCH 1 FROM c \gset second_
SELECT (SELECT string_agg(e->>'id', ',') FROM json_array_elements(:'second_delta_since'::json->'created') e);
COMMIT;
SQL
  ) || fail "the session broke after its scan's portal was replaced: $out"
  [ "$out" = "3,4" ] || fail "after replacing the other portals, the second page was: $out"
done
[ "$(q -d postgres -c "SELECT pg_postmaster_start_time()")" = "$started" ] ||
  fail "the server restarted during the portal replacement"

FUZZ_SQL_SECONDS=${FUZZ_SQL_SECONDS:-25}
/usr/bin/python3 tests/fuzz_sql.py "$FUZZ_SQL_SECONDS" || fail "the SQL fuzzer found a problem"

[ "$(q -d postgres -c "SELECT pg_postmaster_start_time()")" = "$started" ] || fail "the server restarted"
[ "$(crashes)" = "$crashes_before" ] || fail "the server log shows a backend terminated by a signal"
q -d postgres -c "DROP DATABASE ds_srf_scan"
q -d postgres -c "DROP ROLE ds_srf_reader"
echo "ok: the scan cannot be replaced or left behind; the server did not restart"
