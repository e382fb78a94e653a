"""bottledwater.delivery = 'exactly_once' on the single broker: what read_committed consumers see
after a worker is killed (streaming, or in the middle of the snapshot), and the stored LSN
following WAL that holds no captured change. The fault soak (test_cluster_faults.py) covers the
other faults, on the three-node cluster.
"""

import json
import os
import time
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from conftest import TRANSIENT_CONSUMER_ERRORS
from test_worker_faults import create_json_database, reconnect, wait_streaming, worker_row

OFFSETS_TOPIC = "_bottledwater_offsets"


@pytest.fixture
def eos_db(pg_connect):
    """A database streamed in json under exactly_once; its worker is started by the test."""
    tag = uuid.uuid4().hex[:10]
    name, slot, prefix = f"bw_eos_{tag}", f"bw_eos_{tag}", f"bweos_{tag}."
    conn = create_json_database(pg_connect, name, slot, prefix)
    pg_connect().execute(f"ALTER DATABASE {name} SET bottledwater.delivery = 'exactly_once'")
    yield {"name": name, "slot": slot, "prefix": prefix, "conn": conn,
           "connect": lambda: pg_connect(name)}
    reconnect(lambda: pg_connect(name)).execute("SELECT bw_stop(%s)", (name,))
    reconnect(pg_connect).execute(f"DROP DATABASE {name} WITH (FORCE)")


def read_topic(consumer_factory, topic, isolation, until_count=None, quiet=3.0, timeout=120.0):
    """Every message of `topic` from the start, as (key, value) text, until `until_count` have
    come (if given) and then nothing more for `quiet` seconds."""
    consumer = consumer_factory([topic], **{"isolation.level": isolation})
    read = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            if (until_count is None or len(read) >= until_count) and \
                    time.monotonic() - last > quiet:
                break
            continue
        if msg.error():
            assert msg.error().code() in TRANSIENT_CONSUMER_ERRORS, msg.error()
            continue
        last = time.monotonic()
        read.append((msg.key(), msg.value()))
    return read


def logged_messages(consumer, topic):
    """Messages in the topic's log, committed or not (0 while it does not exist)."""
    metadata = consumer.list_topics(topic, timeout=5).topics.get(topic)
    if metadata is None or metadata.error is not None:
        return 0
    return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
               for p in metadata.partitions)


def ids(messages):
    return [json.loads(key)["id"]["int"] for key, _ in messages]


def test_kill9_while_streaming_repeats_nothing_for_read_committed(eos_db, consumer_factory):
    db, name = eos_db["conn"], eos_db["name"]
    db.execute("SELECT bw_start(%s)", (name,))
    wait_streaming(eos_db["connect"], name)
    next_id = 1
    for _ in range(3):
        # Many small transactions, so the kill lands among Kafka transactions in every state.
        for _ in range(300):
            db.execute("INSERT INTO t VALUES (%s, %s)", (next_id, next_id))
            next_id += 1
        pid = worker_row(reconnect(eos_db["connect"]), name)[1]
        os.kill(pid, 9)  # PostgreSQL restarts every backend, this test's connection too
        wait_streaming(eos_db["connect"], name, not_pid=pid)
        db = reconnect(eos_db["connect"])
    read = ids(read_topic(consumer_factory, eos_db["prefix"] + "t", "read_committed",
                          until_count=next_id - 1))
    assert sorted(set(read)) == list(range(1, next_id)), "changes lost"
    assert len(read) == len(set(read)), f"{len(read) - len(set(read))} changes delivered twice"
    assert read == sorted(read), "out of commit order"


