-- publication_names: the publications decide which tables and operations are decoded, with
-- pgoutput's semantics, as the catalog stood at each change (ALTER PUBLICATION mid-stream).
-- Errors show their hint; their context names an LSN, which varies.
\set SHOW_CONTEXT never
CREATE SCHEMA billing;
CREATE TABLE orders (id int PRIMARY KEY, total int);
CREATE TABLE order_items (id int PRIMARY KEY, quantity int);
CREATE TABLE audit (id int PRIMARY KEY);
CREATE TABLE billing.invoices (id int PRIMARY KEY);
CREATE TABLE events (id int, at int, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE events_1 PARTITION OF events FOR VALUES FROM (0) TO (10);
CREATE TABLE events_2 PARTITION OF events FOR VALUES FROM (10) TO (20)
    PARTITION BY RANGE (at);
CREATE TABLE events_2a PARTITION OF events_2 FOR VALUES FROM (10) TO (15);
CREATE PUBLICATION orders_pub FOR TABLE orders, TABLES IN SCHEMA billing;
CREATE PUBLICATION items_inserts FOR TABLE order_items WITH (publish = 'insert');
CREATE PUBLICATION events_pub FOR TABLE events WITH (publish = 'insert, truncate');
CREATE PUBLICATION everything FOR ALL TABLES WITH (publish = 'delete');
SELECT 'init' FROM pg_create_logical_replication_slot('publications', 'bottledwater');


-- Table list and schema; an insert-only publication sends no update or delete; audit is in no
-- publication; a partitioned table's publication covers its leaves at every level.
INSERT INTO orders VALUES (1, 10);
UPDATE orders SET total = 11 WHERE id = 1;
INSERT INTO order_items VALUES (1, 5);
UPDATE order_items SET quantity = 6 WHERE id = 1;
DELETE FROM order_items WHERE id = 1;
INSERT INTO audit VALUES (1);
INSERT INTO billing.invoices VALUES (1);
INSERT INTO events VALUES (1, 5), (2, 12);
UPDATE events SET id = 3 WHERE id = 1;
TRUNCATE events, orders;
SELECT data FROM pg_logical_slot_get_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false',
    'publication_names', 'orders_pub, items_inserts, events_pub');

-- FOR ALL TABLES publishing deletes only: audit's delete arrives, its insert does not.
INSERT INTO audit VALUES (2);
DELETE FROM audit WHERE id = 2;
SELECT data FROM pg_logical_slot_get_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false', 'publication_names', 'everything');

-- Membership and operations changed mid-stream take effect at their place in the WAL, even
-- when decoded in one call after all of them; so does a new table in a published schema.
INSERT INTO audit VALUES (3);
ALTER PUBLICATION orders_pub ADD TABLE audit;
INSERT INTO audit VALUES (4);
ALTER PUBLICATION orders_pub SET (publish = 'insert, delete');
UPDATE audit SET id = 40 WHERE id = 4;
DELETE FROM audit WHERE id = 3;
ALTER PUBLICATION orders_pub DROP TABLE audit;
INSERT INTO audit VALUES (5);
CREATE TABLE billing.credits (id int PRIMARY KEY);
INSERT INTO billing.credits VALUES (1);
SELECT data FROM pg_logical_slot_get_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false', 'publication_names', 'orders_pub');

-- Names are identifiers, as in pgoutput: unquoted ones fold to lower case.
INSERT INTO orders VALUES (2, 20);
SELECT data FROM pg_logical_slot_get_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false', 'publication_names', 'Orders_Pub');

-- Row filters, with pgoutput's rule for updates: a row that stops matching is a delete of its
-- key, one that starts matching an insert. (PostgreSQL needs the filtered column in the replica
-- identity for updates and deletes, hence FULL.) Filters of two publications are ORed.
CREATE TABLE stock (id int PRIMARY KEY, quantity int);
ALTER TABLE stock REPLICA IDENTITY FULL;
CREATE PUBLICATION filtered FOR TABLE stock WHERE (quantity > 0);
CREATE PUBLICATION big_ids FOR TABLE stock WHERE (id >= 100);
INSERT INTO stock VALUES (1, 5), (2, 0), (100, 0);
UPDATE stock SET quantity = 3 WHERE id = 1;
UPDATE stock SET quantity = 0 WHERE id = 1;
UPDATE stock SET quantity = 2 WHERE id = 2;
UPDATE stock SET quantity = -1 WHERE id = 1;
DELETE FROM stock WHERE id = 1;
DELETE FROM stock WHERE id = 2;
SELECT data FROM pg_logical_slot_peek_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false', 'publication_names', 'filtered');
SELECT data->>'op' AS op, data->'key' AS key FROM pg_logical_slot_get_changes('publications',
    NULL, NULL, 'format', 'json', 'include_transaction_details', 'false',
    'publication_names', 'filtered, big_ids') AS changes(lsn, xid, data_text),
    LATERAL (SELECT data_text::jsonb AS data) d WHERE data->>'op' NOT IN ('begin', 'commit');
