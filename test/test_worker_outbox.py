"""The outbox end to end: bw_emit() in a transaction reaches Kafka in commit order with that
transaction's rows, with its key and value byte for byte and the bw.* headers; a rolled-back
bw_emit never arrives; an illegal topic is an error at bw_emit time; a message over the
producer's message.max.bytes follows on_error. Under the debezium envelope in Avro the value is
Debezium's op "m" event, registered under <topic>-value, whose subject no table shares."""

import uuid

import psycopg
import pytest
import requests

from test_avro_registry import Registry, use_avro
from test_kafka_refusals import PRODUCER_LIMIT, BIG, log_size, server_log_since, set_db
from test_worker import bw_db, real_messages, status, wait_for  # noqa: F401 (fixture)
from test_worker_headers import headers_of, lsn_value


def debezium_avro(pg, bw_db, registry_url, **settings):
    """The debezium envelope in Avro; returns its logical name."""
    use_avro(pg, bw_db, registry_url)
    set_db(pg, bw_db, envelope="debezium", **settings)
    return bw_db["prefix"].rstrip(".")


def test_an_order_and_its_event_arrive_in_commit_order(bw_db, consumer_factory, consume):  # noqa: F811
    db = bw_db["conn"]
    events = f"bwtest_outbox_{uuid.uuid4().hex[:10]}"
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, item text)")
    # The headers show the commit order across both topics.
    db.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.message_headers = on")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    binary_key = bytes([0, 255, 1, 10])

    with db.transaction():
        db.execute("INSERT INTO orders VALUES (1, 'book')")
        db.execute("SELECT bw_emit(%s, '1', %s)", (events, '{"order": 1, "item": "book"}'))
    with db.transaction() as rolled_back:
        db.execute("SELECT bw_emit(%s, 'never', 'rolled back')", (events,))
        raise psycopg.Rollback(rolled_back)
    with db.transaction():
        db.execute("SELECT bw_emit(%s::text, %s::bytea, NULL::bytea)", (events, binary_key))
        db.execute("INSERT INTO orders VALUES (2, 'pen')")

    consumer = consumer_factory([bw_db["prefix"] + "orders", events])
    got = consume(consumer, 4) + real_messages(consumer, 2.0)
    assert len(got) == 4, [(m.topic(), m.key()) for m in got]
    outbox = [m for m in got if m.topic() == events]
    assert [(m.key(), m.value()) for m in outbox] == [
        (b"1", b'{"order": 1, "item": "book"}'), (binary_key, None)]

    # Commit order across both topics: each transaction's headers share its LSN, and the
    # positions within a transaction follow the statements.
    position = {(headers_of(m)["bw.lsn"], int(headers_of(m)["bw.txn_index"])):
                (m.topic(), headers_of(m)["bw.op"]) for m in got}
    lsns = sorted({lsn for lsn, _ in position}, key=lsn_value)
    assert len(lsns) == 2
    assert [position[(lsns[0], 0)], position[(lsns[0], 1)]] == [
        (bw_db["prefix"] + "orders", "insert"), (events, "message")]
    assert [position[(lsns[1], 0)], position[(lsns[1], 1)]] == [
        (events, "message"), (bw_db["prefix"] + "orders", "insert")]
    assert set(headers_of(outbox[0])) == {"bw.op", "bw.lsn", "bw.xid", "bw.commit_time",
                                          "bw.txn_index"}


def test_an_illegal_topic_is_an_error_at_bw_emit(bw_db):  # noqa: F811
    db = bw_db["conn"]
    with pytest.raises(psycopg.errors.InvalidParameterValue) as raised:
        db.execute("SELECT bw_emit('orders events', 'k', 'v')")
    db.rollback()
    assert "not a legal Kafka topic name" in str(raised.value)
    assert raised.value.diag.message_hint


@pytest.mark.parametrize("on_error", ["exit", "log"])
@pytest.mark.parametrize("form", ["row", "debezium-avro"])
def test_a_message_over_the_producers_limit_follows_on_error(bw_db, pg, dev_env, on_error,  # noqa: F811
                                                             consumer_factory, consume, form,
                                                             registry_url):
    """In either form: as given, or Debezium's op "m" event in Avro around the value."""
    name = bw_db["name"]
    set_db(pg, bw_db, on_error=on_error, kafka_config=f"message.max.bytes={PRODUCER_LIMIT}")
    if form == "debezium-avro":
        debezium_avro(pg, bw_db, registry_url)
    db = bw_db["conn"]
    events = f"bwtest_outbox_{uuid.uuid4().hex[:10]}"
    start = log_size(dev_env)
    db.execute("SELECT bw_start(%s)", (name,))
    pid = status(db, name)["pid"]
    db.execute("SELECT bw_emit(%s, 'small', 'fits')", (events,))
    db.execute("SELECT bw_emit(%s, 'huge', repeat('x', %s))", (events, BIG))
    db.execute("SELECT bw_emit(%s, 'after', 'fits too')", (events,))
    consumer = consumer_factory([events])
    what = f'the outbox message to topic "{events}", key huge'
    if on_error == "log":
        got = consume(consumer, 2) + real_messages(consumer, 2.0)
        assert [m.key() for m in got] == [b"small", b"after"]
        if form == "debezium-avro":
            values = [Registry(registry_url).decode(m.value())[2] for m in got]
            assert [v["message"]["content"] for v in values] == [b"fits", b"fits too"]
        st = status(db, name)
        assert st["pid"] == pid and st["skipped"] == 1, st
    else:
        wait_for(lambda: what in (status(db, name)["last_error"] or ""),
                 what="the refusal in bw_status")
        got = consume(consumer, 1) + real_messages(consumer, 3.0)
        assert [m.key() for m in got] == [b"small"]
        st = status(db, name)
    assert "message.max.bytes" in st["last_error"], st
    assert what in server_log_since(dev_env, start)


