-- Quoted, mixed-case, non-ASCII and digit-leading identifiers: the table keeps its name in the
-- output, the Avro field names follow the documented mapping (see README.md).
SELECT 'init' FROM pg_create_logical_replication_slot('identifiers', 'bottledwater');

CREATE SCHEMA "Sales Data";
CREATE TABLE "Sales Data"."Orders 2026" ("Order ID" int PRIMARY KEY, "1st" text, "naïve" text,
                                         "a b" int, "a_u0020_b" int, "größe" text);
INSERT INTO "Sales Data"."Orders 2026" VALUES (1, 'first', 'x', 1, 2, 'L');

SELECT data FROM pg_logical_slot_get_changes('identifiers', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

SELECT pg_drop_replication_slot('identifiers');
DROP SCHEMA "Sales Data" CASCADE;
