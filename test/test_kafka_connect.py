"""A Debezium consumer pipeline, unchanged, fed by bottledwater: Kafka Connect
(scripts/python/kafka_connect.py) runs Debezium's JDBC sink connector, which writes a second
database from the change events of the source database's tables; after a mixed workload
(snapshot rows, inserts, updates, deletes, key changes, NULLs, a TOASTed value, every column type
below) the sink's tables equal the source's.

The reference runs have Debezium's own PostgreSQL connector as the source: they prove the
harness and the sink's configuration, which bottledwater's runs reuse with only the topics'
prefix changed. One Connect worker serves the module.
"""

import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "python"))
from kafka_connect import (JSON_CONVERTER, PORT_OFFSET_SINK_TESTS,  # noqa: E402
                           ConnectStandalone, apicurio_avro_converters, connect_port,
                           fetch_connect, fetch_plugins)

# One table per kind of key; the same DDL in the source and the sink database (the sink writes
# into tables it finds, as a production sink does). Every type the sink writes from Debezium's
# default mapping: enums, inet, cidr and macaddr are not among them (strings bound as varchar,
# which PostgreSQL refuses in such columns unless the source propagates the column types).
# REPLICA IDENTITY FULL in the source, as Debezium's documentation asks of a table with TOASTed
# columns that a sink replicates.
TABLES = {
    "kinds": """
        id bigint PRIMARY KEY,
        i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
        n numeric(12, 2), b boolean,
        t text, vc varchar(20), ch char(5),
        d date, tm time, ts timestamp, tstz timestamptz,
        by bytea, u uuid, j json, jb jsonb,
        ai integer[], at text[], iv interval,
        x xml, tz timetz, bt bit(3), vb varbit, m money""",
    "pairs": "a integer, b text, v text, PRIMARY KEY (a, b)",
}
KINDS_COLUMNS = ("id, i2, i4, i8, f4, f8, n, b, t, vc, ch, d, tm, ts, tstz, by, u, j, jb, ai, at, "
                 "iv, x, tz, bt, vb, m")
ROW = ("(%s, 7, -70000, 9000000000, 1.5, 2.25, 1234.56, true, 'text ' || %s, 'vc', 'ch', "
       "'2024-02-29', '13:14:15.123456', '2024-02-29 13:14:15.123456', "
       "'2024-02-29 13:14:15.123456+02', '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
       "'{\"k\": [1, 2]}', '{\"k\": {\"n\": null}}', '{1, NULL, 3}', '{a, \"b c\"}', "
       "'1 day 02:03:04.5', '<a>x</a>', '13:14:15.5+02', B'101', B'1100101', 12.34)")

JSON_CONVERTERS = {
    "key.converter": JSON_CONVERTER, "key.converter.schemas.enable": "true",
    "value.converter": JSON_CONVERTER, "value.converter.schemas.enable": "true",
}


def pg(env, dbname):
    return psycopg.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"],
                           dbname=dbname, autocommit=True)


@pytest.fixture(scope="module")
def connect(dev_env, tmp_path_factory):
    """One Kafka Connect worker for the module's tests."""
    worker = ConnectStandalone(dev_env["BW_KAFKA_BOOTSTRAP"], tmp_path_factory.mktemp("connect"),
                               fetch_connect(), port=connect_port(dev_env, PORT_OFFSET_SINK_TESTS),
                               plugins=fetch_plugins())
    try:
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def databases(dev_env):
    """A source and a sink database with the tables, created anew for each test; the source has
    a few rows before anything streams (they come as snapshot rows)."""
    tag = uuid.uuid4().hex[:8]
    names = {"source": f"kc_source_{tag}", "sink": f"kc_sink_{tag}", "tag": tag}
    admin = pg(dev_env, dev_env["PGDATABASE"])
    for role in ("source", "sink"):
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(names[role])))
        with pg(dev_env, names[role]) as conn:
            for table, columns in TABLES.items():
                conn.execute(f"CREATE TABLE public.{table} ({columns})")
                if role == "source":
                    conn.execute(f"ALTER TABLE public.{table} REPLICA IDENTITY FULL")
    with pg(dev_env, names["source"]) as conn:
        for i in (1, 2, 3):
            conn.execute(f"INSERT INTO public.kinds ({KINDS_COLUMNS}) VALUES {ROW}", (i, i))
        conn.execute("INSERT INTO public.pairs VALUES (1, 'x', 'one'), (2, 'y', 'two')")
    yield names
    for slot, pid in admin.execute(
            "SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = %s",
            (names["source"],)).fetchall():
        if pid:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 30
        while admin.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                            (slot,)).fetchone()[0] and time.monotonic() < deadline:
            time.sleep(0.1)
        admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    for role in ("source", "sink"):
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
            sql.Identifier(names[role])))
    admin.close()