def test_debezium_op_m_in_avro_is_read_through_the_registry(bw_db, pg, registry_url,  # noqa: F811
                                                            consumer_factory, consume):
    """Under the debezium envelope in Avro a bw_emit() value is Debezium's op "m" event, framed
    with the id of its schema under <topic>-value: a consumer decodes it with the schema the
    registry gives for that id. The key goes as given, a null value stays a tombstone."""
    logical = debezium_avro(pg, bw_db, registry_url)
    db = bw_db["conn"]
    events = f"{logical}_events"
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, item text)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    with db.transaction():
        xid = int(db.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
        db.execute("INSERT INTO orders VALUES (1, 'book')")
        db.execute("SELECT bw_emit(%s, '1', %s)", (events, '{"order": 1}'))
    db.execute("SELECT bw_emit(%s, '1', NULL::text)", (events,))

    consumer = consumer_factory([events])
    got = consume(consumer, 2) + real_messages(consumer, 2.0)
    assert [m.key() for m in got] == [b"1", b"1"]
    assert got[1].value() is None
    registry = Registry(registry_url)
    schema_id, schema, value = registry.decode(got[0].value())
    assert schema["name"] == "MessageValue"
    assert schema["namespace"] == "io.debezium.connector.postgresql"
    assert value["op"] == "m"
    assert value["message"] == {"prefix": "bottledwater.outbox", "content": b'{"order": 1}'}
    assert value["source"]["txId"] == xid and value["source"]["db"] == bw_db["name"]
    assert (value["source"]["schema"], value["source"]["table"]) == ("", "")
    assert registry.versions(f"{events}-value") == [1]
    latest = requests.get(f"{registry_url}/subjects/{events}-value/versions/latest", timeout=10)
    assert latest.json()["id"] == schema_id
    assert requests.get(f"{registry_url}/subjects/{events}-key/versions",
                        timeout=10).status_code == 404


@pytest.mark.parametrize("on_error", ["exit", "log"])
def test_debezium_op_m_in_avro_to_a_tables_topic_is_refused(bw_db, pg, registry_url,  # noqa: F811
                                                            consumer_factory, consume, on_error):
    """One subject, one kind of record: an op "m" event for a table's topic (whose <topic>-value
    holds the table's envelope) is refused, and follows on_error like an outbox message Kafka
    refuses."""
    logical = debezium_avro(pg, bw_db, registry_url, on_error=on_error)
    db = bw_db["conn"]
    name = bw_db["name"]
    table_topic, events = f"{logical}.public.orders", f"{logical}_events"
    db.execute("CREATE TABLE orders (id int PRIMARY KEY)")
    db.execute("SELECT bw_start(%s)", (name,))
    db.execute("INSERT INTO orders VALUES (1)")
    consume(consumer_factory([table_topic]), 1)
    db.execute("SELECT bw_emit(%s, 'k', 'v')", (table_topic,))
    db.execute("SELECT bw_emit(%s, 'after', 'v')", (events,))
    what = (f'subject "{table_topic}-value" holds {table_topic}.Envelope records, so topic '
            f'"{table_topic}" takes no outbox message')
    wait_for(lambda: what in (status(db, name)["last_error"] or ""), 60, "the refusal")
    got = real_messages(consumer_factory([events]), 3.0)
    assert [m.key() for m in got] == ([b"after"] if on_error == "log" else [])
    assert Registry(registry_url).versions(f"{table_topic}-value") == [1]


def test_a_table_whose_topic_took_op_m_events_in_avro_is_refused(bw_db, pg, registry_url,  # noqa: F811
                                                                 consumer_factory, consume):
    """The other way round, after a restart too: the registry, not the worker's memory, says
    that the subject holds op "m" events."""
    logical = debezium_avro(pg, bw_db, registry_url)
    db = bw_db["conn"]
    name = bw_db["name"]
    topic = f"{logical}.public.late"
    db.execute("SELECT bw_start(%s)", (name,))
    db.execute("SELECT bw_emit(%s, 'k', 'v')", (topic,))
    consume(consumer_factory([topic]), 1)
    db.execute("SELECT bw_stop(%s)", (name,))
    wait_for(lambda: status(db, name)["state"] == "stopped", 30, "stopped")
    db.execute("CREATE TABLE late (id int PRIMARY KEY)")
    db.execute("INSERT INTO late VALUES (1)")
    what = (f'table "public.late" would be written to topic "{topic}", whose subject '
            f'"{topic}-value" holds the outbox messages')
    try:
        db.execute("SELECT bw_start(%s)", (name,))
        wait_for(lambda: what in (status(db, name)["last_error"] or ""), 60, "the refusal")
    except psycopg.errors.ObjectNotInPrerequisiteState as refused:  # met while starting
        db.rollback()
        assert what in str(refused)
    assert Registry(registry_url).versions(f"{topic}-value") == [1]
