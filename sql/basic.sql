-- Insert, update and delete through the JSON format, as the original Bottled Water printed them.
SELECT 'init' FROM pg_create_logical_replication_slot('basic', 'bottledwater');

CREATE TABLE test (id serial PRIMARY KEY, value text);
INSERT INTO test (value) VALUES ('hello world!');
INSERT INTO test (value) VALUES ('hello');
UPDATE test SET value = 'world' WHERE id = 2;
DELETE FROM test WHERE id = 2;
-- A key change: the old key is deleted, the new row inserted.
UPDATE test SET id = 10 WHERE id = 1;
-- Several changes in one transaction keep their order.
BEGIN;
INSERT INTO test (value) VALUES ('a'), ('b');
UPDATE test SET value = 'c' WHERE value = 'a';
COMMIT;

SELECT data FROM pg_logical_slot_get_changes('basic', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

-- Transaction details: xid, commit LSN and commit time on begin and commit.
INSERT INTO test (value) VALUES ('details');
SELECT data::jsonb ->> 'op' AS op,
       (data::jsonb ->> 'xid')::xid = xid AS xid_matches,
       (data::jsonb ->> 'lsn')::pg_lsn > '0/0' AS has_lsn,
       to_timestamp((data::jsonb ->> 'commit_time_micros')::float8 / 1e6)
           BETWEEN now() - interval '1 hour' AND now() + interval '1 hour' AS recent
  FROM pg_logical_slot_get_changes('basic', NULL, NULL, 'format', 'json')
 WHERE data::jsonb ->> 'op' IN ('begin', 'commit');

SELECT pg_drop_replication_slot('basic');
DROP TABLE test;
