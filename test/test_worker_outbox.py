"""The outbox end to end: bw_emit() in a transaction reaches Kafka in commit order with that
transaction's rows, with its key and value byte for byte and the bw.* headers; a rolled-back
bw_emit never arrives; an illegal topic is an error at bw_emit time; a message over the
producer's message.max.bytes follows on_error."""

import uuid

import psycopg
import pytest

from test_kafka_refusals import PRODUCER_LIMIT, BIG, log_size, server_log_since, set_db
from test_worker import bw_db, real_messages, status, wait_for  # noqa: F401 (fixture)
from test_worker_headers import headers_of, lsn_value


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
def test_a_message_over_the_producers_limit_follows_on_error(bw_db, pg, dev_env, on_error,  # noqa: F811
                                                             consumer_factory, consume):
    name = bw_db["name"]
    set_db(pg, bw_db, on_error=on_error, kafka_config=f"message.max.bytes={PRODUCER_LIMIT}")
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