def sink_config(env, sink_db, topics_regex, variant, converters):
    """The JDBC sink as a Debezium user configures it; only `topics.regex` differs between the
    sources (and the converters between the wire formats). Variant "envelope": the sink reads the change events themselves; "unwrap": they pass
    Debezium's ExtractNewRecordState first (deletes become tombstones) and a RegexRouter that
    names each topic after its table, as the unwrapped record no longer says it."""
    config = {
        "connector.class": "io.debezium.connector.jdbc.JdbcSinkConnector",
        "tasks.max": "1",
        "topics.regex": topics_regex,
        "connection.url": f"jdbc:postgresql://{env['PGHOST']}:{env['PGPORT']}/{sink_db}",
        "connection.username": env["PGUSER"],
        "connection.password": "unused (trust)",
        "insert.mode": "upsert",
        "delete.enabled": "true",
        "primary.key.mode": "record_key",
        "schema.evolution": "none",
        "collection.name.format": "${source.table}",
        # The sink copies each record's headers into a struct. Connect's default header converter
        # reads a JSON object header (Debezium's __debezium.oldkey / newkey on a key change) as
        # a map without a schema, which the sink cannot put there: headers are read as strings.
        "header.converter": "org.apache.kafka.connect.storage.StringConverter",
        **converters,
    }
    if variant == "unwrap":
        config.update({
            "transforms": "unwrap,route",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
            "transforms.unwrap.delete.tombstone.handling.mode": "tombstone",
            "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.route.regex": r"[^.]+\.public\.(.+)",
            "transforms.route.replacement": "$1",
            "collection.name.format": "${topic}",
        })
    return config


def table_rows(conn, table):
    return conn.execute(f"SELECT * FROM public.{table} ORDER BY 1, 2").fetchall()


def wait_sink_equals_source(env, connect, names, connectors, check, timeout=120):
    """Polls until every table of the sink holds exactly the source's rows, failing at once when
    a connector (or `check`) reports an error; on time-out fails with the first differences."""
    with pg(env, names["source"]) as source, pg(env, names["sink"]) as sink:
        want = {table: table_rows(source, table) for table in TABLES}
        deadline = time.monotonic() + timeout
        while True:
            got = {table: table_rows(sink, table) for table in TABLES}
            if got == want:
                return
            connect.check(*connectors)
            check()
            if time.monotonic() > deadline:
                diffs = {t: {"source only": [r for r in want[t] if r not in got[t]][:3],
                             "sink only": [r for r in got[t] if r not in want[t]][:3]}
                         for t in TABLES if got[t] != want[t]}
                pytest.fail(f"the sink's tables differ from the source's after {timeout} s: "
                            f"{diffs}")
            time.sleep(0.5)


