"""Legal input must stream: values and DDL PostgreSQL accepts, through the worker into Kafka, in
both output formats, read back by a standard Avro reader (fastavro). Avro messages are decoded
with the schema the registry holds for their id; JSON messages with fastavro's Avro JSON reader
and the schema the output plugin gives for the same change (a slot of its own, format avro).
"""

import datetime as dt
import json

import fastavro
import pytest

from test_avro_registry import Registry, use_avro
from test_output_plugin_formats import read_avro_binary, read_avro_json
from test_worker import bw_db, status, wait_for  # noqa: F401 (fixture)


class Stream:
    """The test database streamed by the worker in one format; read(table, n) gives the first n
    messages of the table's topic as (key, value), each read by fastavro (None for null)."""

    def __init__(self, fmt, bw_db, pg, registry_url, consumer_factory, consume):
        self.fmt, self.bw_db, self.db, self.name = fmt, bw_db, bw_db["conn"], bw_db["name"]
        self.pg, self.consumer_factory, self.consume = pg, consumer_factory, consume
        self.registry = Registry(registry_url)
        self.peek_slot = bw_db["slot"] + "_peek"
        if fmt == "avro":
            use_avro(pg, bw_db, registry_url)

    def start(self):
        """Starts the worker; changes made after this are read back."""
        self.db.execute("SELECT pg_create_logical_replication_slot(%s, 'bottledwater')",
                        (self.peek_slot,))
        self.db.execute("SELECT bw_start(%s)", (self.name,))
        wait_for(lambda: status(self.db, self.name)["state"] == "streaming", timeout=60,
                 what="the worker to stream")

    def close(self):
        self.pg.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                        "WHERE slot_name = %s", (self.peek_slot,))

    def read(self, table, count):
        messages = self.consume(self.consumer_factory([self.bw_db["prefix"] + table]), count,
                                timeout=60)
        if self.fmt == "avro":
            return [tuple(None if part is None else self.registry.decode(part)[2]
                          for part in (m.key(), m.value())) for m in messages]
        schemas = self.plugin_schemas(f"public.{table}")
        # Rows of the worker's snapshot come first and have no change in the peek slot, which
        # starts after them; they share the schema of the first change.
        schemas = schemas[:1] * (count - len(schemas)) + schemas
        return [tuple(None if part is None else read_avro_json(part.decode(), schema)
                      for part, schema in zip((m.key(), m.value()), pair))
                for m, pair in zip(messages, schemas)]

    def plugin_schemas(self, table):
        """(key schema, value schema) in effect at each change of the table, from the peek slot."""
        [(envelope_text,)] = self.db.execute("SELECT bw_envelope_schema()").fetchall()
        envelope = fastavro.parse_schema(json.loads(envelope_text))
        current, per_change = None, []
        for (data,) in self.db.execute(
                "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, "
                "'format', 'avro', 'allow_unkeyed', 'true')", (self.peek_slot,)):
            row = read_avro_binary(data, envelope)
            if row.get("table") != table:
                continue
            if row["op"] == "schema":
                current = tuple(None if text is None else fastavro.parse_schema(json.loads(text))
                                for text in (row["key_schema"], row["value_schema"]))
            elif row["op"] in ("insert", "update", "delete"):
                per_change.append(current)
        return per_change


@pytest.fixture(params=["avro", "json"])
def stream(request, bw_db, pg, registry_url, consumer_factory, consume):
    s = Stream(request.param, bw_db, pg, registry_url, consumer_factory, consume)
    yield s
    s.close()


def test_unchanged_out_of_line_key_and_plain_storage_values_stream(stream):
    """An UPDATE leaving an out-of-line key value unchanged (read once VACUUM removed the
    out-of-line copy), and one leaving a value stored out of line before SET STORAGE PLAIN."""
    db = stream.db
    db.execute("CREATE TABLE tk (k text PRIMARY KEY, v int)")
    # 2600 hex digits do not compress: stored out of line, yet small enough for the index.
    db.execute("INSERT INTO tk SELECT left(string_agg(md5(g::text), ''), 2600), 1 "
               "FROM generate_series(1, 100) g")
    db.execute("CREATE TABLE tp (id int PRIMARY KEY, n int, big text)")
    db.execute("ALTER TABLE tp ALTER COLUMN big SET STORAGE EXTERNAL")
    db.execute("INSERT INTO tp VALUES (1, 1, repeat('p', 10000))")
    db.execute("ALTER TABLE tp ALTER COLUMN big SET STORAGE PLAIN")
    big_key = db.execute("SELECT k FROM tk").fetchone()[0]
    stream.start()
    db.execute("UPDATE tk SET v = 2")
    db.execute("UPDATE tp SET n = 2")
    db.execute("DELETE FROM tk")
    db.execute("VACUUM tk")
    db.execute("INSERT INTO tk VALUES ('after', 3)")

    got = stream.read("tk", 4)
    assert got[1] == ({"k": big_key}, {"k": big_key, "v": 2})
    assert got[2] == ({"k": big_key}, None)
    assert got[3] == ({"k": "after"}, {"k": "after", "v": 3})
    plain = stream.read("tp", 2)
    assert plain[1][1]["n"] == 2
    assert plain[1][1]["big"] == "unchanged"  # the unchanged_toast_value marker


