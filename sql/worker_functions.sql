-- The SQL surface of the workers and its errors, without Kafka: nothing here starts a worker.

-- A database that does not exist is refused before anything is started.
SELECT bw_start('bw_no_such_database');
-- Stopping a database without a worker says so.
SELECT bw_stop('bw_no_such_database');
SELECT count(*) FROM bw_status();
SELECT * FROM bw_drop_slot('bw_no_such_database');

-- Bad settings are rejected when set.
SET bottledwater.output_format = 'xml';
SET bottledwater.topic_prefix = 'bad prefix';
SET bottledwater.slot_name = 'Bad-Slot';
SET bottledwater.kafka_config = 'linger.ms';
SET bottledwater.topic_config = '=5';
SET bottledwater.schema_registry_url = 'ftp://registry';
SET bottledwater.on_error = 'ignore';
SET bottledwater.delivery = 'at_most_once';
SET bottledwater.offsets_topic = 'bad topic';
SET bottledwater.offsets_topic = '';
-- (PostgreSQL 17 added units to the range in this message: its SQLSTATE is what stays.)
\set VERBOSITY sqlstate
SET bottledwater.poll_interval_ms = 0;
\set VERBOSITY default
SET bottledwater.max_workers = 3;
SET bottledwater.no_such_setting = 1;
-- Good ones are accepted.
SET bottledwater.output_format = 'json';
SET bottledwater.topic_prefix = 'pg.prod-1_';
SET bottledwater.kafka_config = 'security.protocol=PLAINTEXT; linger.ms=10';
SET bottledwater.delivery = 'exactly_once';
SET bottledwater.offsets_topic = 'ops.bottledwater-offsets';
SHOW bottledwater.delivery;
SHOW bottledwater.transaction_interval_ms;
SHOW bottledwater.slot_name;
RESET ALL;

-- Only superusers and roles granted EXECUTE start and stop workers; bw_status is for
-- pg_monitor (sql/security.sql).
CREATE ROLE bw_regress_user;
SET ROLE bw_regress_user;
SELECT bw_start('bw_no_such_database');
SELECT bw_stop('bw_no_such_database');
SELECT bw_drop_slot('bw_no_such_database');
SELECT count(*) FROM bw_status();
RESET ROLE;
DROP ROLE bw_regress_user;
