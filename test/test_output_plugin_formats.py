"""The output plugin's two SQL formats agree with each other and with Avro.

One table holds a column of every type the plugin maps, filled with edge values and NULLs; two
slots made at the same point, one per format, decode the same inserts, updates (one of them
moving the key, one leaving a TOASTed value unchanged) and delete. The Avro slot's envelope rows
are read with fastavro's binary reader, the JSON slot's key and value with fastavro's Avro-JSON
reader, both against the schemas the plugin announced, and the decoded values must be equal.
"""

import datetime as dt
import io
import json
import math
import re
import struct
import uuid
from decimal import Decimal

import fastavro
import psycopg
import pytest

UTC = dt.timezone.utc
CHANGE_OPS = ("insert", "update", "delete", "truncate")

# Avro's names (spec, "Names"): each dot-separated part of a full name.
AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

# Text that exercises JSON escaping and UTF-8: quotes, backslash, control characters, non-ASCII.
EDGE_TEXT = 'quote " backslash \\ newline \n tab \t ctrl \x01 del \x7f é 漢字 😀'
EDGE_BYTES = bytes([0x00, 0x01, 0x22, 0x5C, 0x0A, 0x7F, 0x80, 0xC3, 0xA9, 0xFF, 0x00])
SOME_UUID = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"


def _columns(s):
    """Column name → SQL type of the test table; s is the suffix that makes type names unique."""
    return {
        "id": "int PRIMARY KEY",
        "b": "boolean",
        "i2": "int2",
        "i4": "int4",
        "i8": "int8",
        "o": "oid",
        "f4": "float4",
        "f8": "float8",
        "n": "numeric",
        "n124": "numeric(12,4)",
        "m": "money",
        "t": "text",
        "vc": "varchar(20)",
        "c3": "char(3)",
        "nm": "name",
        "by": "bytea",
        "u": "uuid",
        "d": "date",
        "tm": "time",
        "ttz": "timetz",
        "ts": "timestamp",
        "tstz": "timestamptz",
        "iv": "interval",
        "j": "json",
        "jb": "jsonb",
        "x": "xml",
        "e": f"bw_fmt_mood_{s}",
        "ia": "int[]",
        "ta": "text[][]",
        "comp": f"bw_fmt_pair_{s}",
        "dom": f"bw_fmt_positive_{s}",
        "ine": "inet",
        "r": "int4range",
        "tsv": "tsvector",
        "lsn": "pg_lsn",
        "big": "text",  # TOASTed out of line, then left unchanged by an UPDATE
    }