def test_a_table_without_key_under_replica_identity_full_is_keyed_by_its_row(stream, pg):
    """Its deletes say which row went: the key is the whole row, for inserts too, so that Kafka
    keeps each row's changes in one partition; an UPDATE is the old row's delete and an insert."""
    db = stream.db
    pg.execute(f"ALTER DATABASE {stream.name} SET bottledwater.allow_unkeyed = on")
    db.execute("CREATE TABLE uf (a int, t text)")
    db.execute("ALTER TABLE uf REPLICA IDENTITY FULL")
    stream.start()
    db.execute("INSERT INTO uf VALUES (1, 'one'), (2, 'two')")
    db.execute("UPDATE uf SET t = 'uno' WHERE a = 1")
    db.execute("DELETE FROM uf WHERE a = 2")

    one, two, uno = ({"a": 1, "t": "one"}, {"a": 2, "t": "two"}, {"a": 1, "t": "uno"})
    assert stream.read("uf", 5) == [(one, one), (two, two), (one, None), (uno, uno), (two, None)]


def test_a_composite_type_altered_while_streaming(stream):
    """ALTER TYPE ... ADD ATTRIBUTE after a row of the old shape was decoded in the session: the
    next row has the new shape, and a value stored before reads as the new shape with a null."""
    db = stream.db
    db.execute("CREATE TYPE point2 AS (x int)")
    db.execute("CREATE TABLE shapes (id int PRIMARY KEY, p point2, ps point2[])")
    stream.start()
    db.execute("INSERT INTO shapes VALUES (1, ROW(1), ARRAY[ROW(1)]::point2[])")
    db.execute("ALTER TYPE point2 ADD ATTRIBUTE y int")
    db.execute("INSERT INTO shapes VALUES (2, ROW(2, 3), ARRAY[ROW(2, 3)]::point2[])")
    db.execute("UPDATE shapes SET id = 10 WHERE id = 1")

    values = [v for _, v in stream.read("shapes", 4)]
    assert values == [
        {"id": 1, "p": {"x": 1}, "ps": [{"x": 1}]},
        {"id": 2, "p": {"x": 2, "y": 3}, "ps": [{"x": 2, "y": 3}]},
        None,
        {"id": 10, "p": {"x": 1, "y": None}, "ps": [{"x": 1, "y": None}]},
    ]


UTC = dt.timezone.utc


def test_dates_and_times_readers_refuse_arrive_as_text(stream):
    """The edges of each date and time type: within the years 1 to 9999 the logical types, which
    fastavro reads back; beyond them, and a time of 24:00:00, PostgreSQL's text."""
    db = stream.db
    db.execute("CREATE TABLE edges (id int PRIMARY KEY, d date, t time, ttz timetz, "
               "ts timestamp, tstz timestamptz, iv interval)")
    stream.start()
    db.execute("INSERT INTO edges VALUES "
               "(1, '10000-01-01', '24:00:00', '24:00:00+02', '10000-01-01', "
               "'0001-01-01 00:00+01', "
               "'-178000000 years -2147483648 days -2562047788:00:54.775807'),"
               "(2, '0001-01-01', '23:59:59.999999', '23:59:59.999999-14', "
               "'9999-12-31 23:59:59.999999', '0001-01-01 00:00+00', "
               "'178000000 years 2147483647 days 2562047788:00:54.775807'),"
               "(3, '4713-01-01 BC', '00:00', '00:00+00', '294276-12-31 23:59:59.999999', "
               "'4713-01-01 00:00+00 BC', '0')")
    text = {row[0]: row[1:] for row in db.execute(
        "SELECT id, d::text, ts::text, tstz::text FROM edges")}

    one, two, three = [v for _, v in stream.read("edges", 3)]
    assert (one["d"], one["t"], one["ttz"], one["ts"], one["tstz"]) == \
        (text[1][0], "24:00:00", "24:00:00+02", text[1][1], text[1][2])
    assert one["iv"] == {"months": -178000000 * 12, "days": -2**31, "micros": -2**63 + 1}
    assert two == {"id": 2, "d": dt.date(1, 1, 1), "t": dt.time(23, 59, 59, 999999),
                   "ttz": dt.datetime(1970, 1, 1, 13, 59, 59, 999999, tzinfo=UTC),
                   "ts": dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                   "tstz": dt.datetime(1, 1, 1, tzinfo=UTC),
                   "iv": {"months": 178000000 * 12, "days": 2**31 - 1, "micros": 2**63 - 1}}
    assert (three["d"], three["ts"], three["tstz"]) == text[3]
    assert (three["t"], three["ttz"]) == (dt.time(0, 0), dt.datetime(1970, 1, 1, tzinfo=UTC))


def test_arrays_of_any_dimensions_and_lower_bounds(stream):
    """PostgreSQL holds no array to its declared dimensions: a 1-D array from 1 is a plain array,
    any other shape the md_array record, whose dimensions and row-major elements give it back."""
    db = stream.db
    db.execute("CREATE DOMAIN int_list AS int[]")
    db.execute("CREATE TABLE shaped (id int PRIMARY KEY, a int[], t text[][], d int_list)")
    stream.start()
    db.execute("INSERT INTO shaped VALUES "
               "(1, '{1,NULL,3}', '{{a,b},{c,NULL}}', '[0:1]={4,5}'),"
               "(2, '{{{1}}}', '[-2:-1][5:5]={{x},{y}}', '{}'),"
               "(3, '{}', '{only}', NULL)")

    def md(dims, elements):
        return {"dims": [{"lower": lower, "length": length} for lower, length in dims],
                "elements": elements}

    assert [v for _, v in stream.read("shaped", 3)] == [
        {"id": 1, "a": [1, None, 3], "t": md([(1, 2), (1, 2)], ["a", "b", "c", None]),
         "d": md([(0, 2)], [4, 5])},
        {"id": 2, "a": md([(1, 1)] * 3, [1]), "t": md([(-2, 2), (5, 1)], ["x", "y"]), "d": []},
        {"id": 3, "a": [], "t": ["only"], "d": None},
    ]
