"""The worker end to end: bw_start streams a database's committed changes to a real Kafka broker,
acknowledged before the slot advances; bw_stop, bw_status and the SQL surface's errors.

Each test gets a database of its own with its own slot and a topic prefix of its own, so topics
left from earlier runs never mix into what a test reads.
"""

import io
import json
import os
import random
import time
import uuid

import fastavro
import psycopg
import pytest
import requests

from test_worker_faults import final_state_in_kafka


@pytest.fixture
def bw_db(pg, pg_connect):
    """A fresh database streamed in output_format json; the worker and slot are removed after.
    The bw_* functions are called from this database, where the extension is current."""
    tag = uuid.uuid4().hex[:10]
    name = f"bw_worker_{tag}"
    pg.execute(f"CREATE DATABASE {name}")
    pg.execute(f"ALTER DATABASE {name} SET bottledwater.output_format = 'json'")
    pg.execute(f"ALTER DATABASE {name} SET bottledwater.slot_name = 'bw_{tag}'")
    pg.execute(f"ALTER DATABASE {name} SET bottledwater.topic_prefix = 'bwtest_{tag}.'")
    conn = pg_connect(name)
    conn.execute("CREATE EXTENSION bottledwater")
    yield {"name": name, "conn": conn, "prefix": f"bwtest_{tag}.", "slot": f"bw_{tag}"}
    conn.execute("SELECT bw_stop(%s)", (name,))
    pg.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
               "WHERE slot_name = %s", (f"bw_{tag}",))
    conn.close()
    pg.execute(f"DROP DATABASE {name} WITH (FORCE)")


def status(conn, dbname):
    row = conn.execute(
        "SELECT state, pid, messages_produced, messages_acknowledged, messages_skipped, "
        "confirmed_lsn, last_commit_lsn, last_error, last_error_hint, slot_name FROM bw_status() "
        "WHERE database = %s", (dbname,)).fetchone()
    assert row is not None, f"bw_status() has no row for {dbname}"
    keys = ("state", "pid", "produced", "acknowledged", "skipped", "confirmed_lsn",
            "last_commit_lsn", "last_error", "hint", "slot_name")
    return dict(zip(keys, row))


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def real_messages(consumer, seconds):
    """What arrives within `seconds`, leaving out the consumer's transient errors (a topic that
    does not exist yet, the end of a partition)."""
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            got.append(msg)
    return got


def key_values(messages):
    return [(m.key().decode() if m.key() is not None else None,
             m.value().decode() if m.value() is not None else None) for m in messages]


def test_issue_demo_byte_for_byte(bw_db, consumer_factory, consume):
    db = bw_db["conn"]
    db.execute("CREATE TABLE test (id serial primary key, value text)")
    pid = db.execute("SELECT bw_start(%s)", (bw_db["name"],)).fetchone()[0]
    assert pid > 0
    db.execute("INSERT INTO test (value) VALUES ('hello world!')")
    db.execute("INSERT INTO test (value) VALUES ('hello')")
    db.execute("UPDATE test SET value = 'world' WHERE id = 2")
    db.execute("DELETE FROM test WHERE id = 2")

    consumer = consumer_factory([bw_db["prefix"] + "test"])
    assert key_values(consume(consumer, 4)) == [
        ('{"id": {"int": 1}}', '{"id": {"int": 1}, "value": {"string": "hello world!"}}'),
        ('{"id": {"int": 2}}', '{"id": {"int": 2}, "value": {"string": "hello"}}'),
        ('{"id": {"int": 2}}', '{"id": {"int": 2}, "value": {"string": "world"}}'),
        ('{"id": {"int": 2}}', None),
    ]


def test_status_shows_streaming_and_acknowledged_counts(bw_db, pg):
    db = bw_db["conn"]
    db.execute("CREATE TABLE counted (id int primary key)")
    pid = db.execute("SELECT bw_start(%s)", (bw_db["name"],)).fetchone()[0]
    db.execute("INSERT INTO counted SELECT generate_series(1, 500)")
    lsn = db.execute("SELECT pg_current_wal_lsn()").fetchone()[0]

    done = wait_for(lambda: (lambda s: s if s["acknowledged"] == 500 else None)(
        status(db, bw_db["name"])), what="500 acknowledged messages")
    assert done["state"] == "streaming"
    assert done["pid"] == pid
    assert done["produced"] == 500
    assert done["slot_name"] == bw_db["slot"]
    # The slot has moved past the insert's commit, on disk and in bw_status.
    wait_for(lambda: pg.execute(
        "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
        (lsn, bw_db["slot"])).fetchone()[0], what="the slot to confirm the insert")
    assert status(db, bw_db["name"])["confirmed_lsn"] is not None


