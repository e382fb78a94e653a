-- xml is a string. A server built without libxml refuses xml values
-- (expected/xml_1.out), as PostgreSQL's own xml test expects.
SELECT 'init' FROM pg_create_logical_replication_slot('xml', 'bottledwater');
CREATE TABLE documents (k int PRIMARY KEY, x xml);
INSERT INTO documents VALUES (1, '<a>x</a>'), (2, '<b/>'), (3, NULL);
SELECT data FROM pg_logical_slot_get_changes('xml', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');
SELECT pg_drop_replication_slot('xml');
DROP TABLE documents;
