"""Headers on every message the worker produces: a real consumer reads bw.op, bw.lsn, bw.xid,
bw.commit_time, bw.txn_index, bw.table and bw.schema_version on snapshot rows, inserts, updates,
key changes and deletes, in both output formats."""

import time

import pytest

from test_avro_registry import use_avro
from test_worker import bw_db  # noqa: F401  (fixture)

HEADER_NAMES = {"bw.op", "bw.lsn", "bw.xid", "bw.commit_time", "bw.txn_index", "bw.table",
                "bw.schema_version"}


def lsn_value(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def headers_of(message):
    pairs = message.headers() or []
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"a header appears twice: {names}"
    return {name: value.decode() for name, value in pairs}


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_every_message_kind_carries_the_headers(bw_db, pg, registry_url, consumer_factory,  # noqa: F811
                                                consume, output_format):
    if output_format == "avro":
        use_avro(pg, bw_db, registry_url)
    db = bw_db["conn"]
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.message_headers = on")
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
    db.execute("INSERT INTO orders VALUES (1, 'from the snapshot')")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    start_lsn = lsn_value(db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])

    before = time.time()
    with db.transaction():
        xid = int(db.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
        db.execute("INSERT INTO orders VALUES (2, 'new')")
        db.execute("UPDATE orders SET note = 'changed' WHERE id = 2")
        db.execute("UPDATE orders SET id = 3 WHERE id = 2")  # a key change: delete + insert
        db.execute("DELETE FROM orders WHERE id = 1")
    after = time.time()
    end_lsn = lsn_value(db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])

    messages = consume(consumer_factory([bw_db["prefix"] + "orders"]), 6)
    headers = [headers_of(m) for m in messages]
    for h in headers:
        assert set(h) == HEADER_NAMES
        assert h["bw.table"] == "public.orders"
        assert int(h["bw.schema_version"]) >= 1

    snapshot, *streamed = headers
    assert snapshot["bw.op"] == "snapshot"
    assert snapshot["bw.txn_index"] == "0"
    assert lsn_value(snapshot["bw.lsn"]) <= start_lsn

    assert [h["bw.op"] for h in streamed] == ["insert", "update", "delete", "insert", "delete"]
    assert [h["bw.txn_index"] for h in streamed] == ["0", "1", "2", "3", "4"]
    assert {h["bw.xid"] for h in streamed} == {str(xid)}
    assert len({h["bw.lsn"] for h in streamed}) == 1
    assert start_lsn < lsn_value(streamed[0]["bw.lsn"]) <= end_lsn
    assert len({h["bw.commit_time"] for h in streamed}) == 1
    commit_time = int(streamed[0]["bw.commit_time"]) / 1e6
    assert before - 1 <= commit_time <= after + 1

    # The deletes are tombstones (no value) and still carry every header.
    assert [m.value() is None for m in messages[1:]] == [False, False, True, False, True]


def test_messages_carry_no_headers_unless_asked(bw_db, consumer_factory, consume):
    """Headers cost the producer and the broker per message: off by default."""
    db = bw_db["conn"]
    db.execute("CREATE TABLE plain (id int PRIMARY KEY)")
    db.execute("INSERT INTO plain VALUES (1)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO plain VALUES (2)")
    messages = consume(consumer_factory([bw_db["prefix"] + "plain"]), 2)
    assert [m.headers() for m in messages] == [None, None]
