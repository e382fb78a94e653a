"""The debezium envelope side by side with the real thing: Debezium's PostgreSQL connector 3.6.1
(Kafka Connect standalone, from Maven, as bench/debezium.py runs it) and bottledwater stream the
same database, and their events are compared field by field, in Kafka Connect's JSON with
schemas.enable=true and without, and in Avro (Debezium through Apicurio's AvroConverter as a
Confluent-compatible client of the registry; both decoded with the schemas the registry holds,
whose texts are compared too). Only source's timing and position fields may differ (and the
version, which is bottledwater's); every other difference fails the test. A bw_emit() is
Debezium's op "m" event on both sides: Debezium's carries the logical decoding message as
bw_emit() wrote it (the payload with topic, key and value) under {"prefix"} as key; ours its value,
under bw_emit's key.
"""

import base64
import decimal
import json
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
from confluent_kafka import Consumer

from test_avro_registry import Registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "python"))
from kafka_connect import (JSON_CONVERTER, PORT_OFFSET_ENVELOPE_TESTS,  # noqa: E402
                           ConnectStandalone, apicurio_avro_converters, connect_port,
                           fetch_connect, fetch_plugins)

# Every type both map the same way (README, "Coming from Debezium", lists the others).
SCHEMA = """
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE types (
  id int PRIMARY KEY, b boolean, i2 smallint, i4 int NOT NULL, i8 bigint, o oid, f4 real,
  f8 double precision, n numeric(10,2), nu numeric, m money, t text NOT NULL, vc varchar(10),
  c char(3), by bytea, u uuid, j json, jb jsonb, x xml, d date, tm time, tm3 time(3),
  ttz timetz, ts timestamp, ts3 timestamp(3), tstz timestamptz, iv interval, e mood, ia int[],
  ta text[], na numeric(5,1)[], inet_ inet, cidr_ cidr, mac macaddr, bt bit(4), vb varbit,
  b1 bit(1), r int4range);
CREATE TABLE full_identity (id int PRIMARY KEY, v text NOT NULL, w int);
ALTER TABLE full_identity REPLICA IDENTITY FULL;
CREATE TABLE composite_key (a int, b text, v text NOT NULL, n int NOT NULL, PRIMARY KEY (a, b));
INSERT INTO types VALUES (1, true, 1, 2, 3, 4, 1.5, 2.25, 12.34, 1.23456, 5.5, 'x', 'y', 'z',
  '\\x0102', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": 1}', '{"b": 2}', '<a/>',
  '2024-01-02', '12:34:56.789', '01:02:03.456', '12:34:56.789+02', '2024-01-02 03:04:05.123456',
  '2024-01-02 03:04:05.1', '2024-01-02 03:04:05.5+01', '1 year 2 mons 3 days 04:05:06.789',
  'ok', '{1,2,NULL}', '{a,"b c"}', '{1.5,NULL}', '10.0.0.1', '10.0.0.0/8', '08:00:2b:01:02:03',
  B'1010', B'110', B'1', '[1,5)');
INSERT INTO full_identity VALUES (1, 'one', 1), (2, 'two', NULL);
INSERT INTO composite_key VALUES (1, 'a', 'v', 1), (2, 'b', 'w', 2);
CREATE PUBLICATION dbz_pub FOR ALL TABLES;
"""

