-- A DDL change gives the next change a new schema: added, dropped, retyped and renamed columns.
SELECT 'init' FROM pg_create_logical_replication_slot('ddl', 'bottledwater');

CREATE TABLE evolving (id int PRIMARY KEY, a text, b int);
INSERT INTO evolving VALUES (1, 'a', 1);
ALTER TABLE evolving ADD COLUMN c numeric(5,2) DEFAULT 1.5;
INSERT INTO evolving VALUES (2, 'a', 2);
ALTER TABLE evolving DROP COLUMN a;
INSERT INTO evolving VALUES (3, 3);
ALTER TABLE evolving ALTER COLUMN b TYPE bigint;
INSERT INTO evolving VALUES (4, 4);
ALTER TABLE evolving RENAME COLUMN b TO renamed;
UPDATE evolving SET renamed = 5 WHERE id = 4;

SELECT data FROM pg_logical_slot_get_changes('ddl', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

SELECT pg_drop_replication_slot('ddl');
DROP TABLE evolving;
