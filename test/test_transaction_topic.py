"""bottledwater.transaction_topic end to end: a real consumer reassembles 1,000 multi-table
transactions from the BEGIN and END records and finds each complete; under the debezium envelope
each event's transaction block says the same, and a bw_emit() is Debezium's op "m" event; in Avro
the records are registered like every topic's; a table whose topic is the transaction topic is
refused, and so is a transaction topic that is the offsets topic."""

import base64
import json
import random
import time

import psycopg
import pytest

from test_avro_registry import Registry, use_avro
from test_worker import bw_db, real_messages, status, wait_for  # noqa: F401 (fixture)
from test_worker_headers import headers_of, lsn_value

TABLES = ("alpha", "beta", "gamma")


def set_db(pg, bw_db, **settings):
    for name, value in settings.items():
        pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.{name} = '{value}'")


def read_all(consumer, expected, timeout=120.0):
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < expected and time.monotonic() < deadline:
        got += real_messages(consumer, 1.0)
    got += real_messages(consumer, 2.0)  # nothing more may come
    assert len(got) == expected, (len(got), expected)
    return got


def avro_union(value):
    """Avro JSON's {"branch": value} for a present union value, None for null."""
    return None if value is None else next(iter(value.values()))


def test_a_consumer_reassembles_a_thousand_transactions(bw_db, pg, consumer_factory):  # noqa: F811
    db = bw_db["conn"]
    topic = bw_db["prefix"] + "transaction"
    set_db(pg, bw_db, transaction_topic=topic, message_headers="on")
    for table in TABLES:
        db.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
    db.execute("CREATE TABLE unkeyed (v int)")  # not streamed: its transactions capture nothing
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    wait_for(lambda: status(db, bw_db["name"])["state"] == "streaming", 60, "streaming")

    rng = random.Random(14)
    expected = []  # per transaction: events per table
    next_id = {table: 0 for table in TABLES}
    db.autocommit = True
    for n in range(1000):
        counts = {}
        with db.transaction():
            for table in rng.sample(TABLES, rng.randint(2, 3)):
                rows = rng.randint(1, 3)
                for _ in range(rows):
                    next_id[table] += 1
                    db.execute(f"INSERT INTO {table} VALUES (%s, 0)", (next_id[table],))
                if rng.random() < 0.3:  # an update and a delete of the same table
                    db.execute(f"UPDATE {table} SET v = 1 WHERE id = %s", (next_id[table],))
                    db.execute(f"DELETE FROM {table} WHERE id = %s", (next_id[table],))
                    rows += 2
                counts[f"public.{table}"] = rows
        expected.append(counts)
        if n % 100 == 0:
            db.execute("INSERT INTO unkeyed VALUES (1)")
    events = sum(sum(c.values()) for c in expected)

    consumer = consumer_factory([topic] + [bw_db["prefix"] + t for t in TABLES])
    got = read_all(consumer, events + 2 * len(expected))
    records = [m for m in got if m.topic() == topic]
    by_xid = {}
    for m in records:
        key, value = json.loads(m.key()), json.loads(m.value())
        assert key == {"id": value["id"]}
        xid = value["id"].split(":")[0]
        by_xid.setdefault(xid, {})[value["status"]] = (value, m)
    assert len(by_xid) == len(expected), "one BEGIN and one END per captured transaction"

    events_of = {}
    for m in got:
        if m.topic() == topic:
            continue
        h = headers_of(m)
        events_of.setdefault(h["bw.txn_id"].split(":")[0], []).append((h, m))
    assert set(events_of) == set(by_xid)

    reassembled = []
    for xid, statuses in by_xid.items():
        begin, begin_msg = statuses["BEGIN"]
        end, end_msg = statuses["END"]
        assert begin["event_count"] is None and begin["data_collections"] is None
        assert begin["ts_ms"] == end["ts_ms"]
        mine = events_of[xid]
        collections = {avro_union(c)["data_collection"]: avro_union(c)["event_count"]
                       for c in avro_union(end["data_collections"])}
        assert avro_union(end["event_count"]) == len(mine) == sum(collections.values())
        assert sorted(int(h["bw.total_order"]) for h, _ in mine) == list(range(1, len(mine) + 1))
        for table, count in collections.items():
            orders = sorted(int(h["bw.data_collection_order"]) for h, _ in mine
                            if h["bw.table"] == table)
            assert orders == list(range(1, count + 1)), (xid, table)
        first = next(h for h, _ in mine if h["bw.total_order"] == "1")
        assert begin["id"] == first["bw.txn_id"], "BEGIN names its first event's position"
        assert lsn_value(mine[0][0]["bw.lsn"]) == int(end["id"].split(":")[1])
        # Produced in order: BEGIN before every event, END after every one.
        stamps = [m.timestamp()[1] for _, m in mine]
        assert begin_msg.timestamp()[1] <= min(stamps) and end_msg.timestamp()[1] >= max(stamps)
        reassembled.append((int(first["bw.total_order"]), int(xid), collections))
    # In commit order, the transactions as written.
    reassembled.sort(key=lambda r: r[1])
    assert [r[2] for r in reassembled] == expected