def _rows(s):
    """Rows to insert, as (column → SQL expression); columns left out are NULL."""
    big = "(SELECT string_agg(md5(i::text), '') FROM generate_series(1, 3000) i)"
    return [
        {  # minimums, negatives, -infinity, escapes
            "id": "1", "b": "false", "i2": "-32768", "i4": "-2147483648",
            "i8": "-9223372036854775808", "o": "0", "f4": "'-Infinity'", "f8": "'-Infinity'",
            "n": "'-123456789012345678901234567890.123456789'", "n124": "'-12345678.1234'",
            "m": "'-92233720368547758.08'", "t": "%(edge_text)s", "vc": "''", "c3": "'ab'",
            "nm": "'a name'", "by": "%(edge_bytes)s", "u": f"'{SOME_UUID}'", "d": "'-infinity'",
            "tm": "'00:00:00'", "ttz": "'23:30:00.5-05'", "ts": "'-infinity'",
            "tstz": "'-infinity'", "iv": "'-1 year -2 months -3 days -04:05:06.789'",
            "j": """'{"a": [1, 2.50, null],  "b": "x"}'""",
            "jb": """'{"a": [1, 2.50, null],  "b": "x"}'""",
            "x": """'<a b="1">t &amp; u</a>'""", "e": "'sad'", "ia": "'{1,NULL,-3}'",
            "ta": """'{{a,NULL},{"c\\"d",""}}'""",
            "comp": "ROW(7, 'inner \"q\"', '2001-02-03 04:05:06.789')",
            "dom": "42", "ine": "'192.168.0.1/24'", "r": "'[1,10)'", "tsv": "'a fat cat'",
            "lsn": "'16/B374D848'", "big": big,
        },
        {  # maximums, NaN, +infinity, empties
            "id": "2", "b": "true", "i2": "32767", "i4": "2147483647",
            "i8": "9223372036854775807", "o": "4294967295", "f4": "'NaN'", "f8": "'NaN'",
            "n": "'NaN'", "n124": "'NaN'", "m": "'92233720368547758.07'", "t": "''",
            "vc": "'varchar ü'", "c3": "'xyz'", "nm": "repeat('n', 63)", "by": "''::bytea",
            "u": "'00000000-0000-0000-0000-000000000000'", "d": "'infinity'",
            "tm": "'23:59:59.999999'", "ttz": "'00:00:00+14'", "ts": "'infinity'",
            "tstz": "'infinity'", "iv": "'0'", "j": "'null'", "jb": "'[]'", "x": "'<r/>'",
            "e": "'happy'", "ia": "'{}'", "ta": "'{}'", "comp": "ROW(NULL, NULL, NULL)",
            "dom": "1", "ine": "'::1'", "r": "'empty'", "tsv": "''", "lsn": "'0/0'",
        },
        {"id": "3"},  # every other column NULL
        {  # finite values of the types that also have special ones
            "id": "4", "f4": "'Infinity'", "f8": "'Infinity'", "n": "'Infinity'",
            "n124": "'0.0001'", "d": "'2024-02-29'", "ts": "'2024-02-29 12:34:56.789012'",
            "tstz": "'1969-12-31 23:59:59.999999+00'", "iv": "'1 mon 2 days 00:00:00.000001'",
            "m": "'0.01'",
        },
        {  # the largest finite floats; timestamps past Avro's long range of microseconds
            "id": "5", "f4": "3.4028235e38", "f8": "1.7976931348623157e308", "n": "'-0.000'",
            "ts": "'294276-12-31 23:59:59.999999'", "tstz": "'294276-12-31 23:59:59.999999+00'",
            "ttz": "'12:00:00+00'",
        },
        {"id": "6", "f4": "0.1", "f8": "0.1", "n124": "'99999999.9999'"},
    ]


# What each statement after the inserts does; the expected change rows follow from it.
UPDATES = [
    "UPDATE {table} SET t = 'updated', i4 = 0 WHERE id = 1",  # big stays, TOASTed: a marker
    "UPDATE {table} SET id = 20 WHERE id = 2",  # the key moves: delete 2, insert 20
    "DELETE FROM {table} WHERE id = 3",
]
EXPECTED_CHANGES = (
    [("insert", row_id) for row_id in (1, 2, 3, 4, 5, 6)]
    + [("update", 1), ("delete", 2), ("insert", 20), ("delete", 3)]
)


def raw_members(text):
    """The members of a JSON object text as name → the member's raw JSON text, unparsed."""
    decoder = json.JSONDecoder()
    ws = re.compile(r"[ \t\n\r]*")
    assert text.startswith("{"), text
    members, i = {}, ws.match(text, 1).end()
    if text[i] == "}":
        return members
    while True:
        name, i = decoder.raw_decode(text, i)
        i = ws.match(text, i).end()
        assert text[i] == ":", text
        i = ws.match(text, i + 1).end()
        _, end = decoder.raw_decode(text, i)
        members[name] = text[i:end]
        i = ws.match(text, end).end()
        if text[i] == "}":
            assert not text[i + 1:].strip(), text
            return members
        assert text[i] == ",", text
        i = ws.match(text, i + 1).end()


def read_avro_json(text, parsed_schema):
    """One Avro-JSON-encoded datum, read by fastavro's Avro JSON decoder."""
    assert "\n" not in text  # fastavro's decoder reads one datum per line
    records = list(fastavro.json_reader(io.StringIO(text), parsed_schema))
    assert len(records) == 1, text
    return records[0]


def read_avro_binary(data, parsed_schema):
    stream = io.BytesIO(data)
    datum = fastavro.schemaless_reader(stream, parsed_schema)
    assert stream.read() == b"", "bytes left over after the datum"
    return datum


def float32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


