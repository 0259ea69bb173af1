-- The stamp trigger reads the old row only when the new one may differ from it in the key or the
-- creation columns. Every way they can change is still caught: assigned by the statement, or set
-- by another BEFORE UPDATE row trigger although the statement does not name them.

CREATE TABLE stamped (id integer PRIMARY KEY, v text);
SELECT delta_sync.track('stamped');
INSERT INTO stamped VALUES (1, 'a'), (2, 'b');
SELECT delta_sync_created_xid AS created1, created_at AS created_at1 FROM stamped WHERE id = 1 \gset

-- The statement assigns them: the key change is refused, the creation columns are kept.
UPDATE stamped SET id = 10 WHERE id = 1;
UPDATE stamped SET created_at = '2000-01-01', delta_sync_created_xid = '1', v = 'x' WHERE id = 1;
SELECT v, created_at = :'created_at1' AS created_at_kept,
       delta_sync_created_xid = :'created1' AS creation_kept FROM stamped WHERE id = 1;

-- Not named by the statement, changed by a user trigger (fires first: "a" < "delta_sync").
CREATE FUNCTION stamped_meddle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.v = 'rekey' THEN NEW.id := NEW.id + 100; END IF;
    IF NEW.v = 'backdate' THEN
        NEW.created_at := '2000-01-01';
        NEW.delta_sync_created_xid := '1';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER a_meddle BEFORE UPDATE ON stamped FOR EACH ROW EXECUTE FUNCTION stamped_meddle();
UPDATE stamped SET v = 'rekey' WHERE id = 1;
UPDATE stamped SET v = 'backdate' WHERE id = 1;
SELECT id, v, created_at = :'created_at1' AS created_at_kept,
       delta_sync_created_xid = :'created1' AS creation_kept FROM stamped ORDER BY id;

-- Without the user trigger, an UPDATE of other columns keeps them as they were.
DROP TRIGGER a_meddle ON stamped;
UPDATE stamped SET v = 'plain' WHERE id = 1;
SELECT id, v, created_at = :'created_at1' AS created_at_kept,
       delta_sync_created_xid = :'created1' AS creation_kept,
       delta_sync_changed_xid > delta_sync_created_xid AS versioned FROM stamped ORDER BY id;
DROP TABLE stamped;
DROP FUNCTION stamped_meddle();
