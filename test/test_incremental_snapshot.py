"""Incremental snapshots end to end: bw_snapshot queues tables, the worker reads them in chunks
while it streams, reconciles each chunk with the stream at its watermark, and keeps its position
durably. Checked with real consumers: the last message per key is the table's row, a deleted key
never comes back, and a worker killed mid-table sends at most one chunk twice.
"""

import io
import json
import os
import random
import subprocess
import threading
import time
import uuid
from collections import Counter

import fastavro
import psycopg
import pytest
import requests

from conftest import DEV_ENV, TRANSIENT_CONSUMER_ERRORS
from test_worker import status, wait_for
from test_worker_faults import final_state_in_kafka, reconnect, wait_streaming


@pytest.fixture
def bw_db(pg, pg_connect):
    """A fresh database streamed in output_format json, as test_worker's, whose teardown
    reconnects: a worker killed with SIGKILL makes the postmaster end every session."""
    tag = uuid.uuid4().hex[:10]
    name = f"bw_snap_{tag}"
    pg.execute(f"CREATE DATABASE {name}")
    for setting, value in (("output_format", "json"), ("slot_name", f"bw_{tag}"),
                           ("topic_prefix", f"bwsnap_{tag}.")):
        pg.execute(f"ALTER DATABASE {name} SET bottledwater.{setting} = '{value}'")
    conn = pg_connect(name)
    conn.execute("CREATE EXTENSION bottledwater")
    yield {"name": name, "conn": conn, "prefix": f"bwsnap_{tag}.", "slot": f"bw_{tag}"}
    cleanup = reconnect(lambda: pg_connect(name))
    cleanup.execute("SELECT bw_stop(%s)", (name,))
    cleanup.close()
    admin = reconnect(pg_connect)
    admin.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                  "WHERE slot_name = %s", (f"bw_{tag}",))
    admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def configure(pg, db, **settings):
    for name, value in settings.items():
        pg.execute(f"ALTER DATABASE {db['name']} SET bottledwater.{name} = '{value}'")


def start_streaming(pg, pg_connect, db, **settings):
    """The worker started with no first snapshot: existing rows come only from bw_snapshot."""
    configure(pg, db, skip_snapshot="on", message_headers="on", **settings)
    db["conn"].execute("SELECT bw_start(%s)", (db["name"],))
    wait_streaming(lambda: pg_connect(db["name"]), db["name"])


def snapshots(conn):
    rows = conn.execute("SELECT table_text, state, rows_sent, chunks, chunk_position, error "
                        "FROM bw_snapshots()").fetchall()
    return {r[0]: dict(zip(("state", "rows_sent", "chunks", "position", "error"), r[1:]))
            for r in rows}


def wait_snapshot_state(conn, table, states, timeout=120.0):
    return wait_for(lambda: (snapshots(conn).get(table, {}).get("state") in states
                             and snapshots(conn)[table]), timeout=timeout,
                    what=f"snapshot of {table} in {states}")


def header(message, name):
    for key, value in message.headers() or []:
        if key == name:
            return value.decode()
    return None


def read_topic(consumer_factory, topic, settle=5.0, timeout=120.0):
    """Every message of the topic, read until nothing new arrives for `settle` seconds."""
    consumer = consumer_factory([topic])
    messages = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - quiet_since < settle:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            assert msg.error().code() in TRANSIENT_CONSUMER_ERRORS, msg.error()
            continue
        messages.append(msg)
        quiet_since = time.monotonic()
    return messages


class MixedWriter(threading.Thread):
    """Inserts, updates and deletes across the whole key range of t (so inside the chunk being
    read too), in small transactions, until stopped."""

    def __init__(self, connect, key_range):
        super().__init__(daemon=True)
        self.connect, self.key_range = connect, key_range
        self.stop = threading.Event()
        self.deleted = 0
        self.transactions = 0

    def run(self):
        conn = self.connect()
        rnd = random.Random(15)
        while not self.stop.is_set():
            with conn.transaction():
                for _ in range(5):
                    key = rnd.randrange(1, self.key_range)
                    choice = rnd.random()
                    if choice < 0.3:
                        conn.execute("DELETE FROM t WHERE id = %s", (key,))
                        self.deleted += 1
                    elif choice < 0.6:
                        conn.execute("INSERT INTO t VALUES (%s, 0) ON CONFLICT (id) "
                                     "DO UPDATE SET v = t.v + 1", (key,))
                    else:
                        conn.execute("UPDATE t SET v = v + 1 WHERE id = %s", (key,))
            self.transactions += 1
        conn.close()