NONFINITE_JSON = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def from_json_reader(value, float_columns, double_columns):
    """Completes what fastavro's Avro JSON reader leaves undone, for float and double columns only.

    - The plugin writes non-finite floats and doubles as the strings "NaN", "Infinity" and
      "-Infinity" (Jackson's, and so Avro Java's and C#'s JsonEncoder convention; JSON numbers
      cannot hold them). fastavro's reader hands those strings back unconverted.
    - An Avro float is a 32-bit value; JSON carries it as the shortest decimal that rounds to it,
      which Python reads as a double, so it is rounded back to 32 bits here.
    Anything else in those columns is left as it is, so the comparison still fails on it.
    """
    if value is None:
        return None
    value = dict(value)
    for name in float_columns | double_columns:
        v = value.get(name)
        if isinstance(v, str) and v in NONFINITE_JSON:
            value[name] = NONFINITE_JSON[v]
        elif isinstance(v, float) and name in float_columns:
            value[name] = float32(v)
    return value


class _NaN:
    def __repr__(self):
        return "NaN"

    def __eq__(self, other):
        return isinstance(other, _NaN)

    __hash__ = object.__hash__


def comparable(value):
    """The value with each float NaN replaced by a marker that equals itself."""
    if isinstance(value, float) and math.isnan(value):
        return _NaN()
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(comparable(v) for v in value)
    return value


@pytest.fixture(scope="module")
def decoded(dev_env):
    """Makes the table and two slots, runs the changes, and decodes both slots' output."""
    s = uuid.uuid4().hex[:10]
    table = f"bw_fmt_{s}"
    qualified = f"public.{table}"
    slots = {"avro": f"bw_fmt_avro_{s}", "json": f"bw_fmt_json_{s}"}
    conn = psycopg.connect(
        host=dev_env["PGHOST"], port=dev_env["PGPORT"], user=dev_env["PGUSER"],
        dbname=dev_env["PGDATABASE"], autocommit=True,
    )
    created_slots, created_objects = [], []
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS bottledwater")
        conn.execute(f"CREATE TYPE bw_fmt_mood_{s} AS ENUM ('sad', 'ok', 'happy')")
        created_objects.append(f"TYPE bw_fmt_mood_{s}")
        conn.execute(f"CREATE TYPE bw_fmt_pair_{s} AS (i int, s text, ts timestamp)")
        created_objects.append(f"TYPE bw_fmt_pair_{s}")
        conn.execute(f"CREATE DOMAIN bw_fmt_positive_{s} AS int CHECK (VALUE > 0)")
        created_objects.append(f"DOMAIN bw_fmt_positive_{s}")
        columns = _columns(s)
        column_sql = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
        conn.execute(f"CREATE TABLE {table} ({column_sql})")
        created_objects.insert(0, f"TABLE {table}")

        for fmt in ("avro", "json"):
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'bottledwater')",
                         [slots[fmt]])
            created_slots.append(slots[fmt])

        params = {"edge_text": EDGE_TEXT, "edge_bytes": EDGE_BYTES}
        for row in _rows(s):
            names = ", ".join(row)
            exprs = ", ".join(row.values())
            conn.execute(f"INSERT INTO {table} ({names}) VALUES ({exprs})",
                         {k: v for k, v in params.items() if f"%({k})s" in exprs})
        # What PostgreSQL holds, for the spot checks (text for what psycopg will not load).
        held = conn.execute(
            f"SELECT id, n124, m::numeric, by, CASE WHEN ts BETWEEN '0001-01-01' AND '9999-12-31' "
            f"THEN ts END, CASE WHEN tstz BETWEEN '0001-01-02' AND '9999-12-30' THEN tstz END, "
            f"d::text, t, c3, iv, comp::text "
            f"FROM {table} ORDER BY id"
        ).fetchall()
        for statement in UPDATES:
            conn.execute(statement.format(table=table))

        avro_rows = [row for (row,) in conn.execute(
            "SELECT data FROM pg_logical_slot_get_binary_changes(%s, NULL, NULL, "
            "'format', 'avro', 'include_transaction_details', 'false')", [slots["avro"]])]
        json_rows = [row for (row,) in conn.execute(
            "SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL, "
            "'format', 'json', 'include_transaction_details', 'false')", [slots["json"]])]
        [(envelope_text,)] = conn.execute("SELECT bw_envelope_schema()").fetchall()

        yield {
            "table": qualified, "columns": columns, "held": held,
            "envelope_schema": envelope_text,
            "avro": decode_avro_slot(avro_rows, envelope_text, qualified),
            "json": decode_json_slot(json_rows, qualified),
        }
    finally:
        for slot in created_slots:
            conn.execute("SELECT pg_drop_replication_slot(%s)", [slot])
        for obj in created_objects:
            conn.execute(f"DROP {obj}")
        conn.close()


