-- TOAST values an UPDATE leaves unchanged are not in the WAL: filled from the old row under
-- REPLICA IDENTITY FULL, otherwise sent as the unchanged_toast_value marker. Large rows are whole.
SELECT 'init' FROM pg_create_logical_replication_slot('toast', 'bottledwater');

CREATE TABLE toasted (id int PRIMARY KEY, small text, big text);
ALTER TABLE toasted ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE toasted_full (id int PRIMARY KEY, small text, big text);
ALTER TABLE toasted_full ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE toasted_full REPLICA IDENTITY FULL;

INSERT INTO toasted VALUES (1, 'a', repeat('x', 10000));
INSERT INTO toasted_full VALUES (1, 'a', repeat('y', 10000));
UPDATE toasted SET small = 'b';
UPDATE toasted_full SET small = 'b';

SELECT data::jsonb ->> 'op' AS op, data::jsonb ->> 'table' AS table_name,
       data::jsonb -> 'value' -> 'small' AS small,
       CASE WHEN data::jsonb -> 'value' -> 'big' ? 'string'
            THEN 'string of ' || length(data::jsonb -> 'value' -> 'big' ->> 'string')
            ELSE (data::jsonb -> 'value' -> 'big')::text END AS big
  FROM pg_logical_slot_get_changes('toast', NULL, NULL,
       'format', 'json', 'include_transaction_details', 'false')
 WHERE data::jsonb ? 'table';

-- A 10 MB value arrives whole.
INSERT INTO toasted VALUES (2, 'large', repeat('0123456789', 1000000));
SELECT data::jsonb -> 'value' -> 'big' ->> 'string' = repeat('0123456789', 1000000) AS whole
  FROM pg_logical_slot_get_changes('toast', NULL, NULL, 'format', 'json')
 WHERE data::jsonb ->> 'op' = 'insert';

-- A key column stored out of line, left unchanged by an UPDATE: the old key in the WAL has it,
-- in the key and in the value, even once VACUUM has removed the out-of-line copy. 2600 hex
-- digits do not compress, so they go out of line yet fit in the index.
CREATE TABLE toasted_key (k text PRIMARY KEY, v int);
INSERT INTO toasted_key
  SELECT left(string_agg(md5(g::text), ''), 2600), 1 FROM generate_series(1, 100) g;
-- A column set to PLAIN keeps the values already stored out of line.
CREATE TABLE toasted_plain (id int PRIMARY KEY, n int, big text);
ALTER TABLE toasted_plain ALTER COLUMN big SET STORAGE EXTERNAL;
INSERT INTO toasted_plain VALUES (1, 1, repeat('p', 10000));
ALTER TABLE toasted_plain ALTER COLUMN big SET STORAGE PLAIN;
UPDATE toasted_key SET v = 2;
UPDATE toasted_plain SET n = 2;
DELETE FROM toasted_key;
VACUUM toasted_key;
SELECT data::jsonb ->> 'op' AS op, data::jsonb ->> 'table' AS table_name,
       length(data::jsonb -> 'key' -> 'k' ->> 'string') AS key_length,
       coalesce(length(data::jsonb -> 'value' -> 'k' ->> 'string')::text,
                (data::jsonb -> 'value' -> 'k')::text,
                (data::jsonb -> 'value' -> 'big')::text) AS value_k_or_big
  FROM pg_logical_slot_get_changes('toast', NULL, NULL,
       'format', 'json', 'include_transaction_details', 'false')
 WHERE data::jsonb ->> 'op' IN ('update', 'delete');

SELECT pg_drop_replication_slot('toast');
DROP TABLE toasted, toasted_full, toasted_key, toasted_plain;
