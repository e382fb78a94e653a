-- Plugin options: bad names and values are refused with the option named.
SELECT 'init' FROM pg_create_logical_replication_slot('options', 'bottledwater');
SELECT data FROM pg_logical_slot_get_changes('options', NULL, NULL, 'format', 'xml');
SELECT data FROM pg_logical_slot_get_changes('options', NULL, NULL, 'colour', 'blue');
SELECT data FROM pg_logical_slot_get_changes('options', NULL, NULL, 'allow_unkeyed', 'maybe');
-- Avro rows are binary: the text function refuses them, the binary one returns them.
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
SELECT data FROM pg_logical_slot_peek_changes('options', NULL, NULL);
SELECT count(*) FROM pg_logical_slot_get_binary_changes('options', NULL, NULL, 'format', 'avro');
SELECT bw_envelope_schema()::jsonb ->> 'name' AS envelope;
SELECT bw_version() IS NOT NULL AS has_version;
SELECT pg_drop_replication_slot('options');
DROP TABLE t;
