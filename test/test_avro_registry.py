"""The worker in output_format avro against the real schema registry: every message read from
Kafka is decoded with fastavro using the schema fetched by its id from the registry, and must
equal what the output plugin's JSON format gives for the same rows; schema evolution while
streaming; schemas the registry rejects, under each on_error; registry outages and restarts.
"""

import io
import json
import subprocess
import time

import fastavro
import pytest
import requests

from conftest import DEV_ENV
from test_output_plugin_formats import (EDGE_BYTES, EDGE_TEXT, UPDATES, _columns, _rows,
                                        comparable, from_json_reader, read_avro_json)
from test_worker import bw_db, real_messages, status, wait_for  # noqa: F401 (fixture)


class Registry:
    """Fetches schemas by id from the registry (cached per instance: ids are immutable within
    one registry lifetime)."""

    def __init__(self, url):
        self.url = url
        self.cache = {}

    def schema(self, schema_id):
        if schema_id not in self.cache:
            r = requests.get(f"{self.url}/schemas/ids/{schema_id}", timeout=10)
            assert r.status_code == 200, f"schema id {schema_id}: {r.status_code} {r.text}"
            text = r.json()["schema"]
            self.cache[schema_id] = (json.loads(text), fastavro.parse_schema(json.loads(text)))
        return self.cache[schema_id]

    def decode(self, framed):
        """(schema id, schema JSON, datum) of a Confluent-framed message part; None for None."""
        if framed is None:
            return None
        assert framed[0] == 0, framed[:5]
        schema_id = int.from_bytes(framed[1:5], "big")
        raw, parsed = self.schema(schema_id)
        stream = io.BytesIO(framed[5:])
        datum = fastavro.schemaless_reader(stream, parsed)
        assert stream.read() == b"", "bytes left over after the datum"
        return schema_id, raw, datum

    def versions(self, subject):
        r = requests.get(f"{self.url}/subjects/{subject}/versions", timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


def use_avro(pg, bw_db, registry_url):
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.output_format = 'avro'")
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.schema_registry_url = "
               f"'{registry_url}'")


def stream_first_row(pg, bw_db, registry_url, create_table, insert_row):
    """The test database in avro with one table, its worker started and one row acknowledged;
    returns (connection, database name)."""
    use_avro(pg, bw_db, registry_url)
    db, name = bw_db["conn"], bw_db["name"]
    db.execute(create_table)
    db.execute("SELECT bw_start(%s)", (name,))
    db.execute(insert_row)
    wait_acknowledged(db, name, 1)
    return db, name


def wait_acknowledged(db, name, count, timeout=60.0):
    wait_for(lambda: status(db, name)["acknowledged"] >= count, timeout=timeout,
             what=f"{count} acknowledged messages")


@pytest.fixture
def json_slot(bw_db, pg):
    """A slot of the plugin on the test database, read in format json; dropped after."""
    slot = bw_db["slot"] + "_json"
    bw_db["conn"].execute("SELECT pg_create_logical_replication_slot(%s, 'bottledwater')",
                          (slot,))
    yield slot
    pg.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
               "WHERE slot_name = %s", (slot,))


def json_changes(db, slot, table):
    """(key text, value text or None) of the table's change rows in the JSON format."""
    out = []
    for (text,) in db.execute(
            "SELECT data FROM pg_logical_slot_peek_changes(%s, NULL, NULL, 'format', 'json', "
            "'include_transaction_details', 'false')", (slot,)):
        envelope = json.loads(text)
        if envelope.get("table") != table or envelope["op"] not in ("insert", "update",
                                                                     "delete"):
            continue
        out.append((json.dumps(envelope["key"]),
                    None if envelope["value"] is None else json.dumps(envelope["value"])))
    return out


