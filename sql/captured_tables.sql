-- bw_captured_tables: what the worker of this database captures, as bottledwater.publication
-- and the catalog say now, and the topic each table's changes go to.
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id int PRIMARY KEY, total int, secret text);
CREATE TABLE shop.items (id int PRIMARY KEY, quantity int);
ALTER TABLE shop.items REPLICA IDENTITY FULL;
CREATE TABLE shop.other (id int PRIMARY KEY);
CREATE TABLE shop.keyless (v int);
CREATE TABLE shop.events (id int, at int, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE shop.events_1 PARTITION OF shop.events FOR VALUES FROM (0) TO (10);
CREATE VIEW captured AS SELECT * FROM bw_captured_tables()
    WHERE table_name::text LIKE 'shop.%' ORDER BY table_name::text;

-- No publication: every keyed table, whole; a partition as its root. allow_unkeyed adds the
-- table without a key.
SELECT * FROM captured;
SET bottledwater.allow_unkeyed = on;
SET bottledwater.topic_prefix = 'pre.';
SELECT table_name, topic FROM captured WHERE table_name = 'shop.keyless'::regclass;
RESET bottledwater.allow_unkeyed;

-- A publication: its tables, operations, column lists and row filters.
CREATE PUBLICATION shop_pub FOR TABLE shop.orders (id, total),
                                TABLE shop.items WHERE (quantity > 0),
                                TABLE shop.events
    WITH (publish = 'insert, update', publish_via_partition_root = true);
SET bottledwater.publication = 'shop_pub';
SELECT * FROM captured;

-- A publication that does not exist is the same error the worker reports.
SET bottledwater.publication = 'no_such_pub';
SELECT * FROM captured;
RESET bottledwater.publication;
RESET bottledwater.topic_prefix;
DROP VIEW captured;
DROP PUBLICATION shop_pub;
DROP SCHEMA shop CASCADE;
