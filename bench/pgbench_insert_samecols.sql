-- One single-row insert into a table with the tracked columns and index and no trigger (pgbench -f; the key comes from a sequence).
INSERT INTO ins_samecols (name, price, stock, tags, attrs)
VALUES ('Product', 9.99, 1, ARRAY['cat1', 'brand2'], '{"color": "red", "weight_g": 100}');
