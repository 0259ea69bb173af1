#!/usr/bin/env bash
# `make test`: builds and installs the extension, starts a throwaway cluster, and runs every suite:
#   pg_regress (sql/ + expected/), ctest (Boost.Test units and client tests), and each
#   tests/test_*.sh / tests/test_*.py script (concurrency, faults, standby, ...).
# Ends with one line: "N passed, N failed". Exit status is non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)
logs=$(mktemp -d /tmp/delta_sync_logs.XXXXXX)
# PG_CONFIG picks the PostgreSQL installation to build against, install into and run. Default: a
# private copy of Debian's 15 server tree (tests/private_pg.sh) made for this run and removed after
# it, so that several checkouts can run their suites at once, and the system tree is left to the
# Debian packages (tests/test_deb.sh installs them there: an unpackaged `make install` in the
# system tree would be overwritten and then removed by them).
private_pg=
if [ -z "${PG_CONFIG:-}" ]; then
  private_pg=$(mktemp -d /tmp/delta_sync_pg.XXXXXX)
  eval "$(tests/private_pg.sh "$private_pg")"
fi
trap 'rm -rf "$logs" ${private_pg:+"$private_pg"}' EXIT
export PG_CONFIG
export PGBIN=${PGBIN:-$("$PG_CONFIG" --bindir)}

passed=0
failed=0
failures=()
record() {  # name status
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); failures+=("$1"); fi
}

say() { printf '\n== %s\n' "$*"; }

say "build and install the extension"
if ! { make -s -j"$jobs" && make -s install; } >$logs/build.log 2>&1; then
  cat $logs/build.log
  echo "0 passed, 1 failed"
  exit 1
fi

say "build the C++ library, tools and unit tests (cmake)"
if ! { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
       cmake --build build -j"$jobs" >$logs/cmake.log 2>&1; }; then
  cat $logs/cmake.log
  echo "0 passed, 1 failed"
  exit 1
fi

work=$(mktemp -d /tmp/delta_sync_test.XXXXXX)
export DELTA_SYNC_TEST_DIR=$work
cleanup() {
  for d in "$work"/*/; do [ -f "$d/data/postmaster.pid" ] && tests/cluster.sh stop "$d"; done
  tests/cluster.sh stop "$work/main" 2>/dev/null
  rm -rf "$work" "$logs" ${private_pg:+"$private_pg"}
}
trap cleanup EXIT
tests/cluster.sh start "$work/main" 5440
# shellcheck disable=SC1091
. "$work/main/env"

say "ctest"
ctest_out=$(cd build && ctest --output-on-failure -j"$jobs" 2>&1)
echo "$ctest_out" | tail -n 40
summary=$(echo "$ctest_out" | grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' | tail -1)
if [ -n "$summary" ]; then
  total=$(echo "$summary" | sed -E 's/.*out of ([0-9]+).*/\1/')
  bad=$(echo "$summary" | sed -E 's/.* ([0-9]+) tests failed.*/\1/')
  passed=$((passed + total - bad)); failed=$((failed + bad))
  [ "$bad" -gt 0 ] && failures+=("ctest: $bad")
else
  record "ctest (no summary)" 1
fi

say "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
if cmake -S . -B build-asan -DDELTA_SYNC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
   cmake --build build-asan -j"$jobs" --target unit_tests >$logs/asan.log 2>&1; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    build-asan/unit_tests --report_level=short
  record "unit tests (ASan+UBSan)" $?
else
  cat $logs/asan.log
  record "unit tests (ASan+UBSan) build" 1
fi
# The MCP server's protocol layer parses what any client sends: its units run sanitized too.
if cmake --build build-asan -j"$jobs" --target mcp_unit_tests >>$logs/asan.log 2>&1; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    build-asan/tests/mcp/unit/mcp_unit_tests --report_level=short
  record "MCP unit tests (ASan+UBSan)" $?
else
  tail -n 40 $logs/asan.log
  record "MCP unit tests (ASan+UBSan) build" 1
fi

say "pg_regress"
rm -rf results regression.diffs regression.out
make -s installcheck >$logs/regress.log 2>&1
rc=$?
cat $logs/regress.log
total=$(ls sql/*.sql | wc -l)
bad=$(grep -cE '\.\.\. FAILED' $logs/regress.log || true)
[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=$total
passed=$((passed + total - bad)); failed=$((failed + bad))
if [ "$bad" -gt 0 ]; then
  failures+=("pg_regress: $bad")
  [ -f regression.diffs ] && head -n 200 regression.diffs
fi

say "error messages in PostgreSQL's style (tests/check_messages.py)"
/usr/bin/python3 tests/check_messages.py
record "tests/check_messages.py" $?

for t in tests/test_*.sh tests/test_*.py; do
  [ -e "$t" ] || continue
  say "$t"
  start=$(date +%s)
  case "$t" in
    *.py) /usr/bin/python3 "$t" ;;
    *) bash "$t" ;;
  esac
  rc=$?
  echo "-- $t: $([ $rc -eq 0 ] && echo ok || echo FAILED) in $(( $(date +%s) - start ))s"
  record "$t" "$rc"
done

say "summary"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