def test_the_slot_confirms_what_kafka_acknowledged_before_sleeping_the_poll_interval(
        bw_db, pg, consumer_factory, consume):
    """A worker that keeps up sleeps the poll interval between passes: what Kafka acknowledged
    before it sleeps is confirmed on the slot then, not after the sleep."""
    db = bw_db["conn"]
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.poll_interval_ms = 10000")
    db.execute("CREATE TABLE prompt (id int primary key)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO prompt VALUES (1)")
    lsn = db.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    consume(consumer_factory([bw_db["prefix"] + "prompt"]), 1, timeout=60)
    # In Kafka, so acknowledged to the worker within the pass that sent it.
    in_kafka = time.monotonic()
    wait_for(lambda: pg.execute(
        "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
        (lsn, bw_db["slot"])).fetchone()[0], timeout=30, what="the slot to confirm the insert")
    waited = time.monotonic() - in_kafka
    assert waited < 5.0, f"the slot confirmed the row {waited:.1f} s after Kafka held it"


def test_start_twice_returns_the_running_pid_with_a_notice(bw_db):
    db = bw_db["conn"]
    notices = []
    db.add_notice_handler(lambda diag: notices.append(diag.message_primary))
    first = db.execute("SELECT bw_start(%s)", (bw_db["name"],)).fetchone()[0]
    second = db.execute("SELECT bw_start(%s)", (bw_db["name"],)).fetchone()[0]
    assert first == second
    assert any("already streamed by pid" in n for n in notices), notices


def test_start_on_a_missing_database_errors(bw_db):
    with pytest.raises(psycopg.errors.InvalidCatalogName, match="does not exist"):
        bw_db["conn"].execute("SELECT bw_start('bw_no_such_database')")


def test_output_format_avro_without_a_registry_is_refused_with_a_hint(bw_db, pg):
    db = bw_db["conn"]
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.output_format = 'avro'")
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.schema_registry_url = ''")
    with pytest.raises(psycopg.Error) as raised:
        db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    assert "needs bottledwater.schema_registry_url" in raised.value.diag.message_primary
    assert "ALTER DATABASE" in raised.value.diag.message_hint
    assert status(db, bw_db["name"])["state"] == "error"


def test_output_format_avro_frames_registered_schemas(bw_db, pg, registry_url, consumer_factory,
                                                      consume):
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.output_format = 'avro'")
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.schema_registry_url = "
               f"'{registry_url}'")
    db = bw_db["conn"]
    db.execute("CREATE TABLE av (id int primary key, v text)")
    db.execute("INSERT INTO av VALUES (1, 'from the snapshot')")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO av VALUES (2, 'streamed')")
    db.execute("DELETE FROM av WHERE id = 1")

    topic = bw_db["prefix"] + "av"
    messages = consume(consumer_factory([topic]), 3)

    def decode(framed, subject):
        assert framed[0] == 0
        schema_id = int.from_bytes(framed[1:5], "big")
        schema = requests.get(f"{registry_url}/schemas/ids/{schema_id}", timeout=10).json()
        latest = requests.get(f"{registry_url}/subjects/{subject}/versions/latest",
                              timeout=10).json()
        assert latest["id"] == schema_id
        parsed = fastavro.parse_schema(json.loads(schema["schema"]))
        return fastavro.schemaless_reader(io.BytesIO(framed[5:]), parsed)

    got = [(decode(m.key(), topic + "-key")["id"],
            decode(m.value(), topic + "-value")["v"] if m.value() is not None else None)
           for m in messages]
    assert got == [(1, "from the snapshot"), (2, "streamed"), (1, None)]


