-- Logical decoding messages as an outbox: bw_emit() inside a transaction is decoded in its place
-- among the transaction's rows, and only if the transaction commits. Non-transactional messages
-- and other prefixes are left out; an illegal topic is an error at bw_emit time.
SELECT 'init' FROM pg_create_logical_replication_slot('messages', 'bottledwater');

CREATE TABLE orders (id int PRIMARY KEY, item text);

BEGIN;
INSERT INTO orders VALUES (1, 'book');
SELECT 'emitted' FROM bw_emit('orders.events', '1', '{"order": 1, "item": "book"}');
INSERT INTO orders VALUES (2, 'pen');
COMMIT;

BEGIN;
SELECT 'emitted' FROM bw_emit('orders.events', 'rolled back', 'never seen');
ROLLBACK;

-- A null key and a null value (a tombstone), alone in their transaction; the bytea form (JSON
-- rows show the bytes as text).
SELECT 'emitted' FROM bw_emit('orders.events', NULL::text, NULL::text);
SELECT 'emitted' FROM bw_emit('bin', '\x6b6579'::bytea, '\x636166c3a9'::bytea);

-- Left out: not transactional, another prefix, foreign bytes under our prefix (with a warning).
SELECT 'other' FROM pg_logical_emit_message(false, 'bottledwater.outbox', 'x');
SELECT 'other' FROM pg_logical_emit_message(true, 'some.extension', 'x');
SELECT 'other' FROM pg_logical_emit_message(true, 'bottledwater.outbox', 'not a payload');

-- Illegal topics are refused before anything is written.
SELECT bw_emit('orders events', 'k', 'v');
SELECT bw_emit('', 'k', 'v');
SELECT bw_emit('..', 'k', 'v');
SELECT bw_emit(repeat('t', 250), 'k', 'v');
SELECT bw_emit(NULL, 'k', 'v');
SELECT 'legal' FROM bw_emit(repeat('t', 249), NULL::text, NULL::text);

SELECT data FROM pg_logical_slot_get_changes('messages', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

-- Superusers and roles granted EXECUTE only: a message may go to any topic the worker writes.
CREATE ROLE bw_messages_nobody;
SET ROLE bw_messages_nobody;
SELECT bw_emit('t', 'k', 'v');
RESET ROLE;
DROP ROLE bw_messages_nobody;

SELECT pg_drop_replication_slot('messages');
DROP TABLE orders;
