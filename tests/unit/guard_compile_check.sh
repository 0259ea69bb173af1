#!/usr/bin/env bash
# Build check of the compile-time half of pg_guard()'s rules (src/extension/boundary.hpp):
#   guard_compile_check.sh CXX PG_CONFIG
# A lambda that captures by reference compiles; one that captures an object with a destructor
# (a PostgreSQL error would skip it) and one that returns one (built across the sigsetjmp) fail
# with the guard's own static_assert messages.
set -uo pipefail
cxx=${1:?usage: guard_compile_check.sh CXX PG_CONFIG}
pg_config=${2:?usage: guard_compile_check.sh CXX PG_CONFIG}
ext=$(cd "$(dirname "$0")/../../src/extension" && pwd)
server_inc=$("$pg_config" --includedir-server 2>/dev/null)
if [ -z "$server_inc" ] || [ ! -f "$server_inc/postgres.h" ]; then
  echo "FAIL: no PostgreSQL server headers (pg_config: $pg_config)"
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
expect() {  # name, pattern ('' = must compile), body of f()
  printf '#include "boundary.hpp"\n#include <string>\nint f(int n) {\n%s\n}\n' "$3" >"$work/t.cpp"
  "$cxx" -std=c++17 -fsyntax-only -w -I"$ext" -I"$server_inc" "$work/t.cpp" >"$work/out" 2>&1
  local rc=$?
  if [ -z "$2" ]; then
    if [ $rc -eq 0 ]; then echo "ok: $1 compiles"; return; fi
    echo "FAIL: $1 does not compile:"; head -n 20 "$work/out"; failed=1; return
  fi
  if [ $rc -ne 0 ] && grep -q -E "$2" "$work/out"; then echo "ok: $1 fails: $(grep -m1 -E "$2" "$work/out")"; return; fi
  echo "FAIL: $1 should fail with /$2/, compiler status $rc:"; head -n 20 "$work/out"; failed=1
}

expect "capture by reference" '' 'return delta_sync::pg_guard([&] { return n + 1; });'
expect "void lambda" '' 'delta_sync::pg_guard([&] { n += 1; }); return n;'
expect "capture of a std::string" 'must capture nothing with a destructor' \
  'std::string s = "x"; return delta_sync::pg_guard([s] { return static_cast<int>(s.size()); });'
expect "std::string result" 'returns plain data only' \
  'return static_cast<int>(delta_sync::pg_guard([&] { return std::string("x"); }).size());'
exit $failed