def test_stop_keeps_the_slot_and_start_resumes_where_it_stopped(bw_db, pg, consumer_factory,
                                                                 consume):
    db = bw_db["conn"]
    db.execute("CREATE TABLE resumed (id int primary key, v text)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO resumed VALUES (1, 'before stop')")
    wait_for(lambda: status(db, bw_db["name"])["acknowledged"] == 1, what="the first message")

    assert db.execute("SELECT bw_stop(%s)", (bw_db["name"],)).fetchone()[0] is True
    stopped = status(db, bw_db["name"])
    assert stopped["state"] == "stopped" and stopped["pid"] is None
    assert pg.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                      (bw_db["slot"],)).fetchone()[0] == 1

    db.execute("INSERT INTO resumed VALUES (2, 'while stopped')")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO resumed VALUES (3, 'after restart')")

    consumer = consumer_factory([bw_db["prefix"] + "resumed"])
    values = [json.loads(v)["v"]["string"] for _, v in key_values(consume(consumer, 3))]
    assert values == ["before stop", "while stopped", "after restart"]


def test_rolled_back_work_produces_nothing(bw_db, pg, consumer_factory, consume):
    db = bw_db["conn"]
    db.execute("CREATE TABLE rb (id int primary key)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    with db.transaction():
        db.execute("INSERT INTO rb VALUES (1)")
        try:
            with db.transaction():
                db.execute("INSERT INTO rb VALUES (2)")
                raise RuntimeError("roll back the savepoint")
        except RuntimeError:
            pass
    db.execute("BEGIN")
    db.execute("INSERT INTO rb VALUES (3)")
    db.execute("ROLLBACK")
    db.execute("INSERT INTO rb VALUES (4)")

    consumer = consumer_factory([bw_db["prefix"] + "rb"])
    keys = [k for k, _ in key_values(consume(consumer, 2))]
    assert keys == ['{"id": {"int": 1}}', '{"id": {"int": 4}}']
    assert real_messages(consumer, 2.0) == []


def test_topics_of_other_schemas_and_illegal_names(bw_db, consumer_factory, consume):
    db = bw_db["conn"]
    db.execute('CREATE SCHEMA "My Schema"')
    db.execute('CREATE TABLE "My Schema"."t$1" (id int primary key)')
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute('INSERT INTO "My Schema"."t$1" VALUES (7)')
    consumer = consumer_factory([bw_db["prefix"] + "My_x20Schema.t_x241"])
    assert key_values(consume(consumer, 1)) == [('{"id": {"int": 7}}', '{"id": {"int": 7}}')]


def test_two_tables_never_share_a_topic(bw_db, consumer_factory, consume):
    """Dots inside names and a literal "_x" are escaped, so names that read alike get topics of
    their own; topics Kafka would take for one another ('.' versus '_') are a clear error that
    names both tables, not rows of two tables in one topic."""
    db = bw_db["conn"]
    prefix = bw_db["prefix"]
    db.execute('CREATE SCHEMA "a.b"')
    db.execute('CREATE SCHEMA "a"')
    db.execute('CREATE TABLE "a.b"."c" (id int primary key)')
    db.execute('CREATE TABLE "a"."b.c" (id int primary key)')
    db.execute('CREATE TABLE "sp ace" (id int primary key)')
    db.execute('CREATE TABLE "sp_x20ace" (id int primary key)')
    db.execute("CREATE SCHEMA x")
    db.execute("CREATE TABLE x.y (id int primary key)")
    db.execute("CREATE TABLE x_y (id int primary key)")
    name = bw_db["name"]
    db.execute("SELECT bw_start(%s)", (name,))
    for table, row in (('"a.b"."c"', 1), ('"a"."b.c"', 2), ('"sp ace"', 3), ('"sp_x20ace"', 4),
                       ("x.y", 5)):
        db.execute(f"INSERT INTO {table} VALUES ({row})")
    for topic, row in (("a_x2eb.c", 1), ("a.b_x2ec", 2), ("sp_x20ace", 3), ("sp_x5fx20ace", 4),
                       ("x.y", 5)):
        consumer = consumer_factory([prefix + topic])
        got = key_values(consume(consumer, 1) + real_messages(consumer, 1.0))
        assert got == [(f'{{"id": {{"int": {row}}}}}', f'{{"id": {{"int": {row}}}}}')], topic

    db.execute("INSERT INTO x_y VALUES (6)")
    error = wait_for(lambda: (lambda e: e if "collide" in e else None)(
        status(db, name)["last_error"] or ""), what="the collision in bw_status")
    assert f'table "public.x_y" would be written to topic "{prefix}x_y"' in error, error
    assert f'topic "{prefix}x.y" of table "x.y"' in error, error
    assert [k for k, _ in key_values(real_messages(consumer_factory([prefix + "x.y"]), 2.0))] \
        == ['{"id": {"int": 5}}']


def test_two_databases_with_the_default_slot_and_prefix(pg, pg_connect, consumer_factory,
                                                        consume):
    """Each database gets a slot of its own by default; a second database that would write the
    same topics (the same topic_prefix, here the default empty one) is refused with what to
    set, and streams once it has a prefix of its own."""
    tag = uuid.uuid4().hex[:10]
    first, second = f"bw_two_a_{tag}", f"bw_two_b_{tag}"
    table = f"tw_{tag}"
    conns = {}
    for name in (first, second):
        pg.execute(f"CREATE DATABASE {name}")
        pg.execute(f"ALTER DATABASE {name} SET bottledwater.output_format = 'json'")
        conns[name] = pg_connect(name)
        conns[name].execute("CREATE EXTENSION bottledwater")
        conns[name].execute(f"CREATE TABLE {table} (id int primary key)")
    try:
        conns[first].execute("SELECT bw_start(%s)", (first,))
        assert status(conns[first], first)["slot_name"] == f"bottledwater_{first}"
        with pytest.raises(psycopg.Error) as raised:
            conns[second].execute("SELECT bw_start(%s)", (second,))
        message = raised.value.diag.message_primary
        assert f'the worker of database "{first}" already writes to Kafka with topic prefix ""' \
            in message, message

        pg.execute(f"ALTER DATABASE {second} SET bottledwater.topic_prefix = '{second}.'")
        conns[second].execute("SELECT bw_start(%s)", (second,))
        assert status(conns[second], second)["slot_name"] == f"bottledwater_{second}"
        conns[first].execute(f"INSERT INTO {table} VALUES (1)")
        conns[second].execute(f"INSERT INTO {table} VALUES (2)")
        for topic, row in ((table, 1), (f"{second}.{table}", 2)):
            consumer = consumer_factory([topic])
            assert [k for k, _ in key_values(consume(consumer, 1) + real_messages(consumer, 1.0))] \
                == [f'{{"id": {{"int": {row}}}}}'], topic
    finally:
        for name in (first, second):
            conns[name].execute("SELECT bw_stop(%s)", (name,))
            conns[name].close()
            pg.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_rows_present_before_start_arrive_from_the_snapshot(bw_db, consumer_factory, consume):
    db = bw_db["conn"]
    db.execute("CREATE TABLE early (id int primary key, v text)")
    db.execute("CREATE TABLE unkeyed (v text)")
    # A TOASTed value: the snapshot must send it, not the unchanged-TOAST marker.
    big = "x" * 100000
    db.execute("INSERT INTO early VALUES (1, 'one'), (2, %s)", (big,))
    db.execute("INSERT INTO unkeyed VALUES ('left out')")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO early VALUES (3, 'after start')")

    consumer = consumer_factory([bw_db["prefix"] + "early"])
    got = [(json.loads(k)["id"]["int"], json.loads(v)["v"]["string"])
           for k, v in key_values(consume(consumer, 3))]
    assert got == [(1, "one"), (2, big), (3, "after start")]
    status_row = status(db, bw_db["name"])
    assert status_row["state"] == "streaming"


def test_a_200k_row_table_arrives_complete(bw_db, consumer_factory, consume):
    db = bw_db["conn"]
    db.execute("CREATE TABLE big (id int primary key, v int)")
    db.execute("INSERT INTO big SELECT g, g * 2 FROM generate_series(1, 200000) g")
    db.execute("ANALYZE big")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    wait_for(lambda: status(db, bw_db["name"])["state"] == "streaming", timeout=120,
             what="the snapshot to finish")
    row = db.execute("SELECT snapshot_tables_done, snapshot_tables_total, snapshot_rows_done, "
                     "messages_acknowledged FROM bw_status() WHERE database = %s",
                     (bw_db["name"],)).fetchone()
    assert row[0] == row[1] and row[2] == 200000 and row[3] >= 200000

    consumer = consumer_factory([bw_db["prefix"] + "big"])
    ids = {json.loads(m.key())["id"]["int"] for m in consume(consumer, 200000, timeout=120)}
    assert ids == set(range(1, 200001))


def test_mixed_workload_last_message_per_key_is_the_final_row(bw_db, consumer_factory):
    db = bw_db["conn"]
    tables = ("m1", "m2", "m3")
    for table in tables:
        db.execute(f"CREATE TABLE {table} (id int primary key, v int)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    rng = random.Random(4)
    for _ in range(3000):
        table = rng.choice(tables)
        key = rng.randrange(200)
        action = rng.random()
        with db.transaction():
            if action < 0.5:
                db.execute(f"INSERT INTO {table} VALUES (%s, %s) ON CONFLICT (id) "
                           "DO UPDATE SET v = excluded.v", (key, rng.randrange(10**6)))
            elif action < 0.8:
                db.execute(f"UPDATE {table} SET v = v + 1 WHERE id = %s", (key,))
            else:
                db.execute(f"DELETE FROM {table} WHERE id = %s", (key,))
        if action > 0.95:
            # A transaction that rolls back must leave no trace in Kafka.
            db.execute("BEGIN")
            db.execute(f"UPDATE {table} SET v = -1 WHERE id = %s", (key,))
            db.execute("ROLLBACK")
    for table in tables:
        expected = dict(db.execute(f"SELECT id, v FROM {table}").fetchall())
        final_state_in_kafka(consumer_factory, bw_db["prefix"] + table, expected)


def test_unkeyed_tables_are_skipped_unless_allowed(bw_db, pg, consumer_factory, consume):
    db = bw_db["conn"]
    db.execute("CREATE TABLE keyless (v text)")
    db.execute("CREATE TABLE keyed (id int primary key)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO keyless VALUES ('skipped')")
    db.execute("INSERT INTO keyed VALUES (1)")
    # The keyed table's message comes after the skipped change, so none can be still on its way.
    consume(consumer_factory([bw_db["prefix"] + "keyed"]), 1)
    assert real_messages(consumer_factory([bw_db["prefix"] + "keyless"]), 3.0) == []

    db.execute("SELECT bw_stop(%s)", (bw_db["name"],))
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.allow_unkeyed = on")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO keyless VALUES ('streamed')")
    got = key_values(consume(consumer_factory([bw_db["prefix"] + "keyless"]), 1))
    assert got == [(None, '{"v": {"string": "streamed"}}')]


def test_unreachable_broker_starts_and_shows_backoff(bw_db, pg):
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.kafka_brokers = '127.0.0.1:9'")
    db = bw_db["conn"]
    db.execute("CREATE TABLE waiting (id int primary key)")
    pid = db.execute("SELECT bw_start(%s)", (bw_db["name"],)).fetchone()[0]
    db.execute("INSERT INTO waiting VALUES (1)")
    row = wait_for(lambda: (lambda s: s if s["state"] == "backoff" else None)(
        status(db, bw_db["name"])), what="backoff")
    assert row["pid"] == pid and row["last_error"]
    assert row["produced"] == 1 and row["acknowledged"] == 0
    # Nothing acknowledged, so the slot has not moved past the insert.
    lsn = db.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    assert db.execute("SELECT confirmed_flush_lsn < %s::pg_lsn FROM pg_replication_slots "
                      "WHERE slot_name = %s", (lsn, bw_db["slot"])).fetchone()[0]


def test_stop_during_the_snapshot_leaves_no_slot_and_a_new_start_redoes_it(bw_db, pg):
    db = bw_db["conn"]
    db.execute("CREATE TABLE slow (id int primary key, v int)")
    db.execute("INSERT INTO slow SELECT g, g FROM generate_series(1, 500000) g")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    assert status(db, bw_db["name"])["state"] == "snapshot"
    assert db.execute("SELECT bw_stop(%s)", (bw_db["name"],)).fetchone()[0] is True
    assert pg.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                      (bw_db["slot"],)).fetchone()[0] == 0

    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    done = wait_for(lambda: (lambda s: s if s["state"] == "streaming" else None)(
        status(db, bw_db["name"])), timeout=120, what="the second snapshot")
    assert done["acknowledged"] == 500000
    assert pg.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                      (bw_db["slot"],)).fetchone()[0] == 1
