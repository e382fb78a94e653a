"""Headers on every message the worker produces, read by a real consumer, under both envelopes:
bw.op, bw.lsn, bw.xid, bw.commit_time, bw.txn_index, bw.table and bw.schema_version on snapshot
rows, inserts, updates, key changes, deletes (and their tombstones under debezium), truncates
(the row envelope sends them) and outbox messages; with the transaction topic on, each event's
bw.txn_id, bw.total_order and bw.data_collection_order. Debezium's own header names apply to
key changes only (__debezium.newkey on the delete, __debezium.oldkey on the create)."""

import time

import pytest

from test_avro_registry import use_avro
from test_worker import bw_db, status, wait_for  # noqa: F401  (fixture)

HEADER_NAMES = {"bw.op", "bw.lsn", "bw.xid", "bw.commit_time", "bw.txn_index", "bw.table",
                "bw.schema_version"}
ORDER_NAMES = {"bw.txn_id", "bw.total_order", "bw.data_collection_order"}


def lsn_value(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def headers_of(message):
    pairs = message.headers() or []
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"a header appears twice: {names}"
    return {name: value.decode() for name, value in pairs}


# What each envelope sends for the transaction below: (bw.op, has a value, events numbered so
# far), in order; then the outbox message and, in a second transaction, the truncate.
STREAMED = {
    "row": [("insert", True), ("update", True), ("delete", False), ("insert", True),
            ("delete", False)],
    "debezium": [("insert", True), ("update", True), ("delete", True), ("delete", False),
                 ("insert", True), ("delete", True), ("delete", False)],
}


@pytest.mark.parametrize("envelope,output_format",
                         [("row", "json"), ("row", "avro"), ("debezium", "json")])
def test_every_message_kind_carries_the_headers(bw_db, pg, registry_url, consumer_factory,  # noqa: F811
                                                consume, envelope, output_format):
    if output_format == "avro":
        use_avro(pg, bw_db, registry_url)
    db, name = bw_db["conn"], bw_db["name"]
    logical = bw_db["prefix"].rstrip(".")
    for setting, value in (("message_headers", "on"), ("envelope", envelope),
                           ("transaction_topic", f"{logical}.transaction")):
        pg.execute(f"ALTER DATABASE {name} SET bottledwater.{setting} = '{value}'")
    table_topic = (f"{logical}.public.orders" if envelope == "debezium"
                   else bw_db["prefix"] + "orders")
    events_topic = f"{logical}_events"
    db.execute("CREATE TABLE orders (id int PRIMARY KEY, note text)")
    db.execute("INSERT INTO orders VALUES (1, 'from the snapshot')")
    db.execute("SELECT bw_start(%s)", (name,))
    wait_for(lambda: status(db, name)["state"] == "streaming", 60, "streaming")
    start_lsn = lsn_value(db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])

    before = time.time()
    with db.transaction():
        xid = int(db.execute("SELECT pg_current_xact_id()::text").fetchone()[0])
        db.execute("INSERT INTO orders VALUES (2, 'new')")
        db.execute("UPDATE orders SET note = 'changed' WHERE id = 2")
        db.execute("UPDATE orders SET id = 3 WHERE id = 2")  # a key change: delete + insert
        db.execute("DELETE FROM orders WHERE id = 1")
        db.execute("SELECT bw_emit(%s, 'k', 'v')", (events_topic,))
    after = time.time()
    end_lsn = lsn_value(db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
    db.execute("TRUNCATE orders")

    streamed = STREAMED[envelope]
    truncates = 1 if envelope == "row" else 0
    messages = consume(consumer_factory([table_topic]), 1 + len(streamed) + truncates)
    outbox = consume(consumer_factory([events_topic]), 1)[0]
    headers = [headers_of(m) for m in messages]
    for h in headers:
        assert HEADER_NAMES <= set(h)
        assert h["bw.table"] == "public.orders"
        assert int(h["bw.schema_version"]) >= 1

    snapshot, *rest = headers
    in_txn, truncated = rest[:len(streamed)], rest[len(streamed):]
    assert set(snapshot) == HEADER_NAMES, "snapshot rows belong to no transaction"
    assert snapshot["bw.op"] == "snapshot"
    assert snapshot["bw.txn_index"] == "0"
    assert lsn_value(snapshot["bw.lsn"]) <= start_lsn

    assert [h["bw.op"] for h in in_txn] == [op for op, _ in streamed]
    assert [m.value() is not None for m in messages[1:1 + len(streamed)]] == [
        has_value for _, has_value in streamed]
    assert [h["bw.txn_index"] for h in in_txn] == [str(i) for i in range(len(streamed))]
    assert {h["bw.xid"] for h in in_txn} == {str(xid)}
    assert len({h["bw.lsn"] for h in in_txn}) == 1
    assert start_lsn < lsn_value(in_txn[0]["bw.lsn"]) <= end_lsn
    assert len({h["bw.commit_time"] for h in in_txn}) == 1
    commit_time = int(in_txn[0]["bw.commit_time"]) / 1e6
    assert before - 1 <= commit_time <= after + 1

    # Every event is numbered; a debezium tombstone is no event.
    numbered = [h for h, (_, has_value) in zip(in_txn, streamed)
                if has_value or envelope == "row"]
    assert [h["bw.total_order"] for h in numbered] == [str(i + 1) for i in range(len(numbered))]
    assert [h["bw.data_collection_order"] for h in numbered] == [h["bw.total_order"]
                                                                 for h in numbered]
    assert all(h["bw.txn_id"].startswith(f"{xid}:") for h in numbered)
    assert all(not (ORDER_NAMES & set(h)) for h in in_txn if h not in numbered)

    o = headers_of(outbox)
    assert set(o) == {"bw.op", "bw.lsn", "bw.xid", "bw.commit_time", "bw.txn_index"} | ORDER_NAMES
    assert (o["bw.op"], o["bw.xid"], o["bw.lsn"]) == ("message", str(xid), in_txn[0]["bw.lsn"])
    assert o["bw.txn_index"] == str(len(streamed))
    assert (o["bw.total_order"], o["bw.data_collection_order"]) == (str(len(numbered) + 1), "1")

    if envelope == "row":
        (t,) = truncated
        assert t["bw.op"] == "truncate" and t["bw.txn_index"] == "0"
        assert lsn_value(t["bw.lsn"]) > lsn_value(in_txn[0]["bw.lsn"])
        assert (t["bw.total_order"], t["bw.data_collection_order"]) == ("1", "1")


def test_messages_carry_no_headers_unless_asked(bw_db, consumer_factory, consume):  # noqa: F811
    """Headers cost the producer and the broker per message: off by default."""
    db = bw_db["conn"]
    db.execute("CREATE TABLE plain (id int PRIMARY KEY)")
    db.execute("INSERT INTO plain VALUES (1)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO plain VALUES (2)")
    messages = consume(consumer_factory([bw_db["prefix"] + "plain"]), 2)
    assert [m.headers() for m in messages] == [None, None]
