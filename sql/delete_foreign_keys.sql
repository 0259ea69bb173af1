-- Deletes and foreign keys, every ON DELETE action, with the parent and the child each untracked,
-- tracked with soft deletes or tracked with hard deletes. For each case: what DELETE of parent 1
-- does, what is left of the parent row and the children (10 and 11 reference 1, 12 references
-- 2), whether a live child references a parent row that is gone or soft-deleted, and which
-- tombstones the child has (what its delta reports as deleted; see the end for a delta).
--
-- The rule: hard-delete mode behaves exactly as untracked. In soft-delete mode a DELETE of a
-- parent row is an UPDATE, so no ON DELETE action runs and no check is made (the parent row is
-- still there, so the database stays consistent; purge() deletes it for real later, and the
-- actions run then); a delete cascaded into a soft-delete child is real (and leaves a
-- tombstone), so no child is left referencing a parent that is gone.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE FUNCTION pg_temp.fk_case(parent_mode text, child_mode text, action text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    outcome text := 'ok';
    tombstones text := '-';
    parent_state text;
    children text;
    orphans bigint;
BEGIN
    DROP TABLE IF EXISTS fk_child, fk_parent;
    CREATE TABLE fk_parent (id integer PRIMARY KEY);
    EXECUTE format('CREATE TABLE fk_child (id integer PRIMARY KEY,
                        pid integer DEFAULT 0 REFERENCES fk_parent ON DELETE %s)', action);
    INSERT INTO fk_parent VALUES (0), (1), (2);
    INSERT INTO fk_child VALUES (10, 1), (11, 1), (12, 2);
    IF parent_mode <> 'untracked' THEN
        PERFORM delta_sync.track('fk_parent', deletes => parent_mode);
    END IF;
    IF child_mode <> 'untracked' THEN
        PERFORM delta_sync.track('fk_child', deletes => child_mode);
    END IF;
    BEGIN
        DELETE FROM fk_parent WHERE id = 1;
    EXCEPTION WHEN OTHERS THEN
        outcome := SQLSTATE;
    END;
    SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM fk_parent WHERE id = 1) THEN 'gone'
                WHEN parent_mode <> 'untracked' AND EXISTS (SELECT 1 FROM fk_parent p WHERE id = 1
                     AND (to_jsonb(p)->>'deleted_at') IS NOT NULL) THEN 'soft-deleted'
                ELSE 'live' END INTO parent_state;
    SELECT string_agg(c.id || CASE WHEN (to_jsonb(c)->>'deleted_at') IS NOT NULL THEN ':soft-deleted'
                                   ELSE '->' || coalesce(c.pid::text, 'null') END, ' ' ORDER BY c.id)
      INTO children FROM fk_child c;
    SELECT count(*) INTO orphans FROM fk_child c
     WHERE (to_jsonb(c)->>'deleted_at') IS NULL AND c.pid IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM fk_parent p WHERE p.id = c.pid
                          AND (to_jsonb(p)->>'deleted_at') IS NULL);
    IF child_mode <> 'untracked' THEN
        EXECUTE format('SELECT coalesce(string_agg(key::text, %L ORDER BY key), %L) FROM %s', ',', 'none',
                       (SELECT t.tombstones FROM delta_sync.tracked t WHERE t.relid = 'fk_child'::regclass))
           INTO tombstones;
    END IF;
    RETURN format('%s | parent 1 %s | children %s | live orphans %s | child tombstones %s',
                  outcome, parent_state, coalesce(children, 'none'), orphans, tombstones);
END
$$;

SET client_min_messages = warning;
SELECT p.mode AS parent, c.mode AS child, a.action, pg_temp.fk_case(p.mode, c.mode, a.action) AS result
  FROM (VALUES (1, 'untracked'), (2, 'soft'), (3, 'hard')) p(n, mode),
       (VALUES (1, 'untracked'), (2, 'soft'), (3, 'hard')) c(n, mode),
       (VALUES (1, 'CASCADE'), (2, 'SET NULL'), (3, 'SET DEFAULT'), (4, 'RESTRICT'), (5, 'NO ACTION')) a(n, action)
 ORDER BY p.n, c.n, a.n;
RESET client_min_messages;

-- A soft-deleted parent's purge runs the actions: the cascade reaches a soft-delete child for
-- real, and the child's delta reports the deletion from its tombstones.
DROP TABLE IF EXISTS fk_child, fk_parent;
CREATE TABLE fk_parent (id integer PRIMARY KEY);
CREATE TABLE fk_child (id integer PRIMARY KEY, pid integer REFERENCES fk_parent ON DELETE CASCADE);
INSERT INTO fk_parent VALUES (1), (2);
INSERT INTO fk_child VALUES (10, 1), (12, 2);
SELECT delta_sync.track('fk_parent'), delta_sync.track('fk_child');
SELECT d->>'serverVersion' AS c0 FROM delta_since('fk_child') d \gset
DELETE FROM fk_parent WHERE id = 1;
UPDATE fk_parent SET deleted_at = now() - interval '40 days' WHERE id = 1;
SELECT delta_sync.purge('fk_parent') AS purged;
SELECT id, pid FROM fk_child ORDER BY id;
SELECT pg_temp.summary(d) FROM delta_since('fk_child', :'c0') d;
DROP TABLE fk_child, fk_parent;
