-- Incremental snapshots queued from SQL: what bw_snapshot accepts and refuses, bw_snapshots()
-- and bw_snapshot_cancel. The queue is the extension's own table: never captured.
CREATE TABLE snap_keyed (id int PRIMARY KEY, v text);
CREATE TABLE snap_pair (a int, b text, PRIMARY KEY (a, b));
CREATE TABLE snap_unkeyed (v text);
CREATE TABLE snap_parted (id int PRIMARY KEY) PARTITION BY RANGE (id);
CREATE TABLE snap_parted_1 PARTITION OF snap_parted FOR VALUES FROM (0) TO (100);
CREATE TABLE snap_parted_2 PARTITION OF snap_parted FOR VALUES FROM (100) TO (200);
CREATE VIEW snap_view AS SELECT 1 AS one;
-- Another database's tables are queued from that database, where its worker reads them.
SELECT bw_snapshot('postgres', '{snap_keyed}');
-- Chunks are read in key order: a table without a key is refused, and so is what is no table;
-- one error names them all.
SELECT bw_snapshot(current_database(), '{snap_keyed, snap_unkeyed, snap_view}');
SELECT count(*) FROM bw_snapshots();
-- A partitioned table is queued as its partitions, whose rows are read.
SELECT * FROM bw_snapshot(current_database(), '{snap_keyed, snap_pair, snap_parted}') ORDER BY 1;
SELECT table_name, table_text, state, rows_sent, chunks, chunk_position, started_at IS NULL AS
       not_started, finished_at, error FROM bw_snapshots() ORDER BY 1;
-- Tables the publications leave out are refused by name.
CREATE PUBLICATION snap_pub FOR TABLE snap_pair;
SET bottledwater.publication = 'snap_pub';
SELECT bw_snapshot(current_database(), '{snap_pair, snap_keyed}');
RESET bottledwater.publication;
DROP PUBLICATION snap_pub;
-- Cancelled: some, then every one left.
SELECT * FROM bw_snapshot_cancel(current_database(), '{snap_parted}') ORDER BY 1;
SELECT * FROM bw_snapshot_cancel(current_database()) ORDER BY 1;
SELECT table_name, state, finished_at IS NOT NULL AS finished FROM bw_snapshots() ORDER BY 1;
-- Asked for again, a table starts again from its first chunk.
SELECT * FROM bw_snapshot(current_database(), '{snap_keyed}');
SELECT table_name, state, finished_at FROM bw_snapshots() WHERE table_text = 'public.snap_keyed';
-- The queue is bookkeeping: not captured, and its rows are not decoded.
SELECT count(*) FROM bw_captured_tables() WHERE table_name = 'bw_snapshot_progress'::regclass;
SELECT 'init' FROM pg_create_logical_replication_slot('snap_slot', 'bottledwater');
SELECT * FROM bw_snapshot(current_database(), '{snap_pair}');
INSERT INTO snap_keyed VALUES (1, 'captured');
SELECT data FROM pg_logical_slot_get_changes('snap_slot', NULL, NULL, 'format', 'json',
                                             'include_transaction_details', 'false');
SELECT pg_drop_replication_slot('snap_slot');
SELECT * FROM bw_snapshot_cancel(current_database());
DROP TABLE snap_keyed, snap_pair, snap_unkeyed, snap_parted;
DROP VIEW snap_view;
