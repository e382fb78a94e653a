-- The debezium envelope through the SQL functions: Debezium's events (before, after, source,
-- op), a tombstone after each delete, a key change as delete, tombstone and create, Debezium's
-- placeholder for an unchanged TOAST value; timing and position fields are left out here.
SELECT 'init' FROM pg_create_logical_replication_slot('dbz', 'bottledwater');
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int, big text);
ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE audited (id int PRIMARY KEY, note text);
ALTER TABLE audited REPLICA IDENTITY FULL;
INSERT INTO items VALUES (1, 'bolt', 10, NULL);
UPDATE items SET qty = 11 WHERE id = 1;
UPDATE items SET id = 2 WHERE id = 1;
DELETE FROM items WHERE id = 2;
INSERT INTO items VALUES (3, 'nut', 1, (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i));
UPDATE items SET qty = 2 WHERE id = 3;
INSERT INTO audited VALUES (1, 'a');
UPDATE audited SET note = 'b';
DELETE FROM audited;
SELECT d->>'op' AS op, d->'key' AS key,
       CASE WHEN jsonb_typeof(d->'value') = 'object' THEN
           ((d->'value') - ARRAY['ts_ms', 'ts_us', 'ts_ns']) #- '{source,ts_ms}'
           #- '{source,ts_us}' #- '{source,ts_ns}' #- '{source,sequence}' #- '{source,lsn}'
           #- '{source,txId}' #- '{source,version}' #- '{after,big}' END AS value
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('dbz', NULL, NULL,
      'format', 'json', 'envelope', 'debezium', 'json_schemas', 'false',
      'topic_prefix', 'shop.')) changes
WHERE d->>'op' NOT IN ('begin', 'commit');
-- The TOAST value the last update of items left unchanged: Debezium's placeholder.
SELECT d->'value'->'after'->>'big' AS big
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('dbz', NULL, NULL,
      'format', 'json', 'envelope', 'debezium', 'json_schemas', 'false')) changes
WHERE d->>'op' = 'update' AND d->'key'->>'id' = '3';
-- With schemas: each key and value is {"schema": ..., "payload": ...}.
SELECT d->'key'->'schema' AS key_schema, d->'key'->'payload' AS key_payload,
       d->'value'->'schema'->>'name' AS value_schema
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('dbz', NULL, NULL,
      'format', 'json', 'envelope', 'debezium', 'topic_prefix', 'shop')) changes
WHERE d->>'op' = 'insert' LIMIT 1;
-- In Avro, the schema rows carry the Connect schemas as an AvroConverter registers them.
SELECT count(*) FILTER (WHERE position(convert_to(
         '{"type":"record","name":"Envelope","namespace":"shop.public.items","fields":',
         'UTF8') in data) > 0) AS envelope_schemas,
       count(*) FILTER (WHERE position(convert_to(
         '"connect.name":"shop.public.items.Key"}', 'UTF8') in data) > 0) AS key_schemas
FROM pg_logical_slot_peek_binary_changes('dbz', NULL, NULL, 'format', 'avro',
      'envelope', 'debezium', 'topic_prefix', 'shop');
-- An unknown envelope is refused.
SELECT count(*) FROM pg_logical_slot_peek_changes('dbz', NULL, NULL, 'envelope', 'cloudevents');
SELECT pg_drop_replication_slot('dbz');
DROP TABLE items, audited;
