#!/usr/bin/env bash
# `make fuzz`: libFuzzer + AddressSanitizer + UBSan on the serverVersion parser, for a bounded time
# (FUZZ_SECONDS, default 120). The corpus is kept in build/fuzz-corpus between runs.
# Then the SQL level (tests/fuzz_sql.py) on a throwaway cluster for FUZZ_SQL_SECONDS (default 180):
# random DECLARE / FETCH / CLOSE / SAVEPOINT / ROLLBACK TO / WITH HOLD / LIMIT sequences around
# delta_since as a role with only SELECT; no crash, no XX error, no portal left behind.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-120}
mkdir -p build/fuzz-corpus
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -Isrc/extension tests/fuzz/cursor_fuzz.cpp src/extension/cursor.cpp src/extension/history.cpp -o build/cursor_fuzz
echo "fuzzing the cursor parser for ${seconds}s"
build/cursor_fuzz -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 build/fuzz-corpus 2>&1 |
  tee build/fuzz.log | grep -E '^(#[0-9]+ +(DONE|INITED)|Done|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY)' || true
grep -q '^Done [0-9]* runs' build/fuzz.log || { echo "fuzzing found a problem: see build/fuzz.log" >&2; exit 1; }
echo "corpus: $(ls build/fuzz-corpus | wc -l) inputs; no crash, leak or undefined behaviour found"

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
export PGBIN=${PGBIN:-$("$PG_CONFIG" --bindir)}
make -s -j2 >/dev/null && make -s install >/dev/null
work=$(mktemp -d /tmp/delta_sync_fuzz.XXXXXX)
trap 'tests/cluster.sh stop "$work/pg"; rm -rf "$work"' EXIT
tests/cluster.sh start "$work/pg" 5449
# shellcheck disable=SC1091
. "$work/pg/env"
echo "fuzzing delta_since at the SQL level for ${FUZZ_SQL_SECONDS:-180}s"
/usr/bin/python3 tests/fuzz_sql.py "${FUZZ_SQL_SECONDS:-180}"
started=$(psql -X -At -c "SELECT pg_postmaster_start_time()")
! grep -q 'terminated by signal' "$work/pg/server.log" || { echo "the server log shows a crash" >&2; exit 1; }
echo "server up since $started, no backend terminated by a signal"