def decode_avro_slot(rows, envelope_text, table):
    """Reads every envelope row; returns our table's schema and change rows, decoded."""
    envelope = fastavro.parse_schema(json.loads(envelope_text))
    schemas = {}  # table → (key schema text, value schema text, parsed key, parsed value)
    envelopes, changes, schema_rows = [], [], []
    for data in rows:
        assert isinstance(data, bytes)
        row = read_avro_binary(data, envelope)
        envelopes.append(row)
        if row["table"] != table:
            continue
        if row["op"] == "schema":
            assert row["key"] is None and row["value"] is None
            key_text, value_text = row["key_schema"], row["value_schema"]
            schemas[table] = (
                key_text, value_text,
                fastavro.parse_schema(json.loads(key_text)) if key_text is not None else None,
                fastavro.parse_schema(json.loads(value_text)),
            )
            schema_rows.append(row)
            continue
        assert row["op"] in CHANGE_OPS, row
        assert row["key_schema"] is None and row["value_schema"] is None, row
        assert table in schemas, f"a {row['op']} row came before the table's schema row"
        _, _, key_schema, value_schema = schemas[table]
        changes.append({
            "op": row["op"],
            "table": row["table"],
            "key": None if row["key"] is None else read_avro_binary(row["key"], key_schema),
            "value": None if row["value"] is None else read_avro_binary(row["value"], value_schema),
            "raw_key": row["key"],
            "raw_value": row["value"],
        })
    return {"envelopes": envelopes, "schema_rows": schema_rows, "schemas": schemas,
            "changes": changes}


def decode_json_slot(rows, table):
    """Our table's change rows as (op, table, raw key JSON text, raw value JSON text)."""
    envelopes, changes = [], []
    for text in rows:
        assert isinstance(text, str)
        envelope = json.loads(text)
        envelopes.append(envelope)
        if envelope.get("table") != table:
            continue
        members = raw_members(text)
        changes.append({"op": envelope["op"], "table": envelope["table"],
                        "key": members.get("key"), "value": members.get("value")})
    return {"envelopes": envelopes, "changes": changes}


def json_changes_read_with_avro(decoded):
    """The JSON slot's changes, key and value read by fastavro's Avro JSON reader."""
    _, _, key_schema, value_schema = decoded["avro"]["schemas"][decoded["table"]]
    columns = decoded["columns"]
    floats = {name for name, sql_type in columns.items() if sql_type == "float4"}
    doubles = {name for name, sql_type in columns.items() if sql_type == "float8"}
    out = []
    for change in decoded["json"]["changes"]:
        key = value = None
        if change["key"] != "null":
            key = read_avro_json(change["key"], key_schema)
        if change["value"] != "null":
            value = read_avro_json(change["value"], value_schema)
        out.append({"op": change["op"], "table": change["table"], "key": key,
                    "value": from_json_reader(value, floats, doubles)})
    return out


def by_id(decoded, op, row_id):
    [change] = [c for c in decoded["avro"]["changes"]
                if c["op"] == op and c["key"] == {"id": row_id}]
    return change["value"]


def test_both_formats_see_the_expected_changes(decoded):
    for fmt in ("avro", "json"):
        changes = decoded[fmt]["changes"]
        assert [c["table"] for c in changes] == [decoded["table"]] * len(EXPECTED_CHANGES)
    got = [(c["op"], c["key"]) for c in decoded["avro"]["changes"]]
    assert got == [(op, {"id": row_id}) for op, row_id in EXPECTED_CHANGES]
    # Deletes carry a key and no value; every other change both.
    for change in decoded["avro"]["changes"]:
        assert (change["value"] is None) == (change["op"] == "delete"), change
    # One schema row, before the table's first change, and none in the JSON format.
    assert len(decoded["avro"]["schema_rows"]) == 1
    ours = [e for e in decoded["avro"]["envelopes"] if e["table"] == decoded["table"]]
    assert ours[0]["op"] == "schema"
    assert not [e for e in decoded["json"]["envelopes"] if e["op"] == "schema"]
    # Without transaction details the Avro envelope zeroes them, the JSON one leaves them out.
    for e in decoded["avro"]["envelopes"]:
        assert (e["xid"], e["lsn"], e["commit_time_micros"]) == (0, 0, 0), e
    for e in decoded["json"]["envelopes"]:
        assert not {"xid", "lsn", "commit_time_micros"} & set(e), e