def workload(env, source_db):
    """Inserts, updates, deletes and key changes, in one-statement and multi-statement
    transactions, over snapshot rows and streamed ones."""
    with pg(env, source_db) as conn:
        for i in (10, 11, 12, 14):
            conn.execute(f"INSERT INTO public.kinds ({KINDS_COLUMNS}) VALUES {ROW}", (i, i))
        # Every column NULL but the key; extreme values.
        conn.execute("INSERT INTO public.kinds (id) VALUES (13)")
        conn.execute("INSERT INTO public.kinds (id, i2, i4, i8, f8, n, t, d, ts, tstz, ai) VALUES "
                     "(15, -32768, 2147483647, -9223372036854775808, -1e300, -9999999999.99, "
                     "'', '0001-01-01', '1970-01-01 00:00:00', '2262-04-11 23:47:16.854775+00', "
                     "'{}')")
        # A value stored out of line (TOAST), then an update that leaves it as it is.
        conn.execute("UPDATE public.kinds SET t = repeat('toast ', 20000) WHERE id = 3")
        conn.execute("UPDATE public.kinds SET i4 = 33 WHERE id = 3")
        conn.execute("UPDATE public.kinds SET t = 'changed', jb = '[1]', u = NULL, f4 = NULL, "
                     "n = 0.01 WHERE id IN (1, 10)")
        conn.execute("DELETE FROM public.kinds WHERE id IN (2, 11)")
        conn.execute("UPDATE public.kinds SET id = 100 WHERE id = 12")
        with conn.transaction():
            conn.execute(f"INSERT INTO public.kinds ({KINDS_COLUMNS}) VALUES {ROW}", (20, 20))
            conn.execute("UPDATE public.kinds SET i2 = 2 WHERE id = 20")
            conn.execute("DELETE FROM public.kinds WHERE id = 14")
            conn.execute("UPDATE public.kinds SET id = 21, t = 'moved' WHERE id = 1")
        conn.execute("INSERT INTO public.pairs VALUES (3, 'z', 'three')")
        conn.execute("UPDATE public.pairs SET b = 'w' WHERE a = 1")
        conn.execute("UPDATE public.pairs SET v = 'TWO' WHERE a = 2")
        conn.execute("DELETE FROM public.pairs WHERE a = 3")


def run_pipeline(env, connect, names, source, prefix, variant, converters=JSON_CONVERTERS,
                 check=lambda: None):
    """Starts the source (a Connect source connector's name and config, or a callable that starts
    bottledwater, whose errors `check` raises) writing topics <prefix>.public.<table>, then the
    sink once they all exist (a sink subscribed by pattern would see a later one only minutes
    after); checks the snapshot rows, then the workload, in the sink."""
    sink_name = f"kc-sink-{names['tag']}"
    connectors = [sink_name]
    admin = AdminClient({"bootstrap.servers": env["BW_KAFKA_BOOTSTRAP"], "log_level": 0})
    topics = {f"{prefix}.public.{table}" for table in TABLES}
    try:
        if callable(source):
            source()
        else:
            connect.create_connector(*source)
            connectors.append(source[0])
            connect.wait_running(source[0])
        connect.wait_for(lambda: (check() or True) and topics <= set(
            admin.list_topics(timeout=10).topics), 120, f"topics {sorted(topics)}",
            watch=connectors)
        connect.create_connector(sink_name, sink_config(
            env, names["sink"], rf"{prefix}\.public\..*", variant, converters))
        connect.wait_running(sink_name)
        wait_sink_equals_source(env, connect, names, connectors, check)
        workload(env, names["source"])
        wait_sink_equals_source(env, connect, names, connectors, check)
    finally:
        for name in connectors:
            connect.delete_connector(name)


def debezium_source(env, names, prefix, converters):
    """Debezium's PostgreSQL connector on the source database's tables, with its defaults."""
    tag = names["tag"]
    return (f"kc-dbz-{tag}", {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        "database.hostname": env["PGHOST"], "database.port": env["PGPORT"],
        "database.user": env["PGUSER"], "database.password": "unused (trust)",
        "database.dbname": names["source"],
        "topic.prefix": prefix,
        "plugin.name": "pgoutput",
        "slot.name": f"dbz_{tag}",
        "publication.name": f"dbz_{tag}",
        "publication.autocreate.mode": "filtered",
        "table.include.list": "public.kinds,public.pairs",
        "snapshot.mode": "initial",
        **converters,
    })