def test_every_type_and_the_demo_decode_like_the_json_format(bw_db, pg, registry_url,
                                                             json_slot, consumer_factory,
                                                             consume):
    use_avro(pg, bw_db, registry_url)
    db = bw_db["conn"]
    s = bw_db["slot"]
    db.execute(f"CREATE TYPE bw_fmt_mood_{s} AS ENUM ('sad', 'ok', 'happy')")
    db.execute(f"CREATE TYPE bw_fmt_pair_{s} AS (i int, s text, ts timestamp)")
    db.execute(f"CREATE DOMAIN bw_fmt_positive_{s} AS int CHECK (VALUE > 0)")
    columns = _columns(s)
    db.execute("CREATE TABLE types (" +
               ", ".join(f"{n} {t}" for n, t in columns.items()) + ")")
    db.execute("CREATE TABLE test (id serial primary key, value text)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))

    params = {"edge_text": EDGE_TEXT, "edge_bytes": EDGE_BYTES}
    for row in _rows(s):
        exprs = ", ".join(row.values())
        db.execute(f"INSERT INTO types ({', '.join(row)}) VALUES ({exprs})",
                   {k: v for k, v in params.items() if f"%({k})s" in exprs})
    for statement in UPDATES:
        db.execute(statement.format(table="types"))
    db.execute("INSERT INTO test (value) VALUES ('hello world!')")
    db.execute("INSERT INTO test (value) VALUES ('hello')")
    db.execute("UPDATE test SET value = 'world' WHERE id = 2")
    db.execute("DELETE FROM test WHERE id = 2")

    reg = Registry(registry_url)
    floats = {n for n, t in columns.items() if t == "float4"}
    doubles = {n for n, t in columns.items() if t == "float8"}
    for table, expected_count in (("types", 10), ("test", 4)):
        topic = bw_db["prefix"] + table
        expected = json_changes(db, json_slot, f"public.{table}")
        assert len(expected) == expected_count
        consumer = consumer_factory([topic])
        messages = consume(consumer, expected_count, timeout=60)
        assert real_messages(consumer, 2.0) == []

        # Decode with the registry's schemas (by the ids in the frames).
        got, key_ids, value_ids = [], set(), set()
        for m in messages:
            key_id, key_schema, key = reg.decode(m.key())
            decoded_value = reg.decode(m.value())
            key_ids.add(key_id)
            value = None
            if decoded_value is not None:
                value_id, value_schema, value = decoded_value
                value_ids.add(value_id)
                assert value_schema["name"] == f"bottledwater.public.{table}"
            assert key_schema["name"] == f"bottledwater.public.key.{table}"
            got.append((key, value))
        assert len(key_ids) == len(value_ids) == 1
        # The ids are the ones registered under the topic's subjects.
        for subject, ids in ((topic + "-key", key_ids), (topic + "-value", value_ids)):
            latest = requests.get(f"{registry_url}/subjects/{subject}/versions/latest",
                                  timeout=10).json()
            assert {latest["id"]} == ids

        # The same changes from the JSON format, read with the same registry schemas.
        [key_id], [value_id] = key_ids, value_ids
        key_parsed, value_parsed = reg.schema(key_id)[1], reg.schema(value_id)[1]
        want = []
        for key_text, value_text in expected:
            key = read_avro_json(key_text, key_parsed)
            value = None if value_text is None else from_json_reader(
                read_avro_json(value_text, value_parsed), floats, doubles)
            want.append((key, value))
        assert comparable(got) == comparable(want)

        if table == "types":
            # Deletes (3, and 2 whose key moved to 20) are tombstones; row 3 is all NULLs.
            assert [(k["id"], v is None) for k, v in got] == [
                (1, False), (2, False), (3, False), (4, False), (5, False), (6, False),
                (1, False), (2, True), (20, False), (3, True)]
            assert got[2][1] == {n: (3 if n == "id" else None) for n in columns}
            assert got[0][1]["by"] == EDGE_BYTES and got[0][1]["t"] == EDGE_TEXT
        else:
            assert got == [
                ({"id": 1}, {"id": 1, "value": "hello world!"}),
                ({"id": 2}, {"id": 2, "value": "hello"}),
                ({"id": 2}, {"id": 2, "value": "world"}),
                ({"id": 2}, None),
            ]


def test_ddl_while_streaming_registers_new_versions(bw_db, pg, registry_url, consumer_factory,
                                                    consume):
    use_avro(pg, bw_db, registry_url)
    db = bw_db["conn"]
    db.execute("CREATE TABLE evo (id int primary key, a text)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    steps = [
        (None, "INSERT INTO evo VALUES (1, 'one')", {"id": 1, "a": "one"}),
        ("ALTER TABLE evo ADD COLUMN b int", "INSERT INTO evo VALUES (2, 'two', 2)",
         {"id": 2, "a": "two", "b": 2}),
        ("ALTER TABLE evo DROP COLUMN a", "INSERT INTO evo VALUES (3, 3)", {"id": 3, "b": 3}),
        ("ALTER TABLE evo ALTER COLUMN b TYPE text", "INSERT INTO evo VALUES (4, 'four')",
         {"id": 4, "b": "four"}),
        ("ALTER TABLE evo RENAME COLUMN b TO c", "INSERT INTO evo VALUES (5, 'five')",
         {"id": 5, "c": "five"}),
    ]
    for ddl, dml, _ in steps:
        if ddl:
            db.execute(ddl)
        db.execute(dml)
    db.execute("UPDATE evo SET c = 'one again' WHERE id = 1")  # a row from before the DDL

    topic = bw_db["prefix"] + "evo"
    reg = Registry(registry_url)
    messages = consume(consumer_factory([topic]), len(steps) + 1, timeout=60)
    decoded = [(reg.decode(m.key()), reg.decode(m.value())) for m in messages]
    values = [v[2] for _, v in decoded]
    assert values == [want for _, _, want in steps] + [{"id": 1, "c": "one again"}]
    value_ids = [v[0] for _, v in decoded]
    # Each schema version its own id, in order; the update after the last DDL keeps the last.
    assert len(set(value_ids[:5])) == 5, value_ids
    assert value_ids[5] == value_ids[4]
    # The key did not change: one key id throughout.
    assert len({k[0] for k, _ in decoded}) == 1
    # The registry holds every version, each id under the value subject.
    assert len(reg.versions(topic + "-value")) >= 5
    registered = set()
    for version in reg.versions(topic + "-value"):
        r = requests.get(f"{registry_url}/subjects/{topic}-value/versions/{version}", timeout=10)
        registered.add(r.json()["id"])
    assert set(value_ids) <= registered
    # The schemas themselves say what changed.
    fields = [[f["name"] for f in reg.schema(i)[0]["fields"]] for i in value_ids[:5]]
    assert fields == [["id", "a"], ["id", "a", "b"], ["id", "b"], ["id", "b"], ["id", "c"]]
    b_types = [reg.schema(i)[0]["fields"][1]["type"][:2] for i in value_ids[2:4]]
    assert b_types == [["null", "int"], ["null", "string"]]


def dev_env(command):
    subprocess.run([str(DEV_ENV), command], check=True, capture_output=True)


def registry_up(url):
    try:
        return requests.get(f"{url}/subjects", timeout=3).status_code == 200
    except requests.RequestException:
        return False


def latest_per_key(reg, messages):
    """key id → decoded value of the last message for that key."""
    out = {}
    for m in messages:
        _, _, key = reg.decode(m.key())
        value = reg.decode(m.value())
        out[key["id"]] = None if value is None else value[2]
    return out


def test_registry_outage_with_a_new_table_loses_nothing(bw_db, pg, registry_url,
                                                        consumer_factory, consume):
    db, name = stream_first_row(pg, bw_db, registry_url,
                                "CREATE TABLE before_outage (id int primary key, v text)",
                                "INSERT INTO before_outage VALUES (1, 'before')")
    try:
        dev_env("stop-registry")
        assert not registry_up(registry_url)
        # A table the worker has never seen: it must register, and cannot.
        db.execute("CREATE TABLE during_outage (id int primary key, v text)")
        for i in range(1, 6):
            db.execute("INSERT INTO during_outage VALUES (%s, %s)", (i, f"during {i}"))
        seen, deadline = [], time.monotonic() + 30
        while time.monotonic() < deadline:
            st = status(db, name)
            if (st["state"], st["last_error"]) not in seen:
                seen.append((st["state"], st["last_error"]))
            if st["state"] in ("backoff", "restarting") and st["last_error"]:
                break
            time.sleep(0.1)
        # The error names the registry (the state itself is checked by the test below).
        assert any(st in ("backoff", "restarting") and "schema registry" in (err or "")
                   for st, err in seen), f"states seen while the registry was down: {seen}"
    finally:
        dev_env("start-registry")
    wait_for(lambda: registry_up(registry_url), timeout=120, what="the registry back")
    db.execute("INSERT INTO during_outage VALUES (6, 'after')")
    db.execute("INSERT INTO before_outage VALUES (2, 'after')")

    reg = Registry(registry_url)
    during = consumer_factory([bw_db["prefix"] + "during_outage"])
    got = latest_per_key(reg, consume(during, 6, timeout=120) + real_messages(during, 3.0))
    assert got == {i: {"id": i, "v": f"during {i}" if i < 6 else "after"} for i in range(1, 7)}
    before = consumer_factory([bw_db["prefix"] + "before_outage"])
    messages = consume(before, 2, timeout=60) + real_messages(before, 3.0)
    assert latest_per_key(reg, messages) == {1: {"id": 1, "v": "before"},
                                             2: {"id": 2, "v": "after"}}


def test_registry_outage_shows_backoff_with_the_error(bw_db, pg, registry_url):
    db, name = stream_first_row(pg, bw_db, registry_url,
                                "CREATE TABLE seen (id int primary key)",
                                "INSERT INTO seen VALUES (1)")
    seen = []
    try:
        dev_env("stop-registry")
        db.execute("CREATE TABLE unseen (id int primary key)")
        db.execute("INSERT INTO unseen VALUES (1)")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            st = status(db, name)
            if (st["state"], st["last_error"]) not in seen:
                seen.append((st["state"], st["last_error"]))
            time.sleep(0.1)
    finally:
        dev_env("start-registry")
    wait_for(lambda: registry_up(registry_url), timeout=120, what="the registry back")
    errors = [err for st, err in seen if st == "backoff" and "schema registry" in (err or "")]
    assert errors, f"states seen while the registry was down: {seen}"
    # Backing off is waiting, not dying: the same worker process throughout.
    assert {st for st, _ in seen} <= {"streaming", "backoff"}, seen


def test_a_registry_restart_mid_stream_loses_nothing(bw_db, pg, registry_url, consumer_factory,
                                                     consume):
    """Ids are cached, so rows of known tables flow while the registry is down; the restarted
    registry (durable, as a production one is) still serves the ids they carry."""
    db, name = stream_first_row(pg, bw_db, registry_url,
                                "CREATE TABLE cached (id int primary key, v text)",
                                "INSERT INTO cached VALUES (1, 'before')")
    pid = status(db, name)["pid"]
    try:
        dev_env("stop-registry")
        db.execute("INSERT INTO cached VALUES (2, 'during')")
        wait_acknowledged(db, name, 2)
    finally:
        dev_env("start-registry")
    wait_for(lambda: registry_up(registry_url), timeout=120, what="the registry back")
    db.execute("INSERT INTO cached VALUES (3, 'after')")
    wait_acknowledged(db, name, 3)
    assert status(db, name)["pid"] == pid  # the same worker process all along

    reg = Registry(registry_url)
    messages = consume(consumer_factory([bw_db["prefix"] + "cached"]), 3, timeout=60)
    assert latest_per_key(reg, messages) == {
        1: {"id": 1, "v": "before"}, 2: {"id": 2, "v": "during"}, 3: {"id": 3, "v": "after"}}


def set_compatibility(registry_url, subject, level):
    r = requests.put(f"{registry_url}/config/{subject}", json={"compatibility": level},
                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
                     timeout=10)
    assert r.status_code == 200, r.text


def make_strict_table_incompatible(db, name, registry_url, topic):
    """Row 1 at schema (id, b int), then the subject made BACKWARD and b turned to text, which
    that rule rejects (a reader of string cannot read an int); row 2 and an update of row 1
    are written at the rejected version."""
    db.execute("INSERT INTO strict VALUES (1, 1)")
    wait_acknowledged(db, name, 1)
    set_compatibility(registry_url, topic + "-value", "BACKWARD")
    db.execute("ALTER TABLE strict ALTER COLUMN b TYPE text")
    db.execute("INSERT INTO strict VALUES (2, 'two')")
    db.execute("UPDATE strict SET b = 'one' WHERE id = 1")


def test_added_dropped_and_renamed_columns_pass_backward_compatibility(
        bw_db, pg, registry_url, consumer_factory, consume):
    """Every value field is a nullable union defaulting to null, NOT NULL columns too, so the
    usual DDL passes the BACKWARD rule most registries enforce."""
    db, name = stream_first_row(pg, bw_db, registry_url,
                                "CREATE TABLE compat (id int primary key, a text)",
                                "INSERT INTO compat VALUES (1, 'one')")
    topic = bw_db["prefix"] + "compat"
    set_compatibility(registry_url, topic + "-value", "BACKWARD")
    for ddl, dml in (
            ("ALTER TABLE compat ADD COLUMN b int", "INSERT INTO compat VALUES (2, 'two', 2)"),
            ("ALTER TABLE compat ADD COLUMN c int NOT NULL DEFAULT 7",
             "INSERT INTO compat VALUES (3, 'three', 3, 3)"),
            ("ALTER TABLE compat DROP COLUMN a", "INSERT INTO compat VALUES (4, 4, 4)"),
            ("ALTER TABLE compat RENAME COLUMN b TO d", "INSERT INTO compat VALUES (5, 5, 5)")):
        db.execute(ddl)
        db.execute(dml)
    wait_acknowledged(db, name, 5)
    st = status(db, name)
    assert st["state"] == "streaming" and st["last_error"] is None, st
    reg = Registry(registry_url)
    messages = consume(consumer_factory([topic]), 5, timeout=60)
    assert [reg.decode(m.value())[2] for m in messages] == [
        {"id": 1, "a": "one"}, {"id": 2, "a": "two", "b": 2},
        {"id": 3, "a": "three", "b": 3, "c": 3}, {"id": 4, "b": 4, "c": 4},
        {"id": 5, "d": 5, "c": 5}]
    assert len({reg.decode(m.value())[0] for m in messages}) == 5
    assert len(reg.versions(topic + "-value")) == 5


def reload_with_on_error_log(pg, request):
    """on_error = log in postgresql.auto.conf, read by the running worker on SIGHUP."""
    def reset():
        pg.execute("ALTER SYSTEM RESET bottledwater.on_error")
        pg.execute("SELECT pg_reload_conf()")
    request.addfinalizer(reset)
    pg.execute("ALTER SYSTEM SET bottledwater.on_error = 'log'")
    pg.execute("SELECT pg_reload_conf()")
    time.sleep(1.0)  # the postmaster signals the worker, which reloads between passes


@pytest.mark.parametrize("set_by", ["database setting", "reload while streaming"])
def test_a_rejected_schema_under_on_error_log_skips_that_version_only(
        bw_db, pg, registry_url, consumer_factory, consume, set_by, request):
    use_avro(pg, bw_db, registry_url)
    db = bw_db["conn"]
    name = bw_db["name"]
    if set_by == "database setting":
        pg.execute(f"ALTER DATABASE {name} SET bottledwater.on_error = 'log'")
    db.execute("CREATE TABLE strict (id int primary key, b int)")
    db.execute("CREATE TABLE other (id int primary key)")
    db.execute("SELECT bw_start(%s)", (name,))
    pid = status(db, name)["pid"]
    if set_by == "reload while streaming":
        reload_with_on_error_log(pg, request)
    topic = bw_db["prefix"] + "strict"
    make_strict_table_incompatible(db, name, registry_url, topic)
    db.execute("INSERT INTO other VALUES (1)")
    # Back to the registered shape: the table streams again.
    db.execute("ALTER TABLE strict ALTER COLUMN b TYPE int USING length(b)")
    db.execute("INSERT INTO strict VALUES (3, 3)")
    wait_acknowledged(db, name, 3)

    st = status(db, name)
    assert st["pid"] == pid, "the worker must not restart under on_error = log"
    assert st["skipped"] == 2
    assert f'"{topic}-value"' in st["last_error"] and "409" in st["last_error"], st
    reg = Registry(registry_url)
    strict = consumer_factory([topic])
    messages = consume(strict, 2, timeout=60) + real_messages(strict, 2.0)
    assert [reg.decode(m.value())[2] for m in messages] == [{"id": 1, "b": 1}, {"id": 3, "b": 3}]
    other = consumer_factory([bw_db["prefix"] + "other"])
    assert [reg.decode(m.value())[2] for m in consume(other, 1, timeout=60)] == [{"id": 1}]


def test_a_rejected_schema_under_on_error_exit_holds_the_stream_until_accepted(
        bw_db, pg, registry_url, consumer_factory, consume):
    use_avro(pg, bw_db, registry_url)
    db = bw_db["conn"]
    name = bw_db["name"]
    db.execute("CREATE TABLE strict (id int primary key, b int)")
    db.execute("SELECT bw_start(%s)", (name,))
    topic = bw_db["prefix"] + "strict"
    make_strict_table_incompatible(db, name, registry_url, topic)
    wait_for(lambda: f'"{topic}-value"' in (status(db, name)["last_error"] or ""),
             timeout=30, what="the rejection in bw_status")
    assert "409" in status(db, name)["last_error"]
    consumer = consumer_factory([topic])
    assert [m.value() is not None for m in consume(consumer, 1, timeout=60)] == [True]
    assert real_messages(consumer, 8.0) == [], "nothing after the rejected schema"

    # The operator relaxes the rule; the restarted worker replays from the slot.
    set_compatibility(registry_url, topic + "-value", "NONE")
    reg = Registry(registry_url)
    messages = consume(consumer, 2, timeout=90) + real_messages(consumer, 3.0)
    assert latest_per_key(reg, messages) == {1: {"id": 1, "b": "one"}, 2: {"id": 2, "b": "two"}}
    assert status(db, name)["skipped"] == 0