def test_json_and_avro_decode_to_the_same_values(decoded):
    from_avro = [{k: c[k] for k in ("op", "table", "key", "value")}
                 for c in decoded["avro"]["changes"]]
    from_json = json_changes_read_with_avro(decoded)
    assert len(from_json) == len(from_avro)
    for avro_change, json_change in zip(from_avro, from_json):
        assert comparable(json_change) == comparable(avro_change)


def test_json_framing_matches_avro_framing(decoded):
    """Both slots saw the same transactions: the same begin/change/commit shape around ours."""
    def shape(envelopes, table):
        out, in_ours = [], False
        for e in envelopes:
            if e["op"] == "begin":
                current = ["begin"]
            elif e["op"] == "commit":
                current.append("commit")
                if in_ours:
                    out.append(current)
                in_ours = False
            elif e["op"] != "schema":
                current.append(e["op"])
                in_ours = in_ours or e.get("table") == table
        return out

    table = decoded["table"]
    assert shape(decoded["avro"]["envelopes"], table) == \
        shape(decoded["json"]["envelopes"], table)
    assert len(shape(decoded["json"]["envelopes"], table)) == 9  # 6 inserts + 3 statements


def test_values_match_what_postgresql_holds(decoded):
    held = {row[0]: row for row in decoded["held"]}
    one, two, three = (by_id(decoded, "insert", i) for i in (1, 2, 3))
    four, five, six = (by_id(decoded, "insert", i) for i in (4, 5, 6))

    # numeric(12,4) and money are Avro decimals: exact Decimals.
    assert one["n124"] == Decimal("-12345678.1234") == held[1][1]
    assert four["n124"] == Decimal("0.0001") == held[4][1]
    assert six["n124"] == Decimal("99999999.9999")
    assert one["m"] == Decimal("-92233720368547758.08") == held[1][2]
    assert two["m"] == Decimal("92233720368547758.07")
    assert four["m"] == Decimal("0.01")
    # ... and NaN in a numeric(p,s) goes to the union's string branch.
    assert two["n124"] == "NaN"
    # Unconstrained numeric is its text.
    assert one["n"] == "-123456789012345678901234567890.123456789"
    assert (two["n"], four["n"], five["n"]) == ("NaN", "Infinity", "0.000")

    # bytea: exact bytes, NULs and high bytes included.
    assert one["by"] == EDGE_BYTES == held[1][3]
    assert two["by"] == b""

    # timestamps: timestamp-micros, as UTC; infinities as text.
    assert four["ts"] == dt.datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=UTC)
    assert four["ts"] == held[4][4].replace(tzinfo=UTC)
    assert four["tstz"] == dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert four["tstz"] == held[4][5]
    assert (one["ts"], one["tstz"], two["ts"], two["tstz"]) == \
        ("-infinity", "-infinity", "infinity", "infinity")

    # dates: the date logical type, infinities as the strings PostgreSQL prints.
    assert four["d"] == dt.date(2024, 2, 29)
    assert (one["d"], two["d"]) == ("-infinity", "infinity") == (held[1][6], held[2][6])

    # text and friends, byte for byte.
    assert one["t"] == EDGE_TEXT == held[1][7]
    assert two["t"] == ""
    assert one["vc"] == ""
    assert one["c3"] == "ab " == held[1][8]  # char(n) keeps its padding
    assert two["nm"] == "n" * 63
    assert one["u"] == uuid.UUID(SOME_UUID)

    # integers at their limits.
    assert (one["i2"], one["i4"], one["i8"], one["o"]) == (-32768, -2**31, -2**63, 0)
    assert (two["i2"], two["i4"], two["i8"], two["o"]) == (32767, 2**31 - 1, 2**63 - 1, 2**32 - 1)
    assert (one["b"], two["b"]) == (False, True)

    # floats: IEEE values, non-finite ones included.
    assert one["f4"] == one["f8"] == -math.inf
    assert math.isnan(two["f4"]) and math.isnan(two["f8"])
    assert four["f4"] == four["f8"] == math.inf
    assert five["f4"] == float32(3.4028235e38) and five["f8"] == 1.7976931348623157e308
    assert six["f4"] == float32(0.1) and six["f8"] == 0.1

    # ... except past Avro's long range, which PostgreSQL reaches: their text instead.
    assert five["ts"] == "294276-12-31 23:59:59.999999"
    assert isinstance(five["tstz"], str) and five["tstz"].startswith("294276-12-31")

    # time: time-micros.
    assert one["tm"] == dt.time(0, 0)
    assert two["tm"] == dt.time(23, 59, 59, 999999)

    # timetz: the README's "time on 1970-01-01 in UTC" (when the zone keeps it on that day).
    assert five["ttz"] == dt.datetime(1970, 1, 1, 12, tzinfo=UTC)

    # interval: months, days and microseconds apart.
    micros = -((4 * 3600 + 5 * 60 + 6) * 10**6 + 789000)
    assert one["iv"] == {"months": -14, "days": -3, "micros": micros}
    assert four["iv"] == {"months": 1, "days": 2, "micros": 1}
    assert two["iv"] == {"months": 0, "days": 0, "micros": 0}

    # arrays: NULL elements, empty arrays, two dimensions.
    assert one["ia"] == [1, None, -3]
    assert two["ia"] == []
    # A 2-D array: the md_array branch, its dimensions and its elements in row-major order.
    assert one["ta"] == {"dims": [{"lower": 1, "length": 2}, {"lower": 1, "length": 2}],
                         "elements": ["a", None, 'c"d', ""]}
    assert two["ta"] == []

    # composite, domain, enum and the types sent as their text.
    assert one["comp"] == {"i": 7, "s": 'inner "q"',
                           "ts": dt.datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)}
    assert two["comp"] == {"i": None, "s": None, "ts": None}
    assert (one["dom"], two["dom"]) == (42, 1)
    assert (one["e"], two["e"]) == ("sad", "happy")
    assert one["j"] == '{"a": [1, 2.50, null],  "b": "x"}'  # json keeps its text
    assert one["jb"] == '{"a": [1, 2.50, null], "b": "x"}'  # jsonb is normalized
    assert one["x"] == '<a b="1">t &amp; u</a>'
    assert (one["ine"], two["ine"]) == ("192.168.0.1/24", "::1")
    assert (one["r"], two["r"]) == ("[1,10)", "empty")
    assert (one["tsv"], two["tsv"]) == ("'a' 'cat' 'fat'", "")
    assert (one["lsn"], two["lsn"]) == ("16/B374D848", "0/0")
    assert len(one["big"]) == 3000 * 32

    # The all-NULL row: every column but the key is None.
    assert three == {name: (3 if name == "id" else None) for name in decoded["columns"]}


