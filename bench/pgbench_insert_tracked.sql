-- One single-row insert into the tracked table, set up as the README says (pgbench -f; the key comes from a sequence).
INSERT INTO ins_tracked (name, price, stock, tags, attrs)
VALUES ('Product', 9.99, 1, ARRAY['cat1', 'brand2'], '{"color": "red", "weight_g": 100}');
