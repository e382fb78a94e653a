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
-- Other roles cannot read it.
CREATE ROLE bw_reader;
SET ROLE bw_reader;
SHOW bottledwater.kafka_secret_config;
SELECT count(*) FROM pg_settings WHERE name = 'bottledwater.kafka_secret_config';
RESET ROLE;
DROP ROLE bw_reader;