DROP PUBLICATION filtered, big_ids;
DROP TABLE stock;
-- publish_via_partition_root: a partition's changes are sent as the root's, in its schema; a
-- second publication sending the leaf as itself does not change that (the highest ancestor
-- wins, as in pgoutput), for truncates too.
CREATE PUBLICATION via_root FOR TABLE events WITH (publish_via_partition_root);
INSERT INTO events VALUES (4, 1), (5, 11);
-- TRUNCATE of the root: one truncate of the root, none of its partitions.
TRUNCATE events;
SELECT data FROM pg_logical_slot_get_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false',
    'publication_names', 'via_root, events_pub');
DROP PUBLICATION via_root;
-- A partition's column list and row filter are read as pgoutput reads them: the root's under
-- publish_via_partition_root, otherwise the partition's own membership (none when it is listed
-- only through its partitioned table, which PostgreSQL lets have neither then).
CREATE TABLE readings (id int, at int, secret text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE readings_1 PARTITION OF readings FOR VALUES FROM (0) TO (10);
CREATE TABLE readings_2 PARTITION OF readings FOR VALUES FROM (10) TO (20);
CREATE PUBLICATION readings_root FOR TABLE readings (id, at) WHERE (id > 1)
    WITH (publish_via_partition_root);
CREATE PUBLICATION readings_leaves FOR TABLE readings, TABLE readings_2 (id, at) WHERE (id > 2);
INSERT INTO readings VALUES (1, 1, 's1'), (2, 2, 's2'), (3, 13, 's3'), (2, 12, 's4');
SELECT data FROM pg_logical_slot_peek_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false', 'publication_names', 'readings_root');
SELECT data FROM pg_logical_slot_get_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false',
    'publication_names', 'readings_leaves');
DROP PUBLICATION readings_root, readings_leaves;
DROP TABLE readings;


-- Column lists: only the listed columns are in the value and its schema, also in Avro; a
-- change of the list takes effect at its place in the WAL.
CREATE TABLE people (id int PRIMARY KEY, name text, ssn text);
CREATE PUBLICATION people_pub FOR TABLE people (id, name);
INSERT INTO people VALUES (1, 'ann', 'secret-ssn-1');
UPDATE people SET name = 'anne', ssn = 'secret-ssn-2' WHERE id = 1;
SELECT count(*) AS avro_rows,
       count(*) FILTER (WHERE position(convert_to('ssn', 'UTF8') in data) > 0) AS naming_ssn
FROM pg_logical_slot_peek_binary_changes('publications', NULL, NULL,
    'format', 'avro', 'publication_names', 'people_pub');
ALTER PUBLICATION people_pub SET TABLE people (id, name, ssn);
UPDATE people SET name = 'anna' WHERE id = 1;
DELETE FROM people WHERE id = 1;
SELECT data FROM pg_logical_slot_get_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false', 'publication_names', 'people_pub');
-- The key columns must be in the list (PostgreSQL requires them only for update and delete);
-- two publications with different lists for one table are an error, as in pgoutput.
CREATE PUBLICATION people_names FOR TABLE people (name) WITH (publish = 'insert');
CREATE PUBLICATION people_ids FOR TABLE people (id);
INSERT INTO people VALUES (2, 'bob', 'secret-ssn-3');
SELECT data FROM pg_logical_slot_peek_changes('publications', NULL, NULL,
    'format', 'json', 'publication_names', 'people_names');
SELECT data FROM pg_logical_slot_peek_changes('publications', NULL, NULL,
    'format', 'json', 'publication_names', 'people_pub, people_ids');
SELECT data FROM pg_logical_slot_get_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false', 'publication_names', 'people_ids');
DROP PUBLICATION people_pub, people_names, people_ids;
DROP TABLE people;

-- A publication that does not exist, or is dropped while streaming, is an error with a hint.
-- The catalog as of each change decides: a publication of the same name created after the drop
-- does not cover the changes in between.
INSERT INTO orders VALUES (3, 30);
SELECT data FROM pg_logical_slot_peek_changes('publications', NULL, NULL,
    'format', 'json', 'publication_names', 'no_such_pub');
SELECT data FROM pg_logical_slot_peek_changes('publications', NULL, NULL,
    'format', 'json', 'publication_names', 'orders_pub,');
DROP PUBLICATION orders_pub;
INSERT INTO orders VALUES (4, 40);
CREATE PUBLICATION orders_pub FOR TABLE orders;
SELECT data FROM pg_logical_slot_get_changes('publications', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false', 'publication_names', 'orders_pub');

SELECT pg_drop_replication_slot('publications');
DROP PUBLICATION orders_pub, items_inserts, events_pub, everything;
DROP TABLE orders, order_items, audit, events;
DROP SCHEMA billing CASCADE;
