-- An updated install equals a fresh one (bottledwater--0.1.0--0.2.0.sql): every function's
-- arguments and result, compared after ALTER EXTENSION ... UPDATE.
CREATE TEMP TABLE fresh AS
    SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments,
           pg_get_function_result(p.oid) AS result
    FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'bottledwater';
DROP EXTENSION bottledwater;
CREATE EXTENSION bottledwater VERSION '0.1.0';
ALTER EXTENSION bottledwater UPDATE TO '0.2.0';
CREATE TEMP TABLE updated AS
    SELECT p.proname, pg_get_function_arguments(p.oid) AS arguments,
           pg_get_function_result(p.oid) AS result
    FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'bottledwater';
(SELECT * FROM fresh EXCEPT SELECT * FROM updated)
UNION ALL
(SELECT * FROM updated EXCEPT SELECT * FROM fresh);
SELECT arguments FROM updated WHERE proname = 'bw_status';