def json_key(message):
    return json.loads(message.key())["id"]["int"]


def test_snapshot_under_concurrent_writes_ends_with_the_table(bw_db, pg, pg_connect,
                                                             consumer_factory):
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 20000) g")
    start_streaming(pg, pg_connect, bw_db, snapshot_chunk_rows=500)
    writer = MixedWriter(lambda: pg_connect(bw_db["name"]), 22000)
    writer.start()
    wait_for(lambda: writer.transactions > 20, what="the writer")
    assert [r[0] for r in db.execute("SELECT * FROM bw_snapshot(%s, '{t}')",
                                     (bw_db["name"],)).fetchall()] == ["t"]
    done = wait_snapshot_state(db, "public.t", {"done", "failed"})
    writer.stop.set()
    writer.join(timeout=30)
    assert done["state"] == "done", done
    assert writer.deleted > 100 and writer.transactions > 100
    expected = dict(db.execute("SELECT id, v FROM t").fetchall())
    final_state_in_kafka(consumer_factory, bw_db["prefix"] + "t", expected)

    messages = read_topic(consumer_factory, bw_db["prefix"] + "t")
    snapshot_rows = [m for m in messages if header(m, "bw.op") == "snapshot"]
    # Rows the writer never touched come from the snapshot, once each.
    assert len(snapshot_rows) > 10000
    assert done["rows_sent"] == len(snapshot_rows)
    assert max(Counter(json_key(m) for m in snapshot_rows).values()) == 1
    # A key deleted stays deleted: no snapshot row of it after its tombstone.
    deleted_at = {}
    for i, m in enumerate(messages):
        if m.value() is None:
            deleted_at[json_key(m)] = i
        elif header(m, "bw.op") == "snapshot" and json_key(m) in deleted_at:
            later = [n for n in messages[deleted_at[json_key(m)] + 1:i]
                     if n.value() is not None and json_key(n) == json_key(m)]
            assert later, f"key {json_key(m)} came back from the snapshot after its delete"


def avro_decoder(registry_url):
    cache = {}

    def decode(framed):
        schema_id = int.from_bytes(framed[1:5], "big")
        if schema_id not in cache:
            schema = requests.get(f"{registry_url}/schemas/ids/{schema_id}", timeout=10).json()
            cache[schema_id] = fastavro.parse_schema(json.loads(schema["schema"]))
        return fastavro.schemaless_reader(io.BytesIO(framed[5:]), cache[schema_id])

    return decode


def test_composite_key_in_avro_with_changes_during_the_snapshot(bw_db, pg, pg_connect,
                                                                registry_url, consumer_factory):
    db = bw_db["conn"]
    db.execute("CREATE TABLE pair (a int, b text, v text, PRIMARY KEY (a, b))")
    db.execute("INSERT INTO pair SELECT g % 7, 'k' || g, 'old' FROM generate_series(1, 3000) g")
    start_streaming(pg, pg_connect, bw_db, snapshot_chunk_rows=250, output_format="avro",
                    schema_registry_url=registry_url)
    db.execute("SELECT bw_snapshot(%s, '{pair}')", (bw_db["name"],))
    for g in range(1, 3000, 37):
        db.execute("UPDATE pair SET v = 'new' WHERE a = %s AND b = %s", (g % 7, f"k{g}"))
    db.execute("DELETE FROM pair WHERE a = 3")
    done = wait_snapshot_state(db, "public.pair", {"done", "failed"})
    assert done["state"] == "done", done
    assert done["chunks"] >= 5
    expected = {(a, b): v for a, b, v in db.execute("SELECT a, b, v FROM pair").fetchall()}
    decode = avro_decoder(registry_url)
    latest = {}
    for m in read_topic(consumer_factory, bw_db["prefix"] + "pair"):
        key = decode(m.key())
        key = (key["a"], key["b"])
        if m.value() is None:
            latest.pop(key, None)
        else:
            latest[key] = decode(m.value())["v"]
    assert latest == expected


def plain(field):
    """An Avro-JSON field's value, its union branch unwrapped."""
    return next(iter(field.values())) if isinstance(field, dict) else field


