-- delta_sync.wait() given more than it will watch, or the same table many times.
CREATE TABLE wl (id integer PRIMARY KEY);
SELECT delta_sync.track('wl');
-- More tables than a wait watches: refused before anything is allocated per table.
SELECT delta_sync.wait(array_fill('wl'::regclass, ARRAY[10001]), NULL, '0');
-- At the limit: one probe, nothing changed.
SELECT cardinality(delta_sync.wait(array_fill('wl'::regclass, ARRAY[10000]), NULL, '0')) AS at_limit;
SELECT d->>'serverVersion' AS v0 FROM delta_since('wl', NULL) d \gset
-- A table given twice is reported twice, in the order given.
INSERT INTO wl VALUES (1);
SELECT delta_sync.wait('{wl,wl}', ARRAY[:'v0'], '0') AS twice;
DROP TABLE wl;
