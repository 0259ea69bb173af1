-- Inheritance that is not partitioning. SELECT * FROM parent shows the children's rows, which
-- delta_sync does not report as the parent's: a table with inheritance children is refused, and
-- so is a new child of a tracked table (CREATE TABLE ... INHERITS, ALTER TABLE ... INHERIT), each
-- with 0A000 and nothing changed. A child of an untracked parent may be tracked in soft-delete
-- mode (its own rows are its own, and a DELETE through the parent is a soft delete of the child's
-- row), but not in hard-delete mode: a DELETE through the parent fires no statement trigger of
-- the child, so it would leave no tombstone.

\set ECHO none
\getenv abs_srcdir PG_ABS_SRCDIR
\i :abs_srcdir/sql/include/helpers.sql
\set ECHO all

CREATE TABLE animals (id integer PRIMARY KEY, name text);
CREATE TABLE dogs (id integer PRIMARY KEY, name text, breed text) INHERITS (animals);
INSERT INTO animals VALUES (1, 'generic');
INSERT INTO dogs VALUES (2, 'rex', 'collie');

-- A parent with children: refused, the parent and its child left as they were.
SELECT * FROM pg_temp.attempt_details('SELECT delta_sync.track(''animals'')');
SELECT count(*) AS columns_added FROM pg_attribute
 WHERE attrelid IN ('animals'::regclass, 'dogs'::regclass) AND attname LIKE 'delta\_sync\_%';
SELECT count(*) AS registry_rows FROM delta_sync.tracked;

-- The child, in hard-delete mode: refused; in soft-delete mode: tracked, and a DELETE through
-- the parent soft-deletes its row.
SELECT * FROM pg_temp.attempt_details('SELECT delta_sync.track(''dogs'', deletes => ''hard'')');
SELECT delta_sync.track('dogs');
SELECT d->>'serverVersion' AS v0 FROM delta_since('dogs') d \gset
DELETE FROM animals WHERE id = 2;
SELECT id, deleted_at IS NOT NULL AS deleted FROM dogs ORDER BY id;
SELECT pg_temp.summary(d) FROM delta_since('dogs', :'v0') d;
-- ... and it cannot switch to hard-delete mode while it inherits.
SELECT pg_temp.attempt('SELECT delta_sync.track(''dogs'', deletes => ''hard'')') AS switch_to_hard;
SELECT delta_sync.untrack('dogs');

-- A tracked table gets no inheritance children.
CREATE TABLE birds (id integer PRIMARY KEY, name text);
SELECT delta_sync.track('birds');
SELECT * FROM pg_temp.attempt_details('CREATE TABLE parrots () INHERITS (birds)');
SELECT to_regclass('parrots') AS parrots_not_created;
CREATE TABLE owls (LIKE birds INCLUDING ALL);
SELECT * FROM pg_temp.attempt_details('ALTER TABLE owls INHERIT birds');
SELECT count(*) AS inheritance_links FROM pg_inherits WHERE inhparent = 'birds'::regclass;

-- A table tracked in hard-delete mode does not become a child; in soft-delete mode it may.
CREATE TABLE creatures (id integer, name text);
SELECT delta_sync.track('birds', deletes => 'hard');
SELECT * FROM pg_temp.attempt_details('ALTER TABLE birds INHERIT creatures');
SELECT delta_sync.track('birds', deletes => 'soft');
ALTER TABLE birds INHERIT creatures;
SELECT count(*) AS inheritance_links FROM pg_inherits WHERE inhrelid = 'birds'::regclass;

-- A parent tracked before 1.2 may have children (simulated here with the event trigger off):
-- tracking the child is refused, and so is tracking the parent again, which names the problem.
CREATE TABLE fish (id integer PRIMARY KEY, name text);
SELECT delta_sync.track('fish');
ALTER EVENT TRIGGER delta_sync_partitions_changed DISABLE;
CREATE TABLE trout (PRIMARY KEY (id)) INHERITS (fish);
ALTER EVENT TRIGGER delta_sync_partitions_changed ENABLE;
SELECT * FROM pg_temp.attempt_details('SELECT delta_sync.track(''trout'')');
SELECT pg_temp.attempt('SELECT delta_sync.track(''fish'')') AS track_parent_again;

DROP TABLE dogs, animals, birds, owls, creatures, trout, fish;