def test_a_partitioned_table_is_read_in_each_partitions_own_key_order(bw_db, pg, pg_connect,
                                                                      consumer_factory):
    """Streamed as its root, each partition is read from its own key index: one attached with
    its columns in another order, the key a varchar (compared with text's operators) and a
    bigint whose first column repeats across every chunk."""
    db = bw_db["conn"]
    db.execute("CREATE TABLE parts (region varchar(8), id bigint, v text, "
               "PRIMARY KEY (region, id)) PARTITION BY LIST (region)")
    db.execute("CREATE TABLE parts_eu (v text, id bigint NOT NULL, region varchar(8) NOT NULL)")
    db.execute("ALTER TABLE parts ATTACH PARTITION parts_eu FOR VALUES IN ('eu')")
    db.execute("CREATE TABLE parts_us PARTITION OF parts FOR VALUES IN ('us')")
    db.execute("INSERT INTO parts SELECT r, g, 'old' FROM generate_series(1, 1500) g, "
               "unnest('{eu,us}'::text[]) r")
    db.execute("CREATE PUBLICATION parts_pub FOR TABLE parts WITH (publish_via_partition_root)")
    start_streaming(pg, pg_connect, bw_db, snapshot_chunk_rows=200, publication="parts_pub")
    db.execute("SELECT bw_snapshot(%s, '{parts}')", (bw_db["name"],))
    db.execute("UPDATE parts SET v = 'new' WHERE id % 50 = 0")
    db.execute("DELETE FROM parts WHERE id % 97 = 0")
    for leaf in ("public.parts_eu", "public.parts_us"):
        done = wait_snapshot_state(db, leaf, {"done", "failed"})
        assert done["state"] == "done" and done["chunks"] >= 7, (leaf, done)
    expected = {(r, i): v for r, i, v in db.execute("SELECT region, id, v FROM parts")}
    latest, snapshot_keys = {}, Counter()
    for m in read_topic(consumer_factory, bw_db["prefix"] + "parts"):
        key = json.loads(m.key())
        key = (plain(key["region"]), plain(key["id"]))
        if m.value() is None:
            latest.pop(key, None)
            continue
        latest[key] = plain(json.loads(m.value())["v"])
        if header(m, "bw.op") == "snapshot":
            snapshot_keys[key] += 1
    assert latest == expected
    assert max(snapshot_keys.values()) == 1
    assert len(snapshot_keys) >= len(expected) - 60  # rows the stream changed first may go


def test_kill_mid_table_resumes_sending_at_most_one_chunk_twice(bw_db, pg, pg_connect,
                                                               consumer_factory):
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 60000) g")
    chunk = 100
    start_streaming(pg, pg_connect, bw_db, snapshot_chunk_rows=chunk)
    db.execute("SELECT bw_snapshot(%s, '{t}')", (bw_db["name"],))
    wait_for(lambda: (snapshots(db)["public.t"]["chunks"] or 0) >= 20, what="20 chunks")
    before = snapshots(db)["public.t"]
    assert before["state"] == "running" and before["rows_sent"] < 60000, before
    pid = status(db, bw_db["name"])["pid"]
    os.kill(pid, 9)
    # The postmaster ends every session after a SIGKILL: connect once the new worker streams.
    wait_streaming(lambda: pg_connect(bw_db["name"]), bw_db["name"], not_pid=pid)
    conn = reconnect(lambda: pg_connect(bw_db["name"]))
    done = wait_snapshot_state(conn, "public.t", {"done", "failed"}, timeout=300)
    assert done["state"] == "done", done
    snapshot_rows = [m for m in read_topic(consumer_factory, bw_db["prefix"] + "t")
                     if header(m, "bw.op") == "snapshot"]
    counts = Counter(json_key(m) for m in snapshot_rows)
    assert set(counts) == set(range(1, 60001))
    twice = sum(1 for c in counts.values() if c > 1)
    assert twice <= chunk, f"{twice} rows sent twice, more than one chunk of {chunk}"


