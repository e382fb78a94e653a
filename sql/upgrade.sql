-- ALTER EXTENSION bottledwater UPDATE from the oldest version this build installs must leave the
-- same objects as a fresh install of the newest: every member of the extension (from pg_depend,
-- so objects added later are compared too) with its signature or definition, its privileges and
-- its comment. Both describe themselves into temporary tables, and the test prints what differs.
CREATE FUNCTION pg_temp.bw_extension_objects()
RETURNS TABLE (object text, definition text, privileges text, comment text)
LANGUAGE sql AS $$
    SELECT pg_catalog.pg_describe_object(d.classid, d.objid, 0),
           CASE d.classid
               WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
                   (SELECT pg_catalog.format('%s(%s) RETURNS %s LANGUAGE %s AS %L, %L %s',
                               p.prokind, pg_catalog.pg_get_function_arguments(p.oid),
                               pg_catalog.pg_get_function_result(p.oid), l.lanname, p.probin,
                               p.prosrc, pg_catalog.concat_ws(' ', p.provolatile, p.proisstrict,
                               p.prosecdef, p.proleakproof, p.proparallel, p.procost, p.prorows,
                               p.proconfig))
                    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_language l ON l.oid = p.prolang
                    WHERE p.oid = d.objid)
               WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
                   (SELECT pg_catalog.concat_ws(' ', c.relkind,
                               (SELECT pg_catalog.string_agg(pg_catalog.format('%I %s %s', a.attname,
                                           pg_catalog.format_type(a.atttypid, a.atttypmod), a.attacl),
                                           ', ' ORDER BY a.attnum)
                                FROM pg_catalog.pg_attribute a
                                WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                               CASE WHEN c.relkind IN ('v', 'm')
                                    THEN pg_catalog.pg_get_viewdef(c.oid) END)
                    FROM pg_catalog.pg_class c WHERE c.oid = d.objid)
               WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN
                   (SELECT pg_catalog.concat_ws(' ', t.typtype, t.typcategory)
                    FROM pg_catalog.pg_type t WHERE t.oid = d.objid)
           END,
           CASE d.classid
               WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
                   (SELECT p.proacl::text FROM pg_catalog.pg_proc p WHERE p.oid = d.objid)
               WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
                   (SELECT c.relacl::text FROM pg_catalog.pg_class c WHERE c.oid = d.objid)
               WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN
                   (SELECT t.typacl::text FROM pg_catalog.pg_type t WHERE t.oid = d.objid)
           END,
           pg_catalog.obj_description(d.objid, d.classid::pg_catalog.regclass::text)
    FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
    WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND d.deptype = 'e'
      AND e.extname = 'bottledwater'
$$;

-- The oldest version there is a script for, and the default one.
SELECT version AS oldest FROM pg_available_extension_versions WHERE name = 'bottledwater'
ORDER BY pg_catalog.string_to_array(version, '.')::int[] LIMIT 1 \gset
SELECT default_version AS newest FROM pg_available_extensions WHERE name = 'bottledwater' \gset

DROP EXTENSION bottledwater;
CREATE EXTENSION bottledwater VERSION :'oldest';
ALTER EXTENSION bottledwater UPDATE;
SELECT extversion = :'newest' AS updated_to_the_newest FROM pg_extension
WHERE extname = 'bottledwater';
CREATE TEMP TABLE updated AS SELECT * FROM pg_temp.bw_extension_objects();

DROP EXTENSION bottledwater;
CREATE EXTENSION bottledwater;
CREATE TEMP TABLE fresh AS SELECT * FROM pg_temp.bw_extension_objects();

-- Not a comparison of two empty sets: the functions are there, with their privileges.
SELECT count(*) > 0 AS has_objects, count(*) FILTER (WHERE privileges IS NOT NULL) > 0
       AS has_privileges FROM fresh;
-- What only one of the two has (nothing).
(SELECT 'only after the update' AS install, * FROM updated EXCEPT SELECT 'only after the update', * FROM fresh)
UNION ALL
(SELECT 'only when fresh', * FROM fresh EXCEPT SELECT 'only when fresh', * FROM updated)
ORDER BY 1, 2;
