#!/usr/bin/env bash
# Build check of the plain-C++ marker (src/extension/plain_cpp.hpp) on one file of the extension:
#   plain_cpp_check.sh CXX PG_CONFIG FILE.cpp
# Passes only when all of these hold:
#   1. postgres.h compiles with these flags on its own (so a failure below is the marker's, never
#      a missing header or include path);
#   2. FILE compiles as it is;
#   3. FILE fails to compile with postgres.h included before it, with the marker's #error;
#   4. FILE fails to compile with postgres.h included after it, on the poisoned include guard.
set -uo pipefail
cxx=${1:?usage: plain_cpp_check.sh CXX PG_CONFIG FILE.cpp}
pg_config=${2:?usage: plain_cpp_check.sh CXX PG_CONFIG FILE.cpp}
file=${3:?usage: plain_cpp_check.sh CXX PG_CONFIG FILE.cpp}
file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")

server_inc=$("$pg_config" --includedir-server 2>/dev/null)
if [ -z "$server_inc" ] || [ ! -f "$server_inc/postgres.h" ]; then
  echo "FAIL: no PostgreSQL server headers (pg_config: $pg_config)"
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
compile() {  # source -> compiler output in $work/out, status returned
  "$cxx" -std=c++17 -fsyntax-only -w -I"$(dirname "$file")" -I"$server_inc" "$1" >"$work/out" 2>&1
}
pg='extern "C" {
#include "postgres.h"
}'
failed=0
expect() {  # name, want (ok|error), pattern, source text
  printf '%s\n' "$4" >"$work/t.cpp"
  compile "$work/t.cpp"
  local rc=$?
  if [ "$2" = ok ]; then
    if [ $rc -eq 0 ]; then echo "ok: $1"; return; fi
    echo "FAIL: $1 does not compile:"; head -n 20 "$work/out"; failed=1; return
  fi
  if [ $rc -ne 0 ] && grep -q -E "$3" "$work/out"; then echo "ok: $1 fails: $(grep -m1 -E "$3" "$work/out")"; return; fi
  echo "FAIL: $1 should fail with /$3/, compiler status $rc:"; head -n 20 "$work/out"; failed=1
}

expect "postgres.h alone" ok '' "$pg"
expect "$(basename "$file") as it is" ok '' "#include \"$file\""
expect "postgres.h before $(basename "$file")" error 'plain C\+\+ file: it must not include PostgreSQL headers' \
  "$pg
#include \"$file\""
expect "postgres.h after $(basename "$file")" error 'poisoned' \
  "#include \"$file\"
$pg"
exit $failed
