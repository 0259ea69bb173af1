-- One single-row update of a random product of the tracked table (pgbench -f).
\set id random(1, 100000)
UPDATE pg_tracked SET stock = stock + 1 WHERE id = :id;
