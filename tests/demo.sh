#!/usr/bin/env bash
# `make demo`: a throwaway cluster, a demo `products` table, changes, and the deltas they produce.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building and installing delta_sync, and building the delta-sync client"
make -s -j"$(nproc)" >/dev/null && make -s install >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target delta-sync >/dev/null

work=$(mktemp -d /tmp/delta_sync_demo.XXXXXX)
trap 'tests/cluster.sh stop "$work/pg"; rm -rf "$work"' EXIT
tests/cluster.sh start "$work/pg" 5441
# shellcheck disable=SC1091
. "$work/pg/env"

sql() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
show() {  # pretty-print the JSON documents on stdin, keeping numbers exactly as PostgreSQL wrote them
  /usr/bin/python3 -c '
import decimal, json, sys
def dump(v, ind=""):
    nxt = ind + "  "
    if isinstance(v, dict):
        if not v: return "{}"
        return "{\n" + ",\n".join(nxt + json.dumps(k) + ": " + dump(x, nxt) for k, x in v.items()) + "\n" + ind + "}"
    if isinstance(v, list):
        if not v: return "[]"
        return "[\n" + ",\n".join(nxt + dump(x, nxt) for x in v) + "\n" + ind + "]"
    if isinstance(v, decimal.Decimal): return str(v)
    return json.dumps(v, ensure_ascii=False)
for line in sys.stdin:
    if line.strip():
        print(dump(json.loads(line, parse_float=decimal.Decimal)))'
}
step() { printf '\n== %s\n' "$*"; }

step "a products table, tracked"
sql <<'SQL'
CREATE EXTENSION delta_sync;
CREATE TABLE products (id bigint PRIMARY KEY, name text NOT NULL, price numeric(10,2), stock int);
INSERT INTO products VALUES (1, 'Espresso cup', 6.50, 120), (2, 'Milk jug', 14.00, 35),
                            (3, 'Tamper', 29.90, 12);
SELECT delta_sync.track('products');
SQL
echo "SELECT delta_sync.track('products');  -- adds created_at, updated_at, deleted_at, versions, triggers"

step "initial sync: SELECT * FROM delta_since('products', NULL)"
sql -c "SELECT * FROM delta_since('products', NULL)" | tee "$work/doc1" | show
v1=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"])' <"$work/doc1")

step "changes: one insert, one update, one DELETE (becomes a soft delete)"
sql <<'SQL'
INSERT INTO products VALUES (4, 'Knock box', 19.00, 8);
UPDATE products SET price = 12.50 WHERE id = 2;
DELETE FROM products WHERE id = 3;
SQL
echo "INSERT id 4; UPDATE id 2 price 12.50; DELETE id 3"

step "the delta since the first serverVersion"
sql -c "SELECT * FROM delta_since('products', '$v1')" | tee "$work/doc2" | show
v2=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"])' <"$work/doc2")

step "a late commit: a transaction that started before the pull commits after it"
psql -X -q -At >/dev/null <<SQL &
BEGIN;
UPDATE products SET stock = stock - 1 WHERE id = 1;
SELECT pg_sleep(2);
COMMIT;
SQL
late=$!
sleep 0.5
echo "pull while it is open (it is not visible yet, so it is not in this delta):"
sql -c "SELECT * FROM delta_since('products', '$v2')" | tee "$work/doc3" | show
v3=$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"])' <"$work/doc3")
wait "$late"
echo "after it commits, the next pull delivers it (an updated_at > since design would lose it):"
sql -c "SELECT * FROM delta_since('products', '$v3')" | show

step "threshold: more changes than max_changes asks for a full resync"
sql -c "UPDATE products SET stock = stock + 1"
sql -c "SELECT * FROM delta_since('products', '$v3', max_changes => 2)" | show

if [ -x build/delta-sync ]; then
  step "the delta-sync client keeps a SQLite replica in sync (build/delta-sync)"
  build/delta-sync pull products --replica "$work/replica.db"
  sql -c "INSERT INTO products VALUES (5, 'Dosing funnel', 9.90, 40); UPDATE products SET stock = 0 WHERE id = 4"
  build/delta-sync pull products --replica "$work/replica.db"
  sqlite3 -header -column "$work/replica.db" "SELECT id, name, price, stock FROM products ORDER BY id"
  build/delta-sync diff products --replica "$work/replica.db" && echo "replica equals the table"
fi
echo
echo "demo done"
