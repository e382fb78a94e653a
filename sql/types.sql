-- Every mapped type with edge values, and NULL in every column (xml has a test of its own).
SELECT 'init' FROM pg_create_logical_replication_slot('types', 'bottledwater');

CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TYPE pair AS (left_side int, right_side text);
CREATE DOMAIN positive AS int CHECK (VALUE > 0);
SET timezone = 'UTC';
SET lc_monetary = 'C';

CREATE TABLE numbers (k int PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, o oid,
                      f4 float4, f8 float8, n numeric, nd numeric(12,4), m money, d positive);
INSERT INTO numbers VALUES
    (1, true, -32768, -2147483648, -9223372036854775808, 0, 'NaN', '-Infinity', 'NaN', 'NaN', '-1.00', 1),
    (2, false, 32767, 2147483647, 9223372036854775807, 4294967295, 'Infinity', 1.5e300,
        '-12345678901234567890.000000000001', '-12345678.1234', '92233720368547758.07', 2147483647),
    (3, NULL, 0, 0, 0, 1, 3.25, -0.1, 'Infinity', '0.0001', '0', 7),
    (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE texts (k int PRIMARY KEY, t text, vc varchar(3), c char(3), nm name,
                    by bytea, u uuid, j json, jb jsonb, e mood);
INSERT INTO texts VALUES
    (1, E'quote " backslash \\ newline \n tab \t', 'abc', 'a', 'name',
        '\x00ff0041', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{"a": [1, 2]}', '{"b": null}',
        'happy'),
    (2, 'ünïcödé ✓ 😀', '', '', '', '', NULL, 'null', '[]', 'sad'),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE times (k int PRIMARY KEY, d date, t time, ttz timetz, ts timestamp,
                    tstz timestamptz, iv interval);
INSERT INTO times VALUES
    (1, '1970-01-01', '00:00', '00:00+00', '1970-01-01 00:00', '1970-01-01 00:00+00', '0'),
    (2, '2026-11-24', '23:59:59.999999', '10:00:00.5+02', '2000-01-01 00:00:00.000001',
        '2026-11-24 12:00+05:30', '1 year 2 mons 3 days 04:05:06.789'),
    (3, 'infinity', '12:00', '12:00-11', 'infinity', 'infinity', '-1 mon -1 day -00:00:01'),
    (4, '-infinity', NULL, NULL, '-infinity', '-infinity', NULL),
    (5, '4713-01-01 BC', NULL, NULL, '294276-12-31 23:59:59.999999', NULL, NULL),
    (6, NULL, NULL, NULL, NULL, NULL, NULL),
    -- Legal values common Avro readers refuse as dates and times: their text instead.
    (7, '10000-01-01', '24:00:00', '24:00:00+02', '0001-01-01 00:00', '0001-01-01 00:00+00',
        '-178000000 years'),
    (8, '0001-01-01', '23:59:59.999999', '23:59:59.999999-14', '9999-12-31 23:59:59.999999',
        '0001-01-01 00:00+01', '178000000 years');

CREATE TABLE structured (k int PRIMARY KEY, a int[], a2 text[][], p pair, ap pair[],
                         r int4range, ip inet, l pg_lsn, ts tsvector, bits bit varying);
INSERT INTO structured VALUES
    (1, '{1,NULL,3}', '{{a,b},{c,NULL}}', ROW(1, 'x'), ARRAY[ROW(2, 'y')::pair, NULL],
        '[1,10)', '192.168.0.1/24', '16/B374D848', 'a fat cat', B'101'),
    (2, '{}', '{}', ROW(NULL, NULL), '{}', 'empty', '::1', '0/0', '', B''),
    (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

SELECT data FROM pg_logical_slot_get_changes('types', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false');

-- Arrays whatever their column declares: a plain array is one dimension from 1 (or empty),
-- anything else the md_array record with each dimension's lower bound and length.
CREATE TABLE shaped AS SELECT 1 AS k, '{{1,2},{3,4}}'::int[] AS a WITH NO DATA;
ALTER TABLE shaped ADD PRIMARY KEY (k);
INSERT INTO shaped VALUES (1, '{{1,2},{3,4}}'), (2, '[0:2]={7,NULL,9}'), (3, '{{{1}}}'), (4, '[-2:-1][5:5]={{1},{2}}'),
    (5, '{5,6}'), (6, '{}');
INSERT INTO structured (k, a, a2) VALUES (4, '{{1,2},{3,4}}', '{x,y}');
SELECT data FROM pg_logical_slot_get_changes('types', NULL, NULL,
    'format', 'json', 'include_transaction_details', 'false')
 WHERE data LIKE '%"insert"%';

-- A decimal's bytes are read from numeric's stored digits when its unscaled integer fits 63
-- bits, and from its text otherwise; either way the same bytes. Values of 1 to 19 digits, both
-- signs, at scales 0, 2, 7 and 40, and the 63-bit bounds and just past them; the digest is the
-- text path's output, so any value the two paths encode differently changes it.
CREATE TABLE decimals (k int PRIMARY KEY, s0 numeric(19,0), s2 numeric(20,2),
                       s7 numeric(30,7), s40 numeric(60,40));
INSERT INTO decimals
SELECT i, v, v / 100, v / 10000000, v / ('1' || repeat('0', 40))::numeric
  FROM (SELECT i, (CASE WHEN i % 2 = 0 THEN 1 ELSE -1 END) *
                  ((i::numeric * 6364136223846793005 + 1442695040888963407)
                   % ('1' || repeat('0', 1 + i % 19))::numeric) AS v
          FROM generate_series(1, 3000) i) AS generated;
INSERT INTO decimals
SELECT k, v, v / 100, v / 10000000, v / ('1' || repeat('0', 40))::numeric
  FROM (VALUES (-1, 9223372036854775807), (-2, -9223372036854775808),
               (-3, 9223372036854775808), (-4, -9223372036854775809), (-5, 0), (-6, 1))
       AS bounds(k, v);
SELECT count(*), md5(string_agg(data, E'\n' ORDER BY n))
  FROM pg_logical_slot_get_changes('types', NULL, NULL, 'format', 'json',
                                   'include_transaction_details', 'false')
       WITH ORDINALITY AS change(lsn, xid, data, n);
SELECT pg_drop_replication_slot('types');
DROP TABLE numbers, texts, times, structured, shaped, decimals;
DROP TYPE mood, pair;
DROP DOMAIN positive;