def test_wide_rows_end_a_chunk_at_its_byte_bound(bw_db, pg, pg_connect, consumer_factory):
    """Rows of 200 kB under a 1 MB bound: chunks of about five rows, not one chunk of the whole
    table (snapshot_chunk_rows is 4096), and the rows changed meanwhile end as the table has
    them."""
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int, pad text)")
    db.execute("ALTER TABLE t ALTER pad SET STORAGE EXTERNAL")
    db.execute("INSERT INTO t SELECT g, 0, repeat(md5(g::text), 6250) "
               "FROM generate_series(1, 60) g")
    start_streaming(pg, pg_connect, bw_db, snapshot_chunk_bytes="1MB")
    db.execute("SELECT bw_snapshot(%s, '{t}')", (bw_db["name"],))
    for key in range(1, 61, 7):
        db.execute("UPDATE t SET v = v + 1 WHERE id = %s", (key,))
    db.execute("DELETE FROM t WHERE id = 30")
    done = wait_snapshot_state(db, "public.t", {"done", "failed"})
    assert done["state"] == "done", done
    # 1 MB / 200 kB: five or six rows a chunk, the row that reaches the bound the last.
    assert 10 <= done["chunks"] <= 13, done
    final_state_in_kafka(consumer_factory, bw_db["prefix"] + "t",
                         dict(db.execute("SELECT id, v FROM t").fetchall()))


def test_stop_during_a_snapshot_and_start_resumes_it(bw_db, pg, pg_connect, consumer_factory):
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 40000) g")
    start_streaming(pg, pg_connect, bw_db, snapshot_chunk_rows=100)
    db.execute("SELECT bw_snapshot(%s, '{t}')", (bw_db["name"],))
    wait_for(lambda: (snapshots(db)["public.t"]["chunks"] or 0) >= 10, what="10 chunks")
    assert db.execute("SELECT bw_stop(%s)", (bw_db["name"],)).fetchone()[0] is True
    stopped = snapshots(db)["public.t"]
    assert stopped["state"] == "running" and stopped["position"] is not None
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    done = wait_snapshot_state(db, "public.t", {"done", "failed"}, timeout=300)
    assert done["state"] == "done", done
    final_state_in_kafka(consumer_factory, bw_db["prefix"] + "t",
                         dict(db.execute("SELECT id, v FROM t").fetchall()))


def test_dropped_and_truncated_tables_and_cancel(bw_db, pg, pg_connect):
    db = bw_db["conn"]
    for name in ("dropped", "truncated", "cancelled"):
        db.execute(f"CREATE TABLE {name} (id int PRIMARY KEY, v int)")
        db.execute(f"INSERT INTO {name} SELECT g, 0 FROM generate_series(1, 30000) g")
    start_streaming(pg, pg_connect, bw_db, snapshot_chunk_rows=100)
    db.execute("SELECT bw_snapshot(%s, '{dropped}')", (bw_db["name"],))
    wait_for(lambda: (snapshots(db)["public.dropped"]["chunks"] or 0) >= 3, what="3 chunks")
    db.execute("DROP TABLE dropped")
    failed = wait_snapshot_state(db, "public.dropped", {"done", "failed"})
    assert failed["state"] == "failed" and "dropped" in failed["error"]

    db.execute("SELECT bw_snapshot(%s, '{truncated}')", (bw_db["name"],))
    wait_for(lambda: (snapshots(db)["public.truncated"]["chunks"] or 0) >= 3, what="3 chunks")
    db.execute("TRUNCATE truncated")
    db.execute("INSERT INTO truncated VALUES (29999, 1)")
    done = wait_snapshot_state(db, "public.truncated", {"done", "failed"})
    assert done["state"] == "done" and done["rows_sent"] < 30000, done

    db.execute("SELECT bw_snapshot(%s, '{cancelled}')", (bw_db["name"],))
    wait_for(lambda: (snapshots(db)["public.cancelled"]["chunks"] or 0) >= 3, what="3 chunks")
    assert [r[0] for r in db.execute("SELECT * FROM bw_snapshot_cancel(%s)",
                                     (bw_db["name"],)).fetchall()] == ["cancelled"]
    chunks = snapshots(db)["public.cancelled"]["chunks"]
    time.sleep(2)
    after = snapshots(db)["public.cancelled"]
    assert after["state"] == "cancelled" and after["chunks"] <= chunks + 1, after


