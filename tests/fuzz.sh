#!/usr/bin/env bash
# `make fuzz`: libFuzzer + AddressSanitizer + UBSan on the serverVersion parser, for a bounded time
# (FUZZ_SECONDS, default 120). The corpus is kept in build/fuzz-corpus between runs.
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