def test_debezium_transaction_blocks_and_the_op_m_outbox(bw_db, pg, consumer_factory):  # noqa: F811
    db = bw_db["conn"]
    logical = bw_db["prefix"].rstrip(".")
    topic = f"{logical}.transaction"
    events_topic = f"{logical}_events"
    set_db(pg, bw_db, transaction_topic=topic, envelope="debezium", json_schemas="on")
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, item text)")
    db.execute("CREATE TABLE lines (id int PRIMARY KEY, qty int)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    wait_for(lambda: status(db, bw_db["name"])["state"] == "streaming", 60, "streaming")
    with db.transaction():
        xid = db.execute("SELECT pg_current_xact_id()::text").fetchone()[0]
        db.execute("INSERT INTO orders VALUES (1, 'book')")
        db.execute("INSERT INTO lines VALUES (1, 2), (2, 3)")
        db.execute("SELECT bw_emit(%s, 'order-1', %s)", (events_topic, '{"order": 1}'))
        db.execute("DELETE FROM lines WHERE id = 2")  # an event and a tombstone

    consumer = consumer_factory([topic, events_topic, f"{logical}.public.orders",
                                 f"{logical}.public.lines"])
    got = read_all(consumer, 2 + 5 + 1)
    records = [json.loads(m.value()) for m in got if m.topic() == topic]
    assert [r["payload"]["status"] for r in records] == ["BEGIN", "END"]
    assert records[0]["schema"]["name"] == "io.debezium.connector.common.TransactionMetadataValue"
    assert json.loads(next(m for m in got if m.topic() == topic).key())["payload"] == {
        "id": records[0]["payload"]["id"]}
    end = records[1]["payload"]
    assert end["event_count"] == 5
    assert sorted((c["data_collection"], c["event_count"]) for c in end["data_collections"]) == [
        ("LOGICAL_DECODING_MESSAGE", 1), ("public.lines", 3), ("public.orders", 1)]

    blocks = []
    for m in got:
        if m.topic() == topic or m.value() is None:
            continue
        payload = json.loads(m.value())["payload"]
        blocks.append((m.topic(), payload["op"], payload["transaction"]))
        assert payload["transaction"]["id"] == f"{xid}:{payload['source']['lsn']}"
    by_total = sorted(blocks, key=lambda b: b[2]["total_order"])
    assert [(t.rsplit(".", 1)[-1], op, b["total_order"], b["data_collection_order"])
            for t, op, b in by_total] == [
        ("orders", "c", 1, 1), ("lines", "c", 2, 1), ("lines", "c", 3, 2),
        (events_topic, "m", 4, 1), ("lines", "d", 5, 3)]
    assert records[0]["payload"]["id"] == by_total[0][2]["id"]

    message = next(m for m in got if m.topic() == events_topic)
    assert message.key() == b"order-1"
    value = json.loads(message.value())
    assert value["schema"]["name"] == "io.debezium.connector.postgresql.MessageValue"
    payload = value["payload"]
    assert payload["op"] == "m"
    assert payload["message"]["prefix"] == "bottledwater.outbox"
    assert base64.b64decode(payload["message"]["content"]) == b'{"order": 1}'
    assert payload["source"]["table"] == "" and payload["source"]["schema"] == ""
    assert payload["source"]["txId"] == int(xid)


def test_avro_transaction_records_go_through_the_registry(bw_db, pg, registry_url,  # noqa: F811
                                                          consumer_factory):
    use_avro(pg, bw_db, registry_url)
    db = bw_db["conn"]
    topic = bw_db["prefix"] + "transaction"
    set_db(pg, bw_db, transaction_topic=topic)
    db.execute("CREATE TABLE orders (id int PRIMARY KEY)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO orders VALUES (1), (2)")
    got = read_all(consumer_factory([topic]), 2)
    registry = Registry(registry_url)
    _, key_schema, key = registry.decode(got[0].key())
    assert key_schema["name"] == "io.debezium.connector.common.TransactionMetadataKey"
    values = [registry.decode(m.value())[2] for m in got]
    assert [v["status"] for v in values] == ["BEGIN", "END"]
    assert key == {"id": values[0]["id"]}
    assert values[1]["event_count"] == 2
    assert values[1]["data_collections"] == [{"data_collection": "public.orders",
                                              "event_count": 2}]


def test_a_table_whose_topic_is_the_transaction_topic_is_refused(bw_db, pg):  # noqa: F811
    db = bw_db["conn"]
    set_db(pg, bw_db, transaction_topic=bw_db["prefix"] + "transaction")
    db.execute("CREATE TABLE transaction (id int PRIMARY KEY)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO transaction VALUES (1)")
    wait_for(lambda: "transaction topic" in (status(db, bw_db["name"])["last_error"] or ""),
             60, "the collision reported")


@pytest.mark.parametrize("transaction_topic", ["bw_offsets_x", "bw.offsets.x"])
def test_the_offsets_topic_is_no_transaction_topic(bw_db, pg, transaction_topic):  # noqa: F811
    """The offsets topic, or a name Kafka takes for it ('.' and '_' collide), as the
    transaction topic is refused at the start, whatever the delivery, with a hint."""
    db = bw_db["conn"]
    set_db(pg, bw_db, offsets_topic="bw_offsets_x", transaction_topic=transaction_topic)
    with pytest.raises(psycopg.Error) as raised:
        db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    message = raised.value.diag.message_primary
    assert (f'the transaction topic "{transaction_topic}" (bottledwater.transaction_topic) is '
            f'the offsets topic "bw_offsets_x"') in message, message
    assert ("differ only in '.' and '_'" in message) == (transaction_topic != "bw_offsets_x")
    assert "bottledwater.transaction_topic" in raised.value.diag.message_hint
    assert status(db, bw_db["name"])["state"] == "error"


def test_no_table_writes_the_offsets_topic(bw_db, pg):  # noqa: F811
    """Every exactly-once worker of the cluster reads the offsets topic: a table whose topic it
    is gets a clear error, as two tables on one topic do, and not one row goes there."""
    db = bw_db["conn"]
    offsets_topic = bw_db["prefix"] + "offs"
    set_db(pg, bw_db, offsets_topic=offsets_topic)
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    wait_for(lambda: status(db, bw_db["name"])["state"] == "streaming", what="streaming")
    db.execute("CREATE TABLE offs (id int PRIMARY KEY)")
    db.execute("INSERT INTO offs VALUES (1)")
    error = wait_for(lambda: (lambda e: e if "would both be written" in e else None)(
        status(db, bw_db["name"])["last_error"] or ""), what="the collision in bw_status")
    assert (f'tables "the offsets topic" and "public.offs" would both be written to topic '
            f'"{offsets_topic}"') in error, error
    assert "bottledwater.offsets_topic" in status(db, bw_db["name"])["hint"]


def test_the_transaction_topic_must_be_a_topic_name(bw_db, pg):  # noqa: F811
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.transaction_topic = 'a b'")


def test_a_truncate_the_debezium_envelope_skips_still_has_begin_and_end(bw_db, pg,  # noqa: F811
                                                                        consumer_factory):
    """Debezium skips truncates (skipped.operations=t) but opens their transaction: BEGIN and an
    END of zero events. The row envelope sends the truncate, an event of its own."""
    db = bw_db["conn"]
    logical = bw_db["prefix"].rstrip(".")
    topic = f"{logical}.transaction"
    set_db(pg, bw_db, transaction_topic=topic, envelope="debezium")
    db.execute("CREATE TABLE emptied (id int PRIMARY KEY)")
    db.execute("INSERT INTO emptied VALUES (1)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    wait_for(lambda: status(db, bw_db["name"])["state"] == "streaming", 60, "streaming")
    db.execute("TRUNCATE emptied")
    got = read_all(consumer_factory([topic]), 2)
    begin, end = (json.loads(m.value())["payload"] for m in got)
    assert (begin["status"], end["status"]) == ("BEGIN", "END")
    assert (end["event_count"], end["data_collections"]) == (0, [])


def test_under_exactly_once_the_records_are_committed_with_their_events(bw_db, pg,  # noqa: F811
                                                                         consumer_factory):
    """The BEGIN and END records go through the transactional producer with the events: a
    read_committed consumer has every one of them, and every event they count."""
    db = bw_db["conn"]
    topic = bw_db["prefix"] + "transaction"
    set_db(pg, bw_db, transaction_topic=topic, delivery="exactly_once", message_headers="on")
    db.execute("CREATE TABLE alpha (id int PRIMARY KEY)")
    db.execute("CREATE TABLE beta (id int PRIMARY KEY)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    wait_for(lambda: status(db, bw_db["name"])["state"] == "streaming", 60, "streaming")
    for n in range(50):
        with db.transaction():
            db.execute("INSERT INTO alpha VALUES (%s)", (n,))
            db.execute("INSERT INTO beta VALUES (%s), (%s)", (2 * n, 2 * n + 1))
    consumer = consumer_factory([topic, bw_db["prefix"] + "alpha", bw_db["prefix"] + "beta"],
                                **{"isolation.level": "read_committed"})
    got = read_all(consumer, 50 * (2 + 3))
    ends = [json.loads(m.value()) for m in got
            if m.topic() == topic and json.loads(m.value())["status"] == "END"]
    assert len(ends) == 50
    events = {}
    for m in got:
        if m.topic() != topic:
            xid = headers_of(m)["bw.txn_id"].split(":")[0]
            events[xid] = events.get(xid, 0) + 1
    assert {e["id"].split(":")[0]: avro_union(e["event_count"]) for e in ends} == events