def test_timetz_is_the_utc_time_on_1970_01_01(decoded):
    one, two = by_id(decoded, "insert", 1), by_id(decoded, "insert", 2)
    # 23:30:00.5-05 is 04:30:00.5 UTC; 00:00+14 is 10:00 UTC (the day before, in UTC).
    assert one["ttz"] == dt.datetime(1970, 1, 1, 4, 30, 0, 500000, tzinfo=UTC)
    assert two["ttz"] == dt.datetime(1970, 1, 1, 10, 0, tzinfo=UTC)


def test_updates_deletes_and_unchanged_toast(decoded):
    updated = by_id(decoded, "update", 1)
    inserted = by_id(decoded, "insert", 1)
    assert (updated["t"], updated["i4"]) == ("updated", 0)
    # big was not touched: the WAL does not carry it, the marker says so.
    assert updated["big"] == "unchanged"
    assert {k: v for k, v in updated.items() if k not in ("t", "i4", "big")} == \
        {k: v for k, v in inserted.items() if k not in ("t", "i4", "big")}
    # The key change: delete of 2, then insert of 20 holding 2's other values.
    moved = by_id(decoded, "insert", 20)
    original = by_id(decoded, "insert", 2)
    assert comparable({**original, "id": 20}) == comparable(moved)


def _union_branch_kind(branch):
    """The Avro type a union branch counts as when telling branches apart (logical types count
    as their underlying type; named types by their full name)."""
    if isinstance(branch, str):
        return branch
    if isinstance(branch, list):
        return "union"
    if branch["type"] in ("record", "enum", "fixed"):
        return branch["name"]
    return branch["type"]


