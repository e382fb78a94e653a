-- Which columns form the key: primary key (in index order), REPLICA IDENTITY USING INDEX,
-- and tables without a key, skipped unless allow_unkeyed.
SELECT 'init' FROM pg_create_logical_replication_slot('keys', 'bottledwater');

CREATE TABLE composite_key (b text, a int, v text, PRIMARY KEY (a, b));
INSERT INTO composite_key VALUES ('x', 1, 'one');
UPDATE composite_key SET v = 'uno';
DELETE FROM composite_key;

CREATE TABLE by_index (id int NOT NULL, code text NOT NULL, v text);
CREATE UNIQUE INDEX by_index_code ON by_index (code);
ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_code;
INSERT INTO by_index VALUES (1, 'c1', 'v');
UPDATE by_index SET code = 'c2';
DELETE FROM by_index;

CREATE TABLE full_identity (id int PRIMARY KEY, v text);
ALTER TABLE full_identity REPLICA IDENTITY FULL;
INSERT INTO full_identity VALUES (1, 'v');
UPDATE full_identity SET v = 'w';
DELETE FROM full_identity;

CREATE TABLE no_key (v text);
INSERT INTO no_key VALUES ('lost');
-- Without a key index, REPLICA IDENTITY FULL identifies a row by all its columns: so does the key.
CREATE TABLE whole_row (a int, t text);
ALTER TABLE whole_row REPLICA IDENTITY FULL;
INSERT INTO whole_row VALUES (1, 'one'), (1, 'one');
UPDATE whole_row SET t = 'uno' WHERE ctid = '(0,1)';
DELETE FROM whole_row WHERE t = 'one';
CREATE TABLE nothing_identity (id int PRIMARY KEY, v text);
ALTER TABLE nothing_identity REPLICA IDENTITY NOTHING;
INSERT INTO nothing_identity VALUES (1, 'v');

-- Peek first without allow_unkeyed, then consume with it.
SELECT data FROM pg_logical_slot_peek_changes('keys', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');
SELECT data FROM pg_logical_slot_get_changes('keys', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false', 'allow_unkeyed', 'true')
 WHERE data LIKE '%no_key%' OR data LIKE '%nothing_identity%' OR data LIKE '%whole_row%';

SELECT pg_drop_replication_slot('keys');
DROP TABLE composite_key, by_index, full_identity, no_key, whole_row, nothing_identity;
