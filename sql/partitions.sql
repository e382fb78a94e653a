-- Without publications a partitioned table streams as its root: one table name and schema for
-- rows inserted through the root or into a leaf at any level, rows moved between partitions,
-- partitions attached or detached while streaming, and TRUNCATE.
\set SHOW_CONTEXT never
CREATE TABLE measurements (id int, at int, v text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE measurements_low PARTITION OF measurements FOR VALUES FROM (0) TO (10);
CREATE TABLE measurements_high PARTITION OF measurements FOR VALUES FROM (10) TO (50)
    PARTITION BY RANGE (at);
-- A leaf whose columns are in another order than the root's.
CREATE TABLE measurements_high_a (v text, at int NOT NULL, id int NOT NULL);
ALTER TABLE measurements_high ATTACH PARTITION measurements_high_a FOR VALUES FROM (10) TO (50);
CREATE TABLE measurements_new (LIKE measurements INCLUDING INDEXES);
SELECT 'init' FROM pg_create_logical_replication_slot('partitions', 'bottledwater');

INSERT INTO measurements VALUES (1, 5, 'low'), (2, 20, 'high');
INSERT INTO measurements_high_a (id, at, v) VALUES (3, 30, 'into the leaf');
UPDATE measurements SET at = 40 WHERE id = 1;
UPDATE measurements SET v = 'updated' WHERE id = 2;
DELETE FROM measurements WHERE id = 3;
INSERT INTO measurements_new VALUES (4, 60, 'before attach');
ALTER TABLE measurements ATTACH PARTITION measurements_new FOR VALUES FROM (50) TO (100);
INSERT INTO measurements VALUES (5, 70, 'after attach');
ALTER TABLE measurements DETACH PARTITION measurements_low;
INSERT INTO measurements_low VALUES (6, 1, 'detached');
SELECT data FROM pg_logical_slot_get_changes('partitions', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

-- A column added to the root while streaming reaches a leaf whose columns are in another order:
-- the leaf's rows are converted with the new columns from the change after the ALTER on.
ALTER TABLE measurements ADD COLUMN note text DEFAULT 'default note';
INSERT INTO measurements_high_a (id, at, v, note) VALUES (8, 30, 'after alter', 'noted');
UPDATE measurements SET v = 'updated after alter' WHERE id = 2;
SELECT data FROM pg_logical_slot_get_changes('partitions', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

-- TRUNCATE of the partitioned table is one truncate of it, however many partitions it empties;
-- truncating a partition alone empties part of it, which is not sent (with a warning), as
-- pgoutput does under publish_via_partition_root.
INSERT INTO measurements VALUES (7, 20, 'gone');
TRUNCATE measurements_high_a;
TRUNCATE measurements;
SELECT data FROM pg_logical_slot_get_changes('partitions', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

SELECT pg_drop_replication_slot('partitions');
DROP TABLE measurements, measurements_low;
