#!/usr/bin/env bash
# delta-sync mcp, driven by the official MCP TypeScript SDK client (tests/mcp/*.test.mjs) over
# stdio and Streamable HTTP, against the running cluster of `make test` (libpq's PG* variables).
# The SDK is installed with npm from the committed package.json and package-lock.json.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bin=${DELTA_SYNC_BIN:-$root/build/delta-sync}
[ -x "$bin" ] || { echo "test_mcp: $bin not built" >&2; exit 1; }
command -v node >/dev/null && command -v npm >/dev/null || { echo "test_mcp: node and npm needed (tests/deps.sh)" >&2; exit 1; }

(cd tests/mcp && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
DELTA_SYNC_BIN=$bin node --test --test-concurrency=1 tests/mcp/