@pytest.mark.parametrize("variant", ["envelope", "unwrap"])
def test_debezium_source_to_jdbc_sink_reference(dev_env, connect, databases, variant):
    """Debezium 3.6.1's PostgreSQL connector → Kafka (JSON with schemas) → Debezium's JDBC sink."""
    prefix = f"kcdbz_{databases['tag']}"
    run_pipeline(dev_env, connect, databases,
                 debezium_source(dev_env, databases, prefix, JSON_CONVERTERS), prefix, variant)


def test_debezium_source_to_jdbc_sink_reference_avro(dev_env, connect, databases):
    """The same in Avro: Debezium's events through Apicurio's AvroConverter and the registry."""
    prefix = f"kcdbz_{databases['tag']}"
    converters = apicurio_avro_converters(dev_env["BW_SCHEMA_REGISTRY_URL"])
    run_pipeline(dev_env, connect, databases,
                 debezium_source(dev_env, databases, prefix, converters), prefix, "envelope",
                 converters)


def start_bottledwater(env, names, output_format):
    """bottledwater streaming the source database under the debezium envelope."""
    tag, db = names["tag"], names["source"]
    registry = ({"schema_registry_url": env["BW_SCHEMA_REGISTRY_URL"]}
                if output_format == "avro" else {})
    with pg(env, env["PGDATABASE"]) as admin:
        for setting, value in (("envelope", "debezium"), ("output_format", output_format),
                               ("topic_prefix", f"kcbw_{tag}"), ("slot_name", f"bw_kc_{tag}"),
                               *registry.items()):
            admin.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(db), sql.Identifier("bottledwater", setting), sql.Literal(value)))
    with pg(env, db) as conn:
        conn.execute("CREATE EXTENSION bottledwater")
        conn.execute("SELECT bw_start(%s)", (db,))


def stop_bottledwater(env, names):
    with pg(env, names["source"]) as conn:
        conn.execute("SELECT bw_stop(%s)", (names["source"],))


def bottledwater_check(env, names):
    """Raises when the worker reports an error (bw_status says why)."""
    with pg(env, names["source"]) as conn:
        row = conn.execute("SELECT state, last_error FROM bw_status() WHERE database = %s "
                           "ORDER BY pid IS NULL LIMIT 1", (names["source"],)).fetchone()
    assert row is not None and row[0] not in ("error", "restarting"), f"bottledwater: {row}"


@pytest.mark.parametrize("variant", ["envelope", "unwrap"])
def test_bottledwater_json_to_jdbc_sink(dev_env, connect, databases, variant):
    """bottledwater (envelope debezium, JSON with schemas) → Kafka → the same JDBC sink, read with
    Kafka's JsonConverter (schemas.enable=true)."""
    bottledwater_to_sink(dev_env, connect, databases, "json", variant, JSON_CONVERTERS)


@pytest.mark.parametrize("variant", ["envelope", "unwrap"])
def test_bottledwater_avro_to_jdbc_sink(dev_env, connect, databases, variant):
    """bottledwater (envelope debezium, output_format avro, its schemas in the registry) → Kafka →
    the same JDBC sink, read with Apicurio's AvroConverter as a Confluent-compatible reader of
    that registry: the converter settings of Debezium's own Avro run above."""
    bottledwater_to_sink(dev_env, connect, databases, "avro", variant,
                         apicurio_avro_converters(dev_env["BW_SCHEMA_REGISTRY_URL"]))


def bottledwater_to_sink(env, connect, names, output_format, variant, converters):
    try:
        run_pipeline(env, connect, names, lambda: start_bottledwater(env, names, output_format),
                     f"kcbw_{names['tag']}", variant, converters,
                     lambda: bottledwater_check(env, names))
    finally:
        stop_bottledwater(env, names)