def _check_type(schema, named, path, problems):
    if isinstance(schema, str):
        if schema not in ("null", "boolean", "int", "long", "float", "double", "bytes", "string")\
                and schema not in named:
            problems.append(f"{path}: unknown type {schema!r}")
        return
    if isinstance(schema, list):
        kinds = [_union_branch_kind(b) for b in schema]
        if "union" in kinds:
            problems.append(f"{path}: a union directly inside a union")
        if len(set(kinds)) != len(kinds):
            problems.append(f"{path}: union branches of the same type: {kinds}")
        for i, branch in enumerate(schema):
            _check_type(branch, named, f"{path}[{i}]", problems)
        return
    kind = schema["type"]
    if kind in ("record", "enum", "fixed"):
        name = schema["name"]
        if not all(AVRO_NAME.match(part) for part in name.split(".")):
            problems.append(f"{path}: invalid name {name!r}")
        if name in named:
            problems.append(f"{path}: {name} defined twice")
        named[name] = schema
        if kind == "enum":
            for symbol in schema["symbols"]:
                if not AVRO_NAME.match(symbol):
                    problems.append(f"{path}: invalid enum symbol {symbol!r}")
        if kind == "record":
            _check_record(schema, named, path, problems)
        return
    if kind == "array":
        _check_type(schema["items"], named, f"{path}.items", problems)
        return
    if schema.get("logicalType") == "decimal":
        if kind != "bytes" or not 0 <= schema["scale"] <= schema["precision"] \
                or schema["precision"] < 1:
            problems.append(f"{path}: bad decimal {schema}")
    _check_type(kind, named, path, problems)


def _check_record(record, named, path, problems):
    field_names = [f["name"] for f in record["fields"]]
    if len(set(field_names)) != len(field_names):
        problems.append(f"{path}: duplicate field names {field_names}")
    # The parts of an interval and of an array's shape are never NULL on their own; every other
    # field is an optional column.
    name = record["name"]
    nullable = name not in ("bottledwater.interval", "bottledwater.array_dimension") \
        and not name.startswith("bottledwater.md_array_")
    for field in record["fields"]:
        fpath = f"{path}.{field['name']}"
        if not AVRO_NAME.match(field["name"]):
            problems.append(f"{fpath}: invalid field name")
        ftype = field["type"]
        if nullable:
            if not (isinstance(ftype, list) and ftype and ftype[0] == "null"):
                problems.append(f"{fpath}: not a union starting with null: {ftype}")
            if "default" not in field or field["default"] is not None:
                problems.append(f"{fpath}: no default null")
        elif "default" in field:
            problems.append(f"{fpath}: unexpected default")
        _check_type(ftype, named, fpath, problems)


def test_schemas_are_valid_avro(decoded):
    key_text, value_text, _, _ = decoded["avro"]["schemas"][decoded["table"]]
    table_name = decoded["table"].split(".")[1]
    for text, name in ((key_text, f"bottledwater.public.key.{table_name}"),
                       (value_text, f"bottledwater.public.{table_name}")):
        schema = json.loads(text)
        fastavro.parse_schema(schema)
        assert schema["type"] == "record" and schema["name"] == name
        problems = []
        _check_type(schema, {}, name, problems)
        assert problems == []
    value_fields = [f["name"] for f in json.loads(value_text)["fields"]]
    assert value_fields == list(decoded["columns"])
    assert [f["name"] for f in json.loads(key_text)["fields"]] == ["id"]
    # The envelope itself.
    envelope = json.loads(decoded["envelope_schema"])
    fastavro.parse_schema(envelope)
    assert [f["name"] for f in envelope["fields"]] == [
        "op", "xid", "lsn", "commit_time_micros", "table", "key_schema", "value_schema",
        "key", "value"]


def _named_types(schema, named):
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, named)
    elif isinstance(schema, dict):
        if schema["type"] in ("record", "enum", "fixed"):
            named[schema["name"]] = schema
        for field in schema.get("fields", ()):
            _named_types(field["type"], named)
        if schema["type"] == "array":
            _named_types(schema["items"], named)
    return named