def test_a_hundred_tables_queued_at_once(bw_db, pg, pg_connect, consumer_factory):
    db = bw_db["conn"]
    for i in range(100):
        db.execute(f"CREATE TABLE many_{i} (id int PRIMARY KEY, v int)")
        db.execute(f"INSERT INTO many_{i} SELECT g, {i} FROM generate_series(1, 20) g")
    start_streaming(pg, pg_connect, bw_db)
    tables = "{" + ",".join(f"many_{i}" for i in range(100)) + "}"
    assert len(db.execute("SELECT * FROM bw_snapshot(%s, %s)",
                          (bw_db["name"], tables)).fetchall()) == 100
    wait_for(lambda: all(s["state"] == "done" for s in snapshots(db).values())
             and len(snapshots(db)) == 100, timeout=180, what="100 snapshots done")
    assert sum(s["rows_sent"] for s in snapshots(db).values()) == 2000
    consumer = consumer_factory([f"^{bw_db['prefix'].replace('.', '[.]')}many_.*"])
    got = Counter()
    deadline = time.monotonic() + 120
    while sum(got.values()) < 2000 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got[msg.topic()] += 1
    assert len(got) == 100 and set(got.values()) == {20}


def test_initial_snapshot_incremental_streams_at_once_and_sends_every_table(bw_db, pg,
                                                                            pg_connect,
                                                                            consumer_factory):
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 20000) g")
    db.execute("CREATE TABLE other (id int PRIMARY KEY, v int)")
    db.execute("INSERT INTO other SELECT g, 1 FROM generate_series(1, 10) g")
    configure(pg, bw_db, initial_snapshot="incremental", message_headers="on",
              snapshot_chunk_rows=1000)
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    wait_streaming(lambda: pg_connect(bw_db["name"]), bw_db["name"])
    # The slot is persistent from the start: no long snapshot transaction holds it back.
    assert pg.execute("SELECT temporary FROM pg_replication_slots WHERE slot_name = %s",
                      (bw_db["slot"],)).fetchone() == (False,)
    db.execute("UPDATE t SET v = 5 WHERE id % 100 = 0")
    db.execute("DELETE FROM t WHERE id % 7 = 0")
    for table in ("public.t", "public.other"):
        done = wait_snapshot_state(db, table, {"done", "failed"})
        assert done["state"] == "done", done
    final_state_in_kafka(consumer_factory, bw_db["prefix"] + "t",
                         dict(db.execute("SELECT id, v FROM t").fetchall()))
    final_state_in_kafka(consumer_factory, bw_db["prefix"] + "other",
                         dict(db.execute("SELECT id, v FROM other").fetchall()))


def test_a_table_added_to_the_publication_is_snapshotted_automatically(bw_db, pg, pg_connect,
                                                                       consumer_factory):
    db = bw_db["conn"]
    db.execute("CREATE TABLE a (id int PRIMARY KEY, v int)")
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("INSERT INTO t SELECT g, 7 FROM generate_series(1, 3000) g")
    db.execute("CREATE PUBLICATION snap_pub FOR TABLE a")
    start_streaming(pg, pg_connect, bw_db, publication="snap_pub", snapshot_new_tables="on",
                    snapshot_chunk_rows=500)
    # Tables captured when the worker starts are not new.
    db.execute("INSERT INTO a VALUES (1, 1)")
    time.sleep(1)
    assert snapshots(db) == {}
    db.execute("ALTER PUBLICATION snap_pub ADD TABLE t")
    db.execute("UPDATE t SET v = 8 WHERE id <= 10")
    db.execute("DELETE FROM t WHERE id > 2990")
    done = wait_snapshot_state(db, "public.t", {"done", "failed"})
    assert done["state"] == "done", done
    final_state_in_kafka(consumer_factory, bw_db["prefix"] + "t",
                         dict(db.execute("SELECT id, v FROM t").fetchall()))


def debezium_payload(message):
    """The event of a debezium-envelope message (with or without its schema), None for a
    tombstone."""
    if message.value() is None:
        return None
    doc = json.loads(message.value())
    return doc["payload"] if "schema" in doc and "payload" in doc else doc


def debezium_id(message):
    doc = json.loads(message.key())
    return (doc["payload"] if "schema" in doc and "payload" in doc else doc)["id"]


