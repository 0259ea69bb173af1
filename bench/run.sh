#!/usr/bin/env bash
# `make bench`: builds and installs the extension (and the client, when its sources are there),
# starts a throwaway cluster, loads the data and the baselines (schema.sql), runs every measurement
# (bench.py), prints the table and writes bench/results.md and bench/scaling.png (report.py).
#
# Knobs (environment): BENCH_PORT (5463), BENCH_RUNS (5), BENCH_SIZES (10000,100000,1000000),
# BENCH_WRITE_ROWS (1000000), BENCH_PARTED_ROWS (1000000), BENCH_PGBENCH_SECONDS (10), BENCH_STEPS,
# BENCH_OUT (bench/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)
export BENCH_STARTED=$started
jobs=$(nproc)
py=/usr/bin/python3  # Debian's, which has psycopg2

echo "== build and install the extension"
if ! { make -s -j"$jobs" && make -s install; } >/tmp/delta_sync_bench_build.log 2>&1; then
  cat /tmp/delta_sync_bench_build.log >&2
  exit 1
fi

echo "== build the client (cmake), if its sources are there"
if [ -f CMakeLists.txt ] && grep -q 'delta-sync' CMakeLists.txt && [ -d src/client ]; then
  if { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
       cmake --build build -j"$jobs" --target delta-sync; } >/tmp/delta_sync_bench_cmake.log 2>&1; then
    echo "client: build/delta-sync"
  else
    echo "client: build failed (see /tmp/delta_sync_bench_cmake.log); its rows are not measured"
  fi
else
  echo "client: no sources yet; its rows are not measured"
fi

work=$(mktemp -d /tmp/delta_sync_bench.XXXXXX)
chmod 755 "$work"
cleanup() {
  tests/cluster.sh stop "$work/cluster" || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== cluster"
# No autovacuum (the benchmark vacuums where it needs to, so runs see the same tables), no JIT
# (its compile time is noise at these sizes), and checkpoints only where the benchmark asks.
tests/cluster.sh start "$work/cluster" "${BENCH_PORT:-5463}" \
  "shared_buffers = 1GB" "autovacuum = off" "jit = off" \
  "max_wal_size = 16GB" "checkpoint_timeout = 1h"
# shellcheck disable=SC1091
. "$work/cluster/env"
createdb bench
export PGDATABASE=bench

echo "== measure (a few minutes; progress below)"
$py bench/bench.py "$work/results.json"

echo "== report"
mkdir -p "${BENCH_OUT:-$root/bench}"
$py bench/report.py "$work/results.json" "${BENCH_OUT:-$root/bench}"
