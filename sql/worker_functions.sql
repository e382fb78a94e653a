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
SHOW bottledwater.slot_name;
RESET ALL;

-- Only superusers and roles granted EXECUTE start and stop workers.
CREATE ROLE bw_regress_user;
SET ROLE bw_regress_user;
SELECT bw_start('bw_no_such_database');
SELECT bw_stop('bw_no_such_database');
SELECT bw_drop_slot('bw_no_such_database');
SELECT count(*) FROM bw_status();
RESET ROLE;
DROP ROLE bw_regress_user;

-- The registry password is for superusers' eyes only.
SET bottledwater.schema_registry_user_info = 'bw:secret';
CREATE ROLE bw_reader;
SET ROLE bw_reader;
-- Refused (the message's wording changed in PostgreSQL 16; its SQLSTATE did not).
\set VERBOSITY sqlstate
SHOW bottledwater.schema_registry_user_info;
\set VERBOSITY default
SELECT count(*) FROM pg_settings WHERE name = 'bottledwater.schema_registry_user_info';
RESET ROLE;
DROP ROLE bw_reader;
RESET bottledwater.schema_registry_user_info;
