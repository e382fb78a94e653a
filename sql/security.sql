-- Who may do what, and where secrets live: settings and functions as other roles see them.

-- Credentials have one home, bottledwater.kafka_secret_config: refused in kafka_config and
-- topic_config, whose values other roles can read in pg_db_role_setting.
SET bottledwater.kafka_config = 'security.protocol=SASL_SSL; sasl.password=s3cret';
ALTER DATABASE :"DBNAME" SET bottledwater.kafka_config = 'ssl.key.password=s3cret';
SET bottledwater.topic_config = 'sasl.oauthbearer.client.secret=s3cret';
-- A malformed entry is named by its position, never quoted.
SET bottledwater.kafka_config = 'linger.ms=5; sasl.password s3cret';
-- The secret home is set in postgresql.conf or with ALTER SYSTEM only, never per database or
-- session, so it never lands in pg_db_role_setting.
ALTER DATABASE :"DBNAME" SET bottledwater.kafka_secret_config = 'sasl.password=s3cret';
SET bottledwater.kafka_secret_config = 'sasl.password=s3cret';
-- Other roles read neither the Kafka credentials nor the registry password.
SET bottledwater.schema_registry_user_info = 'bw:secret';
CREATE ROLE bw_reader;
SET ROLE bw_reader;
-- Refused (the message's wording changed in PostgreSQL 16; its SQLSTATE did not).
\set VERBOSITY sqlstate
SHOW bottledwater.kafka_secret_config;
SHOW bottledwater.schema_registry_user_info;
\set VERBOSITY default
SELECT count(*) FROM pg_settings
WHERE name IN ('bottledwater.kafka_secret_config', 'bottledwater.schema_registry_user_info');
RESET ROLE;
DROP ROLE bw_reader;
RESET bottledwater.schema_registry_user_info;

-- Driving a worker needs CONNECT on its database, beyond EXECUTE: the worker reads every table.
CREATE DATABASE bw_sec_target;
REVOKE CONNECT ON DATABASE bw_sec_target FROM PUBLIC;
CREATE ROLE bw_driver;
GRANT EXECUTE ON FUNCTION bw_start(name), bw_stop(name), bw_drop_slot(name) TO bw_driver;
SET ROLE bw_driver;
SELECT bw_start('bw_sec_target');
SELECT bw_stop('bw_sec_target');
SELECT bw_drop_slot('bw_sec_target');
-- A database that does not exist (or no longer does): superusers only.
SELECT bw_stop('bw_no_such_database');
RESET ROLE;
GRANT CONNECT ON DATABASE bw_sec_target TO bw_driver;
SET ROLE bw_driver;
SELECT bw_stop('bw_sec_target');
SELECT * FROM bw_drop_slot('bw_sec_target');
RESET ROLE;

-- bw_status shows every database's name, slot and errors: superusers and pg_monitor only.
SET ROLE bw_driver;
SELECT count(*) FROM bw_status();
RESET ROLE;
GRANT pg_monitor TO bw_driver;
SET ROLE bw_driver;
SELECT count(*) FROM bw_status();
RESET ROLE;
DROP DATABASE bw_sec_target;
REVOKE EXECUTE ON FUNCTION bw_start(name), bw_stop(name), bw_drop_slot(name) FROM bw_driver;
DROP ROLE bw_driver;

-- bw_drop_slot drops the worker's slot, named by bottledwater.slot_name as the worker resolves
-- it, and never a slot a SQL consumer made with the same plugin in the same database.
SELECT 'made' FROM pg_create_logical_replication_slot('bw_sec_peek', 'bottledwater');
SELECT 'made' FROM pg_create_logical_replication_slot('bottledwater', 'bottledwater');
SELECT * FROM bw_drop_slot(current_database());
SELECT slot_name FROM pg_replication_slots ORDER BY slot_name;
ALTER DATABASE :"DBNAME" SET bottledwater.slot_name = 'bw_sec_worker';
SELECT 'made' FROM pg_create_logical_replication_slot('bw_sec_worker', 'bottledwater');
SELECT * FROM bw_drop_slot(current_database());
-- The worker connects as the bootstrap superuser: its role's setting in the database wins.
ALTER ROLE :"USER" IN DATABASE :"DBNAME" SET bottledwater.slot_name = 'bw_sec_role';
SELECT * FROM bw_drop_slot(current_database());
ALTER ROLE :"USER" IN DATABASE :"DBNAME" RESET bottledwater.slot_name;
-- A slot of that name with another plugin is not the worker's.
SELECT 'made' FROM pg_create_logical_replication_slot('bw_sec_worker', 'pgoutput');
SELECT * FROM bw_drop_slot(current_database());
SELECT slot_name FROM pg_replication_slots ORDER BY slot_name;
SELECT pg_drop_replication_slot('bw_sec_worker');
SELECT pg_drop_replication_slot('bw_sec_peek');
ALTER DATABASE :"DBNAME" RESET bottledwater.slot_name;
-- Without a database or role setting, the server-wide one (postgresql.conf, ALTER SYSTEM) as a
-- new process reads it, not this session's.
ALTER SYSTEM SET bottledwater.slot_name = 'bw_sec_system';
SELECT 'made' FROM pg_create_logical_replication_slot('bw_sec_system', 'bottledwater');
SELECT * FROM bw_drop_slot(current_database());
ALTER SYSTEM RESET bottledwater.slot_name;

-- Functions of the extension not written in C pin their search_path.
SELECT p.proname FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'bottledwater'
JOIN pg_language l ON l.oid = p.prolang
WHERE l.lanname <> 'c'
  AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig), false);

-- An updated install equals a fresh one: the same functions, languages, settings and grants.
\set functions 'SELECT p.oid::regprocedure AS function, l.lanname, p.prosecdef, p.proconfig, replace(p.proacl::text, current_user, \'owner\') AS acl FROM pg_proc p JOIN pg_depend d ON d.classid = \'pg_proc\'::regclass AND d.objid = p.oid AND d.deptype = \'e\' JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = \'bottledwater\' JOIN pg_language l ON l.oid = p.prolang ORDER BY p.proname, p.oid::regprocedure::text'
:functions;
\set regress_db :DBNAME
CREATE DATABASE bw_sec_upgraded;
\c bw_sec_upgraded
CREATE EXTENSION bottledwater VERSION '0.1.0';
ALTER EXTENSION bottledwater UPDATE;
:functions;
\c :regress_db
DROP DATABASE bw_sec_upgraded;
