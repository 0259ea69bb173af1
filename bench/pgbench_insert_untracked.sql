-- One single-row insert into the untracked table (pgbench -f; the key comes from a sequence).
INSERT INTO ins_untracked (name, price, stock, tags, attrs)
VALUES ('Product', 9.99, 1, ARRAY['cat1', 'brand2'], '{"color": "red", "weight_g": 100}');