# One statement per transaction: inserts, updates, deletes, a key change, values at the edges.
CHANGES = [
    "INSERT INTO types (id, i4, t) VALUES (2, 0, '')",
    "UPDATE types SET t = 'updated', ia = '{}', nu = -0.5 WHERE id = 1",
    "DELETE FROM types WHERE id = 2",
    "INSERT INTO types (id, i4, t, f8, nu, ts, tstz, d, iv, tm, ttz, n, bt, vb) VALUES "
    "(3, -7, 'edge', 1e20, 'NaN', '1960-01-02 03:04:05', '2024-01-02 03:04:05+00', "
    "'0044-03-15 BC', '-1 mon 2 days -00:00:01.5', '24:00:00', '00:00:00-05', -99999999.99, "
    "B'0001', B'1000000001')",
    "UPDATE full_identity SET v = 'uno' WHERE id = 1",
    "UPDATE full_identity SET w = 5 WHERE id = 2",
    "DELETE FROM full_identity WHERE id = 1",
    "UPDATE composite_key SET a = 3 WHERE a = 1",
    "DELETE FROM composite_key WHERE a = 2",
    "INSERT INTO composite_key VALUES (4, 'd', 'x', 4)",
    # An outbox message among a transaction's rows, on the topic Debezium writes messages to.
    "INSERT INTO composite_key VALUES (5, 'e', 'm', 5); "
    "SELECT bw_emit('BW_PREFIX.message', 'order-5', '{\"order\": 5}')",
    # Debezium's default skipped.operations=t: neither sends truncates.
    "TRUNCATE full_identity",
    "INSERT INTO full_identity VALUES (9, 'nine', 9)",
]

TABLES = ("types", "full_identity", "composite_key")
TOPICS = TABLES + ("transaction", "message")
# The source fields that say when and where: Debezium's and ours differ by nature.
TIMING_FIELDS = ("version", "ts_ms", "ts_us", "ts_ns", "sequence", "lsn", "txId")


def as_json(datum):
    """An Avro datum as JSON text: bytes in base64 (as Connect's JSON has them), decimals as
    their exact text."""
    def encode(value):
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, decimal.Decimal):
            return str(value)
        raise TypeError(type(value))
    return json.dumps(datum, default=encode)


def outbox_value(content):
    """The value part of a bw_emit() payload (base64, as both sides show bytes): what our op "m"
    event carries as its content, of the payload Debezium carries whole."""
    payload = base64.b64decode(content)
    parts = []
    for _ in range(3):
        length = int.from_bytes(payload[:4], "big")
        parts.append(payload[4:4 + length])
        payload = payload[4 + length:]
    assert payload == b"", "bytes after the value"
    return base64.b64encode(parts[2]).decode()


def normalized(text, prefix):
    """A key or value as JSON, with the topic prefix replaced and the fields that may differ
    left out: source's timing and position, and the envelope's processing time."""
    if text is None:
        return None
    doc = json.loads(text.replace(prefix, "PREFIX"))
    payload = doc.get("payload", doc) if isinstance(doc, dict) and "schema" in doc else doc
    if isinstance(payload, dict) and "source" in payload:
        for field in TIMING_FIELDS:
            payload["source"].pop(field, None)
        for field in ("ts_ms", "ts_us", "ts_ns"):
            payload.pop(field, None)
    if isinstance(payload, dict) and payload.get("data_collections"):
        # Debezium names the data collection of a logical decoding message by the Java
        # object's toString() (LogicalDecodingMessageMonitor$LogicalDecodingMessageId@<hash>, one
        # object per message), where its identifier() is LOGICAL_DECODING_MESSAGE, which
        # bottledwater writes.
        for collection in payload["data_collections"]:
            collection["data_collection"] = re.sub(
                r"^io\.debezium\.connector\.postgresql\.LogicalDecodingMessageMonitor"
                r"\$LogicalDecodingMessageId@[0-9a-f]+$", "LOGICAL_DECODING_MESSAGE",
                collection["data_collection"])
        # Debezium counts them in a HashMap: its order says nothing.
        payload["data_collections"].sort(key=lambda c: c["data_collection"])
    return doc


def debezium_headers(msg, prefix):
    """The message's __debezium.* headers that bottledwater also writes (a key change's other
    key), the prefix replaced; Debezium's __debezium.context.* headers name its Connect task,
    which bottledwater does not have."""
    return {name: value.decode().replace(prefix, "PREFIX") for name, value in msg.headers() or []
            if name.startswith("__debezium.") and not name.startswith("__debezium.context.")}