def test_a_snapshot_is_one_kafka_transaction_and_a_killed_one_is_never_seen(eos_db,
                                                                            consumer_factory,
                                                                            kafka_bootstrap):
    db, name = eos_db["conn"], eos_db["name"]
    rows = 200000
    db.execute("INSERT INTO t SELECT g, g FROM generate_series(1, %s) g", (rows,))
    db.execute("ANALYZE t")
    db.execute("SELECT bw_start(%s)", (name,))
    # Killed once rows of it are in the topic's log (uncommitted), still in the snapshot.
    topic = eos_db["prefix"] + "t"
    # read_uncommitted: its high watermark, not the last stable offset.
    watcher = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"bw-{uuid.uuid4()}",
                        "isolation.level": "read_uncommitted", "log_level": 0})
    deadline = time.monotonic() + 120
    while True:
        state, pid, _ = worker_row(db, name)
        # backoff: the snapshot waits for room in the producer's queue.
        assert state in ("starting", "snapshot", "backoff"), \
            f"the snapshot of {rows} rows ended before it could be killed ({state})"
        if logged_messages(watcher, topic) > 0:
            break
        assert time.monotonic() < deadline, "no snapshot row reached the topic"
        time.sleep(0.05)
    os.kill(pid, 9)
    wait_streaming(eos_db["connect"], name, timeout=180, not_pid=pid)
    db = reconnect(eos_db["connect"])
    committed = ids(read_topic(consumer_factory, topic, "read_committed", until_count=rows))
    assert sorted(committed) == list(range(1, rows + 1)), \
        "read_committed must see the second snapshot whole and nothing of the first"
    # The control: the first snapshot's messages are in the log, aborted.
    watcher.close()
    uncommitted = read_topic(consumer_factory, topic, "read_uncommitted", until_count=rows)
    assert len(uncommitted) > rows, "the kill came before any snapshot row reached Kafka"


def stored_lsn(consumer_factory, key):
    stored = None
    for k, value in read_topic(consumer_factory, OFFSETS_TOPIC, "read_committed", quiet=1.0):
        if k is not None and k.decode() == key:
            stored = value.decode()
    return stored


def lsn_value(text):
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def test_wal_without_captured_changes_still_moves_the_stored_lsn_and_the_slot(eos_db,
                                                                              consumer_factory):
    db, name = eos_db["conn"], eos_db["name"]
    db.execute("SELECT bw_start(%s)", (name,))
    wait_streaming(eos_db["connect"], name)
    system_id = db.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0]
    key = f"bottledwater:{system_id}:{eos_db['slot']}:{name}"
    # A logical message of another prefix: WAL, and a commit, with nothing to stream.
    db.execute("SELECT pg_logical_emit_message(true, 'elsewhere', 'x')")
    target = lsn_value(db.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
    deadline = time.monotonic() + 30
    while True:
        stored = stored_lsn(consumer_factory, key)
        confirmed = db.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots "
                               "WHERE slot_name = %s", (eos_db["slot"],)).fetchone()[0]
        if stored and lsn_value(stored) >= target and lsn_value(confirmed) >= target:
            break
        assert time.monotonic() < deadline, \
            f"stored LSN {stored}, slot at {confirmed}, WAL at {target:X}"
        time.sleep(1.0)
    # Nothing was produced to the table's topic.
    assert read_topic(consumer_factory, eos_db["prefix"] + "t", "read_committed", quiet=1.0) == []


def test_a_missing_offsets_topic_is_created_compacted_with_segments_that_roll(eos_db,
                                                                              kafka_bootstrap):
    """Every start reads the offsets topic from its beginning, and compaction leaves the active
    segment alone: its segments must roll often, or a start reads every commit since the roll."""
    db, name = eos_db["conn"], eos_db["name"]
    topic = f"_bw_offsets_{uuid.uuid4().hex[:10]}"
    eos_db["connect"]().execute(f"ALTER DATABASE {name} SET bottledwater.offsets_topic = "
                                f"'{topic}'")
    db.execute("SELECT bw_start(%s)", (name,))
    wait_streaming(eos_db["connect"], name)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    try:
        [configs] = admin.describe_configs(
            [ConfigResource(ConfigResource.Type.TOPIC, topic)]).values()
        found = {entry.name: entry.value for entry in configs.result(timeout=30).values()}
        assert found["cleanup.policy"] == "compact"
        assert found["segment.ms"] == "600000"
    finally:
        admin.delete_topics([topic])
