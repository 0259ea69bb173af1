-- One single-row update of a random product of the table with the tracked table's columns and
-- index but no trigger: the statement writes the version and updated_at itself (pgbench -f).
\set id random(1, 100000)
UPDATE pg_samecols SET stock = stock + 1, updated_at = now(), delta_sync_changed_xid = pg_current_xact_id()
 WHERE id = :id;
