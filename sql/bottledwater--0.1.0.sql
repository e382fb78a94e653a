-- bottledwater 0.1.0: the SQL surface of the extension.
\echo Use "CREATE EXTENSION bottledwater" to load this file. \quit

CREATE FUNCTION bw_version() RETURNS text
    AS 'MODULE_PATHNAME', 'bw_version' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bw_version() IS 'Version of the bottledwater library';

CREATE FUNCTION bw_envelope_schema() RETURNS text
    AS 'MODULE_PATHNAME', 'bw_envelope_schema' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bw_envelope_schema() IS
    'Avro schema of the rows the bottledwater output plugin writes in format avro';
