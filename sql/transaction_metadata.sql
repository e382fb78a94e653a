-- The transaction_metadata option (what the worker passes with bottledwater.transaction_topic):
-- under the debezium envelope each event's transaction block numbers it within its transaction
-- and its table, with Debezium's id "<xid>:<lsn>"; tombstones are no events; a bw_emit() is
-- Debezium's op "m" event, counted under LOGICAL_DECODING_MESSAGE. Without the option the block
-- is null.
SELECT 'init' FROM pg_create_logical_replication_slot('txmeta', 'bottledwater');
CREATE TABLE orders (id int PRIMARY KEY, item text);
CREATE TABLE lines (id int PRIMARY KEY, qty int);
BEGIN;
INSERT INTO orders VALUES (1, 'book');
INSERT INTO lines VALUES (1, 2), (2, 3);
SELECT 'emitted' FROM bw_emit('orders.events', 'order-1', '{"order": 1}');
DELETE FROM lines WHERE id = 2;
COMMIT;
INSERT INTO orders VALUES (2, 'pen');
SELECT d->>'op' AS op, d->>'table' AS tbl, d->'value'->>'op' AS event,
       d->'value'->'transaction'->'total_order' AS total_order,
       d->'value'->'transaction'->'data_collection_order' AS in_table,
       d->'value'->'transaction'->>'id' =
           (d->'value'->'source'->>'txId') || ':' || (d->'value'->'source'->>'lsn') AS id_ok
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('txmeta', NULL, NULL,
      'format', 'json', 'envelope', 'debezium', 'json_schemas', 'false',
      'transaction_metadata', 'true')) changes
WHERE d->>'op' NOT IN ('begin', 'commit');
-- The outbox message's op "m" value: the content is the value's bytes, base64.
SELECT convert_from(decode(v->'message'->>'content', 'base64'), 'UTF8') AS content,
       v->'message'->>'prefix' AS prefix, v->'source'->>'table' AS source_table,
       v->'transaction'->'total_order' AS total_order,
       v->'transaction'->'data_collection_order' AS in_collection
FROM (SELECT (data::jsonb->>'value')::jsonb AS v FROM pg_logical_slot_peek_changes('txmeta',
      NULL, NULL, 'format', 'json', 'envelope', 'debezium', 'json_schemas', 'false',
      'transaction_metadata', 'true')) changes
WHERE v->>'op' = 'm';
-- Without the option: no transaction block.
SELECT count(*) FILTER (WHERE d->'value'->'transaction' <> 'null') AS numbered
FROM (SELECT data::jsonb AS d FROM pg_logical_slot_peek_changes('txmeta', NULL, NULL,
      'format', 'json', 'envelope', 'debezium', 'json_schemas', 'false')) changes
WHERE d->>'op' NOT IN ('begin', 'commit', 'message');
SELECT pg_drop_replication_slot('txmeta');
DROP TABLE orders, lines;
