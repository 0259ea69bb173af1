-- The soft delete's cached plan is never freed while it runs. A user trigger fired by the
-- soft-delete UPDATE deletes from tracked tables itself: after a schema change (every cached
-- plan goes stale) and through more tables than the cache has slots. Each row is soft-deleted
-- once, with nothing lost and the session alive.

CREATE TABLE reentry (id integer PRIMARY KEY, cascade_to integer, ddl boolean DEFAULT false);
SELECT delta_sync.track('reentry');
INSERT INTO reentry (id, cascade_to, ddl) VALUES (1, 2, true), (2, 3, true), (3, NULL, false);

-- Fires on the soft-delete UPDATE (deleted_at set): changes pg_namespace, then deletes the next
-- row of the chain from the same table, so the same plan is needed again while it runs.
CREATE FUNCTION reentry_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
        IF NEW.ddl THEN
            EXECUTE format('CREATE SCHEMA reentry_s%s', NEW.id);
            EXECUTE format('DROP SCHEMA reentry_s%s', NEW.id);
        END IF;
        IF NEW.cascade_to IS NOT NULL THEN
            DELETE FROM reentry WHERE id = NEW.cascade_to;
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER a_cascade BEFORE UPDATE ON reentry FOR EACH ROW EXECUTE FUNCTION reentry_cascade();

DELETE FROM reentry WHERE id = 1;
SELECT id, deleted_at IS NOT NULL AS deleted FROM reentry ORDER BY id;
-- The cache still works afterwards: more soft deletes through the same and fresh plans.
INSERT INTO reentry (id, cascade_to) VALUES (4, NULL), (5, 4);
DELETE FROM reentry WHERE id = 5;
SELECT id, deleted_at IS NOT NULL AS deleted FROM reentry ORDER BY id;

-- 40 tracked tables (more than the 32 cached plans), each soft delete deleting from the next
-- table while its own plan runs: every plan of the chain is in use when the next one is needed.
DO $$
BEGIN
    FOR i IN 1..40 LOOP
        EXECUTE format('CREATE TABLE chain%s (id integer PRIMARY KEY, v text)', i);
        PERFORM delta_sync.track(format('chain%s', i)::regclass);
        EXECUTE format('INSERT INTO chain%s VALUES (1, ''a''), (2, ''b'')', i);
    END LOOP;
END $$;
CREATE FUNCTION chain_next() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE n integer := substr(TG_TABLE_NAME, 6)::integer;
BEGIN
    IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL AND n < 40 THEN
        EXECUTE format('DELETE FROM chain%s WHERE id = $1', n + 1) USING NEW.id;
    END IF;
    RETURN NEW;
END $$;
DO $$
BEGIN
    FOR i IN 1..40 LOOP
        EXECUTE format('CREATE TRIGGER a_next BEFORE UPDATE ON chain%s FOR EACH ROW EXECUTE FUNCTION chain_next()', i);
    END LOOP;
END $$;
DELETE FROM chain1 WHERE id = 1;
DELETE FROM chain1 WHERE id = 2;
-- Twice more through the same chain with the cache full of the plans it left.
UPDATE chain1 SET deleted_at = NULL;
DELETE FROM chain1;
CREATE FUNCTION pg_temp.chain_state() RETURNS TABLE (tables bigint, deleted bigint, live bigint)
LANGUAGE plpgsql AS $$
DECLARE i integer; d bigint; l bigint;
BEGIN
    tables := 0; deleted := 0; live := 0;
    FOR i IN 1..40 LOOP
        EXECUTE format('SELECT count(*) FILTER (WHERE deleted_at IS NOT NULL), count(*) FILTER (WHERE deleted_at IS NULL) FROM chain%s', i) INTO d, l;
        tables := tables + 1; deleted := deleted + d; live := live + l;
    END LOOP;
    RETURN NEXT;
END $$;
SELECT * FROM pg_temp.chain_state();

DO $$
BEGIN
    FOR i IN 1..40 LOOP
        EXECUTE format('DROP TABLE chain%s', i);
    END LOOP;
END $$;
DROP TABLE reentry;
DROP FUNCTION reentry_cascade();
DROP FUNCTION chain_next();
