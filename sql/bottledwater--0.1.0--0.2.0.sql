-- bottledwater 0.1.0 → 0.2.0 (ALTER EXTENSION bottledwater UPDATE). Every change to the SQL
-- surface goes both here and into bottledwater--0.2.0.sql, so an updated install equals a fresh one.
\echo Use "ALTER EXTENSION bottledwater UPDATE TO '0.2.0'" to load this file. \quit