def _tag_unions(schema, value, named):
    """The value in fastavro's tuple notation wherever the value alone does not say the branch:
    named types (already tuples, from return_named_type) and the special "string" branch that
    follows date, timestamp and decimal types."""
    if isinstance(schema, str) and schema in named:
        return _tag_unions(named[schema], value, named)
    if isinstance(schema, list):
        if value is None:
            return None
        if isinstance(value, tuple):
            name, inner = value
            return name, _tag_unions(named[name], inner, named)
        if isinstance(value, str) and "string" in schema[2:]:
            return "string", value
        return _tag_unions(schema[1], value, named)
    if isinstance(schema, dict) and schema["type"] == "record":
        return {f["name"]: _tag_unions(f["type"], value[f["name"]], named)
                for f in schema["fields"]}
    if isinstance(schema, dict) and schema["type"] == "array":
        return [_tag_unions(schema["items"], v, named) for v in value]
    if isinstance(schema, dict) and schema.get("logicalType") == "decimal":
        return minimal_decimal_bytes(value, schema["scale"])
    return value


def minimal_decimal_bytes(value, scale):
    """A decimal's unscaled value as the shortest big-endian two's complement, as Avro Java's
    DecimalConversion writes it (BigInteger.toByteArray). fastavro itself writes
    (bit_length + 8) // 8 bytes of the magnitude, one more than needed for negative powers of
    two such as money's minimum, -2**63 hundredths; both decode to the same value."""
    unscaled = int(value.scaleb(scale))
    assert Decimal(unscaled).scaleb(-scale) == value
    length = (unscaled if unscaled >= 0 else ~unscaled).bit_length() // 8 + 1
    return unscaled.to_bytes(length, "big", signed=True)


def test_binary_is_what_fastavro_writes(decoded):
    """Re-encoding each decoded key and value with fastavro gives back the plugin's bytes."""
    _, _, key_schema, value_schema = decoded["avro"]["schemas"][decoded["table"]]
    checked = 0
    for change in decoded["avro"]["changes"]:
        for part, schema in (("key", key_schema), ("value", value_schema)):
            raw = change[f"raw_{part}"]
            if raw is None:
                continue
            datum = fastavro.schemaless_reader(io.BytesIO(raw), schema, return_named_type=True)
            datum = _tag_unions(schema, datum, _named_types(schema, {}))
            out = io.BytesIO()
            fastavro.schemaless_writer(out, schema, datum)
            assert out.getvalue() == raw, (change["op"], part, datum)
            checked += 1
    deletes = sum(op == "delete" for op, _ in EXPECTED_CHANGES)
    assert checked == 2 * len(EXPECTED_CHANGES) - deletes  # deletes have no value


def test_an_unkeyed_table_is_logged_with_the_reason(pg):
    """A table with a primary key under REPLICA IDENTITY NOTHING is unkeyed because its deletes
    carry no key, not for want of a primary key; the log line says which."""
    tag = uuid.uuid4().hex[:10]
    nothing, no_key, slot = f"nothing_{tag}", f"no_key_{tag}", f"unkeyed_{tag}"
    logged = []
    pg.add_notice_handler(lambda diag: logged.append((diag.message_primary, diag.message_hint)))
    pg.execute(f"CREATE TABLE {nothing} (id int PRIMARY KEY)")
    pg.execute(f"ALTER TABLE {nothing} REPLICA IDENTITY NOTHING")
    pg.execute(f"CREATE TABLE {no_key} (v int)")
    pg.execute("SELECT pg_create_logical_replication_slot(%s, 'bottledwater')", (slot,))
    try:
        pg.execute(f"INSERT INTO {nothing} VALUES (1)")
        pg.execute(f"INSERT INTO {no_key} VALUES (1)")
        pg.execute("SET client_min_messages = log")
        pg.execute("SELECT count(*) FROM pg_logical_slot_get_changes(%s, NULL, NULL, "
                   "'format', 'json')", (slot,))
    finally:
        pg.execute("RESET client_min_messages")
        pg.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        pg.execute(f"DROP TABLE {nothing}, {no_key}")
    said = {table: [(m, h) for m, h in logged if f'"public.{table}"' in m]
            for table in (nothing, no_key)}
    assert [m for m, _ in said[nothing]] == [
        f'bottledwater: table "public.{nothing}" has REPLICA IDENTITY NOTHING, so its deletes '
        "carry no key; its changes are skipped"], logged
    assert "REPLICA IDENTITY DEFAULT" in said[nothing][0][1]
    assert [m for m, _ in said[no_key]] == [
        f'bottledwater: table "public.{no_key}" has no primary key or replica identity index; '
        "its changes are skipped"], logged
