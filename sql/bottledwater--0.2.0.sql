-- bottledwater 0.2.0: the SQL surface of the extension.
\echo Use "CREATE EXTENSION bottledwater" to load this file. \quit

CREATE FUNCTION bw_version() RETURNS text
    AS 'MODULE_PATHNAME', 'bw_version' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bw_version() IS 'Version of the bottledwater library';

CREATE FUNCTION bw_envelope_schema() RETURNS text
    AS 'MODULE_PATHNAME', 'bw_envelope_schema' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bw_envelope_schema() IS
    'Avro schema of the rows the bottledwater output plugin writes in format avro';

-- Workers: one per database, streaming its changes to Kafka. Starting and stopping them is for
-- superusers and roles granted EXECUTE explicitly.
CREATE FUNCTION bw_start(dbname name) RETURNS integer
    AS 'MODULE_PATHNAME', 'bw_start' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION bw_start(name) IS
    'Start streaming a database to Kafka (and again after every server restart); returns the worker pid';

CREATE FUNCTION bw_stop(dbname name) RETURNS boolean
    AS 'MODULE_PATHNAME', 'bw_stop' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION bw_stop(name) IS
    'Stop the worker of a database after flushing Kafka; its slot is kept so a later bw_start resumes';

CREATE FUNCTION bw_status(
    OUT database name, OUT slot_name name, OUT state text, OUT pid integer,
    OUT snapshot_tables_done bigint, OUT snapshot_tables_total bigint,
    OUT snapshot_rows_done bigint, OUT snapshot_rows_total bigint,
    OUT last_commit_lsn pg_lsn, OUT confirmed_lsn pg_lsn, OUT lag_bytes bigint,
    OUT wal_status text, OUT retained_wal_bytes bigint,
    OUT messages_produced bigint, OUT messages_acknowledged bigint, OUT messages_skipped bigint,
    OUT last_error text, OUT last_error_hint text, OUT last_error_time timestamptz,
    OUT last_error_cleared_time timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'bw_status' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION bw_status() IS 'One row per bottledwater worker since the server started';

CREATE FUNCTION bw_captured_tables(
    OUT table_name regclass, OUT streamed_as regclass, OUT topic text, OUT operations text,
    OUT columns text[], OUT row_filter boolean)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'bw_captured_tables' LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION bw_captured_tables() IS
    'The tables the worker of this database captures (bottledwater.publication), the table each is streamed as, and its topic';

CREATE FUNCTION bw_drop_slot(dbname name) RETURNS SETOF name
    AS 'MODULE_PATHNAME', 'bw_drop_slot' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION bw_drop_slot(name) IS
    'Drop the slot of a database''s stopped worker (bottledwater.slot_name), so the next bw_start begins afresh';

-- Driving a worker means reading every table of its database through Kafka: beyond EXECUTE, the
-- functions require CONNECT on that database. bw_status shows every database's name, slot and
-- errors: for superusers and pg_monitor.
REVOKE EXECUTE ON FUNCTION bw_start(name), bw_stop(name), bw_drop_slot(name) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION bw_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION bw_status() TO pg_monitor;

-- The outbox: a message for Kafka written in the calling transaction, produced only if it
-- commits, in commit order with its rows. It may name any topic the worker can write, a table's
-- topic too: for superusers and roles granted EXECUTE explicitly.
CREATE FUNCTION bw_emit(topic text, key bytea, value bytea) RETURNS pg_lsn
    AS 'MODULE_PATHNAME', 'bw_emit' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION bw_emit(text, bytea, bytea) IS
    'Publish a message to a Kafka topic when the current transaction commits (outbox)';
CREATE FUNCTION bw_emit(topic text, key text, value text) RETURNS pg_lsn
    AS 'MODULE_PATHNAME', 'bw_emit' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION bw_emit(text, text, text) IS
    'Publish a message to a Kafka topic when the current transaction commits (outbox)';
REVOKE EXECUTE ON FUNCTION bw_emit(text, bytea, bytea), bw_emit(text, text, text) FROM PUBLIC;

-- SQL-language functions of the extension, if any are added, pin their search_path
-- (SET search_path = pg_catalog, pg_temp): a superuser may call them inside a database whose
-- owner put a schema of their own first. sql/security.sql checks it.

-- Incremental snapshots: tables queued by bw_snapshot, read by the worker in chunks while it
-- streams. Its progress lives here, written by the worker (never captured: the extension's own
-- tables are bookkeeping); chunk_position is the last key sent and acknowledged, as text.
CREATE TABLE bw_snapshot_progress (
    relid oid PRIMARY KEY,
    table_name text NOT NULL,
    state text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'cancelled', 'failed')),
    rows_sent bigint NOT NULL DEFAULT 0,
    chunks bigint NOT NULL DEFAULT 0,
    chunk_position text[],
    requested_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    error text);
REVOKE ALL ON TABLE bw_snapshot_progress FROM PUBLIC;

CREATE FUNCTION bw_snapshot(dbname name, tables regclass[]) RETURNS SETOF regclass
    AS 'MODULE_PATHNAME', 'bw_snapshot' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION bw_snapshot(name, regclass[]) IS
    'Queue tables (partitioned ones as their partitions) for an incremental snapshot by the worker of the current database';
CREATE FUNCTION bw_snapshot_cancel(dbname name, tables regclass[] DEFAULT NULL)
    RETURNS SETOF regclass
    AS 'MODULE_PATHNAME', 'bw_snapshot_cancel' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION bw_snapshot_cancel(name, regclass[]) IS
    'Cancel queued or running incremental snapshots (every one when tables is null)';
CREATE FUNCTION bw_snapshots(
    OUT table_name regclass, OUT table_text text, OUT state text, OUT rows_sent bigint,
    OUT chunks bigint, OUT chunk_position text[], OUT requested_at timestamptz,
    OUT started_at timestamptz, OUT finished_at timestamptz, OUT error text)
    RETURNS SETOF record LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
    AS $$ SELECT relid::regclass, table_name, state, rows_sent, chunks, chunk_position,
                 requested_at, started_at, finished_at, error
          FROM @extschema@.bw_snapshot_progress ORDER BY requested_at, relid $$;
COMMENT ON FUNCTION bw_snapshots() IS
    'Incremental snapshots of this database: state, rows sent, position, times';
REVOKE EXECUTE ON FUNCTION bw_snapshot(name, regclass[]), bw_snapshot_cancel(name, regclass[]),
    bw_snapshots() FROM PUBLIC;
