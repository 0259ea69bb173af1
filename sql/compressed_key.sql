-- A key stored compressed (a long text key in a wide row) and written back unchanged is the same
-- key: ORMs that write every column send it as a fresh, uncompressed value. Only a real change of
-- the key is refused.

CREATE TABLE wide_keys (id text PRIMARY KEY, body text);
ALTER TABLE wide_keys ALTER COLUMN body SET STORAGE main;
SELECT delta_sync.track('wide_keys');
INSERT INTO wide_keys
    SELECT repeat('k', 2000) || g, (SELECT string_agg(md5(g::text || i::text), '') FROM generate_series(1, 40) i)
      FROM generate_series(1, 2) g;
-- The stored key is compressed inline (smaller than its 2,001 bytes).
SELECT pg_column_size(id) < 2001 AS key_compressed, length(id) FROM wide_keys ORDER BY id;

-- The same key, written as a literal, with every other column: accepted, and versioned.
SELECT delta_sync_changed_xid AS before_xid FROM wide_keys WHERE id = repeat('k', 2000) || '1' \gset
UPDATE wide_keys SET id = repeat('k', 2000) || '1', body = body || '!' WHERE id = repeat('k', 2000) || '1';
SELECT delta_sync_changed_xid <> :'before_xid' AS versioned, right(body, 1) AS changed
  FROM wide_keys WHERE id = repeat('k', 2000) || '1';
-- Key alone, same value.
UPDATE wide_keys SET id = repeat('k', 2000) || '2' WHERE id = repeat('k', 2000) || '2';
-- A short key written over a compressed one, and a different long key: refused.
UPDATE wide_keys SET id = 'short' WHERE id = repeat('k', 2000) || '1';
UPDATE wide_keys SET id = repeat('k', 2000) || '3' WHERE id = repeat('k', 2000) || '2';
SELECT count(*) AS rows_unchanged FROM wide_keys WHERE id IN (repeat('k', 2000) || '1', repeat('k', 2000) || '2');
DROP TABLE wide_keys;