def test_chunk_rows_are_snapshot_reads_under_the_debezium_envelope(bw_db, pg, pg_connect,
                                                                  consumer_factory):
    """Chunk rows are `op: r` with source.snapshot "incremental", as Debezium's incremental
    snapshot rows, and the bw.op = snapshot header, at the schema version the stream gives the
    same schema; streamed changes stay c, u and d."""
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 250) g")
    start_streaming(pg, pg_connect, bw_db, snapshot_chunk_rows=100, envelope="debezium")
    db.execute("INSERT INTO t VALUES (1001, 1)")
    # The stream's second version of t's schema, which the chunks are read under too.
    db.execute("ALTER TABLE t ADD COLUMN w int")
    db.execute("INSERT INTO t VALUES (1002, 1, 1)")
    db.execute("UPDATE t SET v = 2 WHERE id = 1001")
    db.execute("DELETE FROM t WHERE id = 1001")
    db.execute("SELECT bw_snapshot(%s, '{t}')", (bw_db["name"],))
    done = wait_snapshot_state(db, "public.t", {"done", "failed"})
    assert done["state"] == "done", done
    # The debezium envelope's topic: <prefix without its '.'>.<schema>.<table>.
    messages = [m for m in read_topic(consumer_factory, bw_db["prefix"] + "public.t")
                if m.value() is not None]
    # The changes were decoded before the first chunk's watermark was written.
    streamed = [(debezium_id(m), debezium_payload(m)["op"],
                 debezium_payload(m)["source"]["snapshot"], header(m, "bw.op"),
                 header(m, "bw.schema_version")) for m in messages[:4]]
    assert streamed == [(1001, "c", "false", "insert", "1"), (1002, "c", "false", "insert", "2"),
                        (1001, "u", "false", "update", "2"),
                        (1001, "d", "false", "delete", "2")], streamed
    chunk_rows = messages[4:]
    assert sorted(debezium_id(m) for m in chunk_rows) == list(range(1, 251)) + [1002]
    for m in chunk_rows:
        payload = debezium_payload(m)
        assert payload["op"] == "r" and payload["source"]["snapshot"] == "incremental", payload
        assert payload["before"] is None and payload["after"]["id"] == debezium_id(m)
        assert header(m, "bw.op") == "snapshot" and header(m, "bw.schema_version") == "2", \
            m.headers()


def test_a_truncate_under_the_debezium_envelope_empties_the_chunk_held(bw_db, pg, pg_connect,
                                                                       consumer_factory):
    """The debezium envelope sends no truncate, but the chunk held is emptied all the same: a
    chunk read before the TRUNCATE never reaches Kafka after it. Kafka is stopped so that a
    chunk waits for its acknowledgement with the next one read ahead and held; the TRUNCATE
    commits while it is held."""
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 20000) g")
    start_streaming(pg, pg_connect, bw_db, snapshot_chunk_rows=20, envelope="debezium")
    # A change streamed first: the stream's announcement of t's schema, which discards a chunk
    # held as a schema change would, is behind it before the truncate.
    db.execute("UPDATE t SET v = 0 WHERE id = 1")
    db.execute("SELECT bw_snapshot(%s, '{t}')", (bw_db["name"],))
    wait_for(lambda: (snapshots(db)["public.t"]["chunks"] or 0) >= 3, what="3 chunks")
    subprocess.run([DEV_ENV, "stop-kafka"], check=True)
    try:
        time.sleep(2)
        assert snapshots(db)["public.t"]["state"] == "running"
        # New keys past the old ones: the stream's inserts touch no key of the chunk held.
        with db.transaction():
            db.execute("TRUNCATE t")
            db.execute("INSERT INTO t SELECT 100000 + g, 1 FROM generate_series(1, 500) g")
    finally:
        subprocess.run([DEV_ENV, "start-kafka"], check=True)
    done = wait_snapshot_state(db, "public.t", {"done", "failed"}, timeout=180)
    assert done["state"] == "done", done
    # Each new key twice, streamed then as a chunk row: the broker just restarted may be slow
    # to serve a consumer, so read until they are all there.
    consumer = consumer_factory([bw_db["prefix"] + "public.t"])
    messages, ids = [], []
    deadline = time.monotonic() + 120
    while sum(1 for i in ids if i > 100000) < 1000:
        assert time.monotonic() < deadline, f"{len(messages)} messages only"
        for msg in consumer.consume(1000, timeout=0.5):
            if msg.error():
                assert msg.error().code() in TRANSIENT_CONSUMER_ERRORS, msg.error()
            elif msg.value() is not None:
                messages.append(msg)
                ids.append(debezium_id(msg))
    after_truncate = ids.index(100001)
    stale = [(i, debezium_payload(m)["op"]) for i, m in zip(ids[after_truncate:],
                                                           messages[after_truncate:])
             if i < 100000]
    assert not stale, f"rows read before the truncate sent after it: {stale[:5]}"
    assert set(i for i in ids[after_truncate:]) == set(range(100001, 100501))
