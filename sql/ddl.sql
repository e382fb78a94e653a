-- A DDL change gives the next change a new schema: added, dropped, retyped and renamed columns,
-- and attributes added to a composite type a column uses (rows of both shapes, one session).
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
CREATE TYPE evolving_point AS (x int);
CREATE TABLE evolving_nested (id int PRIMARY KEY, p evolving_point, ps evolving_point[]);
INSERT INTO evolving_nested VALUES (1, ROW(1), ARRAY[ROW(1)]::evolving_point[]);
ALTER TYPE evolving_point ADD ATTRIBUTE y int;
INSERT INTO evolving_nested VALUES (2, ROW(2, 3), ARRAY[ROW(2, 3)]::evolving_point[]);
UPDATE evolving_nested SET id = 10 WHERE id = 1;

SELECT data FROM pg_logical_slot_get_changes('ddl', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

SELECT pg_drop_replication_slot('ddl');
DROP TABLE evolving, evolving_nested;
DROP TYPE evolving_point;
