-- Only committed work is decoded: rolled-back transactions and savepoints produce nothing;
-- TRUNCATE is reported; transactions touching no streamed table are left out.
SELECT 'init' FROM pg_create_logical_replication_slot('transactions', 'bottledwater');

CREATE TABLE t (id int PRIMARY KEY, v text);
CREATE TABLE other (id int PRIMARY KEY);

BEGIN;
INSERT INTO t VALUES (1, 'rolled back');
ROLLBACK;

BEGIN;
INSERT INTO t VALUES (2, 'kept');
SAVEPOINT s1;
INSERT INTO t VALUES (3, 'rolled back to savepoint');
ROLLBACK TO SAVEPOINT s1;
SAVEPOINT s2;
INSERT INTO t VALUES (4, 'released savepoint');
RELEASE SAVEPOINT s2;
COMMIT;

INSERT INTO other VALUES (1);
TRUNCATE t, other;

SELECT data FROM pg_logical_slot_get_changes('transactions', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

SELECT pg_drop_replication_slot('transactions');
DROP TABLE t, other;