def read_topics(bootstrap, prefix, quiet=4.0, timeout=180.0, expect=None):
    """Every message of the prefix's table topics and transaction topic (key and value bytes,
    Debezium's headers), per topic in order, once nothing new has come for `quiet` seconds (and,
    with `expect`, at least that many per topic)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"dbz-{uuid.uuid4()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "topic.metadata.refresh.interval.ms": 1000})
    consumer.subscribe([f"{prefix}.public.{table}" for table in TABLES] +
                       [f"{prefix}.transaction", f"{prefix}.message"])
    got = {topic: [] for topic in TOPICS}
    seen = set()
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                # A topic created while it reads rebalances the consumer, which starts again
                # from the earliest offset (none committed): each offset counts once.
                if (msg.topic(), msg.partition(), msg.offset()) in seen:
                    continue
                seen.add((msg.topic(), msg.partition(), msg.offset()))
                table = msg.topic().rsplit(".", 1)[1]
                got[table].append((msg.key(), msg.value(), debezium_headers(msg, prefix)))
                last = time.monotonic()
                continue
            enough = expect is None or all(len(got[t]) >= expect.get(t, 0) for t in TOPICS)
            if enough and time.monotonic() - last > quiet:
                return got
    finally:
        consumer.close()
    pytest.fail(f"messages of {prefix} still coming, or too few, after {timeout} s: "
                f"{ {t: len(m) for t, m in got.items()} }")


@pytest.fixture
def connect_worker(dev_env):
    libs = fetch_connect()  # a failure to fetch fails the test: no silent skip
    workdir = Path(tempfile.mkdtemp(prefix="bw-dbz-test-"))
    worker = ConnectStandalone(dev_env["BW_KAFKA_BOOTSTRAP"], workdir, libs, {
        "key.converter.schemas.enable": "true", "value.converter.schemas.enable": "true"},
        port=connect_port(dev_env, PORT_OFFSET_ENVELOPE_TESTS), plugins=fetch_plugins())
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


# The wire forms compared: bottledwater's settings, and Debezium's converters for the same.
FORMS = {
    "schemas": ({"output_format": "json", "json_schemas": "on"}, {}),
    # A connector's converter settings apply only with its converter named.
    "no-schemas": ({"output_format": "json", "json_schemas": "off"}, {
        "key.converter": JSON_CONVERTER, "key.converter.schemas.enable": "false",
        "value.converter": JSON_CONVERTER, "value.converter.schemas.enable": "false"}),
    "avro": ({"output_format": "avro"}, None),  # Debezium's: apicurio_avro_converters
}


def make_database(pg, pg_connect, tag, settings):
    name = f"bwdb_{tag}"
    pg.execute(f"CREATE DATABASE {name}")
    for setting, value in (*settings.items(), ("envelope", "debezium"),
                           ("slot_name", f"bw_{tag}"), ("topic_prefix", f"bwdbz_{tag}."),
                           ("transaction_topic", f"bwdbz_{tag}.transaction")):
        pg.execute(f"ALTER DATABASE {name} SET bottledwater.{setting} = '{value}'")
    conn = pg_connect(name)
    conn.execute("CREATE EXTENSION bottledwater")
    conn.execute(SCHEMA)
    return name, conn


def drop_database(pg, name, tag):
    pg.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
               "WHERE slot_name IN (%s, %s) AND NOT active", (f"bw_{tag}", f"dbz_{tag}"))
    pg.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Decoder:
    """The messages of one wire form as JSON text: JSON as it is, Avro decoded with the schema
    its frame names in the registry (and the ids seen, per subject)."""

    def __init__(self, registry_url, avro):
        self.registry = Registry(registry_url) if avro else None
        self.ids = {}

    def text(self, topic, part, framed):
        if framed is None:
            return None
        if self.registry is None:
            return framed.decode()
        schema_id, _, datum = self.registry.decode(framed)
        self.ids.setdefault(f"{topic}-{part}", set()).add(schema_id)
        return as_json(datum)


def first_difference(ours, theirs, path="$"):
    """Where two JSON documents first differ, and how."""
    if type(ours) is type(theirs) and isinstance(ours, dict):
        for key in sorted(set(ours) | set(theirs)):
            if ours.get(key, "<absent>") != theirs.get(key, "<absent>"):
                return first_difference(ours.get(key, "<absent>"), theirs.get(key, "<absent>"),
                                        f"{path}.{key}")
    if type(ours) is type(theirs) and isinstance(ours, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            if a != b:
                return first_difference(a, b, f"{path}[{i}]")
    return f"at {path}: bottledwater {json.dumps(ours)}, Debezium {json.dumps(theirs)}"


def registered_schema(registry_url, subject, prefix):
    """The latest schema text of a subject, with the topic prefix replaced."""
    r = requests.get(f"{registry_url}/subjects/{subject}/versions/latest", timeout=10)
    assert r.status_code == 200, f"{subject}: {r.status_code} {r.text}"
    return r.json()["schema"].replace(prefix, "PREFIX")


def compare_registered_schemas(registry_url, bw_prefix, dbz_prefix, decoder):
    """Each topic's key and value schema is Debezium's, to the character (an outbox message's
    key is bw_emit's, unframed: its topic has a value subject only), and no two subjects share
    an id."""
    for topic in (*(f"public.{table}" for table in TABLES), "transaction", "message"):
        for part in ("value",) if topic == "message" else ("key", "value"):
            ours = registered_schema(registry_url, f"{bw_prefix}.{topic}-{part}", bw_prefix)
            theirs = registered_schema(registry_url, f"{dbz_prefix}.{topic}-{part}", dbz_prefix)
            assert ours == theirs, (f"{topic} {part} schema: "
                                    f"{first_difference(json.loads(ours), json.loads(theirs))}")
    ids = [i for subject, seen in decoder.ids.items() if subject.startswith(bw_prefix)
           for i in seen]
    assert len(ids) == len(set(ids)) == 2 * len(TOPICS) - 1, decoder.ids


@pytest.mark.parametrize("form", list(FORMS))
def test_events_equal_debeziums(dev_env, pg, pg_connect, connect_worker, registry_url, form):
    settings, converter = FORMS[form]
    avro = converter is None
    if avro:
        settings = {**settings, "schema_registry_url": registry_url}
        converter = apicurio_avro_converters(registry_url)
    tag = uuid.uuid4().hex[:8]
    name, conn = make_database(pg, pg_connect, tag, settings)
    bw_prefix, dbz_prefix = f"bwdbz_{tag}", f"debezium_{tag}"
    try:
        conn.execute("SELECT bw_start(%s)", (name,))
        connect_worker.create_connector(f"dbz-{tag}", {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "database.hostname": dev_env["PGHOST"], "database.port": dev_env["PGPORT"],
            "database.user": dev_env["PGUSER"], "database.password": "unused (trust)",
            "database.dbname": name, "topic.prefix": dbz_prefix, "plugin.name": "pgoutput",
            "slot.name": f"dbz_{tag}", "publication.name": "dbz_pub",
            "publication.autocreate.mode": "disabled", "snapshot.mode": "initial",
            # The extension's own table (bookkeeping bottledwater never captures) would be
            # Debezium's first table, and its snapshot markers count tables, empty ones too.
            "table.exclude.list": "public.bw_snapshot_progress",
            "decimal.handling.mode": "precise", "time.precision.mode": "adaptive",
            "tombstones.on.delete": "true", "provide.transaction.metadata": "true",
            **converter})
        # Both have taken their snapshot and stream once their slots are read.
        deadline = time.monotonic() + 120
        while not pg.execute("SELECT count(*) = 2 FROM pg_replication_slots WHERE slot_name IN "
                             "(%s, %s) AND active AND confirmed_flush_lsn IS NOT NULL",
                             (f"bw_{tag}", f"dbz_{tag}")).fetchone()[0]:
            connect_worker.check_connector(f"dbz-{tag}")
            assert time.monotonic() < deadline, "the two did not both start streaming"
            time.sleep(0.5)
        time.sleep(3)  # Debezium acquires the slot before it has finished the snapshot
        for statement in CHANGES:
            conn.execute(statement.replace("BW_PREFIX", bw_prefix))
        dbz = read_topics(dev_env["BW_KAFKA_BOOTSTRAP"], dbz_prefix,
                          expect={"types": 6, "full_identity": 7, "composite_key": 9,
                                  "transaction": 2 * len(CHANGES), "message": 1})
        connect_worker.check_connector(f"dbz-{tag}")
        bw = read_topics(dev_env["BW_KAFKA_BOOTSTRAP"], bw_prefix,
                         expect={t: len(dbz[t]) for t in TOPICS})
        decoder = Decoder(registry_url, avro)
        # The op "m" events' keys, and what each carries as content (see outbox_value).
        assert [k for k, _, _ in bw["message"]] == [b"order-5"]
        keys = [normalized(decoder.text(f"{dbz_prefix}.message", "key", k), dbz_prefix)
                for k, _, _ in dbz["message"]]
        assert [key.get("payload", key) for key in keys] == [{"prefix": "bottledwater.outbox"}]
        bw["message"] = [(None, v, h) for _, v, h in bw["message"]]
        dbz["message"] = [(None, v, h) for _, v, h in dbz["message"]]
        for table in TOPICS:
            def decoded(messages, prefix):
                topic = f"{prefix}.{table}" if table in ("transaction", "message") else \
                    f"{prefix}.public.{table}"
                return [(normalized(decoder.text(topic, "key", k), prefix),
                         normalized(decoder.text(topic, "value", v), prefix), h)
                        for k, v, h in messages]
            ours, theirs = decoded(bw[table], bw_prefix), decoded(dbz[table], dbz_prefix)
            if table == "message":
                for _, value, _ in theirs:
                    message = value.get("payload", value)["message"]
                    message["content"] = outbox_value(message["content"])
            assert len(ours) == len(theirs), (table, len(ours), len(theirs))
            for i, (mine, debeziums) in enumerate(zip(ours, theirs)):
                assert mine == debeziums, (
                    f"{table} message {i} differs:\nbottledwater {json.dumps(mine)}\n"
                    f"Debezium     {json.dumps(debeziums)}")
        if avro:
            compare_registered_schemas(registry_url, bw_prefix, dbz_prefix, decoder)
    finally:
        conn.execute("SELECT bw_stop(%s)", (name,))
        try:
            connect_worker.request("DELETE", f"/connectors/dbz-{tag}")
        except Exception:
            pass
        time.sleep(2)
        drop_database(pg, name, tag)


def test_a_database_whose_topics_the_debezium_envelope_writes_is_refused(pg, pg_connect):
    """The debezium envelope's topics start with its logical name and a '.': a second worker
    whose topics would start the same way (here the row envelope with that as its prefix, and
    a debezium envelope whose empty prefix stands for a database of that name) is refused."""
    import psycopg

    tag = uuid.uuid4().hex[:8]
    first, second, third = f"bwdbz_a_{tag}", f"bwdbz_b_{tag}", f"bwdbz_c_{tag}"
    conns = {}
    settings = {first: ("debezium", f"{third}"), second: ("row", f"{third}."),
                third: ("debezium", "")}
    for name, (envelope, prefix) in settings.items():
        pg.execute(f"CREATE DATABASE {name}")
        for setting, value in (("output_format", "json"), ("envelope", envelope),
                               ("topic_prefix", prefix), ("slot_name", f"{name}")):
            pg.execute(f"ALTER DATABASE {name} SET bottledwater.{setting} = '{value}'")
        conns[name] = pg_connect(name)
        conns[name].execute("CREATE EXTENSION bottledwater")
    try:
        conns[first].execute("SELECT bw_start(%s)", (first,))
        for name in (second, third):
            with pytest.raises(psycopg.Error) as raised:
                conns[name].execute("SELECT bw_start(%s)", (name,))
            message = raised.value.diag.message_primary
            assert (f'the worker of database "{first}" already writes to Kafka with topic '
                    f'prefix "{third}."') in message, message
    finally:
        for name in settings:
            conns[name].execute("SELECT bw_stop(%s)", (name,))
            conns[name].close()
        time.sleep(1)
        for name in settings:
            pg.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                       "WHERE slot_name = %s AND NOT active", (name,))
            pg.execute(f"DROP DATABASE {name} WITH (FORCE)")
