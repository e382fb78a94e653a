"""TRUNCATE reaches Kafka, end to end through the worker and a real consumer: one message on each
truncated table's topic (the root's, once, for a partitioned table), in commit order among the
transaction's rows, with the table's key record all null, a null value and the header
bw.op = truncate. A compacted topic takes it, a consumer decodes it with the registered
schemas, and a publication that does not publish truncate sends none."""

import time

import pytest

from test_kafka_refusals import create_topic
from test_publications import start_with_publication, use_format
from test_worker import bw_db, status, wait_for  # noqa: F401 (fixture)
from test_worker_headers import headers_of


def read_topics(consumer, prefix, counts, timeout=60.0):
    """The messages of each topic (named without the prefix), once `counts` of them arrived,
    plus whatever else came within two more seconds."""
    got = {}
    deadline = time.monotonic() + timeout
    settle = None
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.setdefault(msg.topic()[len(prefix):], []).append(msg)
        done = all(len(got.get(t, [])) >= n for t, n in counts.items())
        if done and settle is None:
            settle = time.monotonic() + 2.0
        if settle is not None and time.monotonic() > settle:
            return got
    pytest.fail(f"got {({t: len(m) for t, m in got.items()})} of {counts} messages")


def ops(messages, decode):
    """Each message as ('truncate', key) or (id, v), v None for a tombstone."""
    seen = []
    for m in messages:
        if headers_of(m).get("bw.op") == "truncate":
            assert m.value() is None, m.value()
            seen.append(("truncate", decode(m.key())))
        else:
            key, value = decode(m.key()), decode(m.value())
            seen.append((key and key["id"], value and value["v"]))
    return seen


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_truncate_is_one_message_per_truncated_topic(bw_db, pg, registry_url, kafka_bootstrap,
                                                     consumer_factory, output_format):
    decode = use_format(pg, bw_db, output_format, registry_url)
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.allow_unkeyed = on")
    db, prefix = bw_db["conn"], bw_db["prefix"]
    # Kafka refuses a null key on a compacted topic; the truncate's key is not null.
    create_topic(kafka_bootstrap, prefix + "a", cleanup_policy="compact")
    for table in ("a", "b", "parent"):
        db.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
    db.execute("CREATE TABLE child (id int PRIMARY KEY, v int REFERENCES parent)")
    db.execute("CREATE TABLE m (id int, v int, PRIMARY KEY (id, v)) PARTITION BY RANGE (v)")
    db.execute("CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (10)")
    db.execute("CREATE TABLE m_high PARTITION OF m FOR VALUES FROM (10) TO (100) "
               "PARTITION BY RANGE (v)")
    db.execute("CREATE TABLE m_high_a PARTITION OF m_high FOR VALUES FROM (10) TO (100)")
    # Unkeyed, keyed by the whole row: its truncate's key is that row, all null.
    db.execute("CREATE TABLE whole (id int, v int)")
    db.execute("ALTER TABLE whole REPLICA IDENTITY FULL")
    # Unkeyed without an identity: null keys, its truncate's too.
    db.execute("CREATE TABLE bare (id int, v int)")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))

    for table in ("a", "b", "parent", "whole", "bare"):
        db.execute(f"INSERT INTO {table} VALUES (1, 1)")
    db.execute("INSERT INTO child VALUES (1, 1)")
    db.execute("INSERT INTO m VALUES (1, 1), (2, 20)")
    with db.transaction():  # in commit order among the transaction's rows
        db.execute("INSERT INTO a VALUES (2, 2)")
        db.execute("TRUNCATE a")
        db.execute("INSERT INTO a VALUES (3, 3)")
    db.execute("TRUNCATE a, b")
    db.execute("TRUNCATE parent CASCADE")
    db.execute("TRUNCATE m")       # the root with all its partitions: one message
    db.execute("INSERT INTO m VALUES (3, 3)")
    db.execute("TRUNCATE m_low")   # part of m only: not sent
    db.execute("TRUNCATE whole, bare")
    db.execute("INSERT INTO a VALUES (4, 4)")  # the worker streams on after the compacted one

    expected = {
        "a": [(1, 1), (2, 2), ("truncate", {"id": None}), (3, 3), ("truncate", {"id": None}),
              (4, 4)],
        "b": [(1, 1), ("truncate", {"id": None})],
        "parent": [(1, 1), ("truncate", {"id": None})],
        "child": [(1, 1), ("truncate", {"id": None})],
        "m": [(1, 1), (2, 20), ("truncate", {"id": None, "v": None}), (3, 3)],
        "whole": [(1, 1), ("truncate", {"id": None, "v": None})],
        "bare": [(None, 1), ("truncate", None)],
    }
    consumer = consumer_factory([f"^{prefix.replace('.', '[.]')}.*"])
    got = read_topics(consumer, prefix, {t: len(v) for t, v in expected.items()})
    assert {t: ops(m, decode) for t, m in got.items()} == expected
    truncates = [m for ms in got.values() for m in ms if headers_of(m).get("bw.op")]
    # message_headers is off: the truncate's header is its only one.
    assert truncates and all(m.headers() == [("bw.op", b"truncate")] for m in truncates)
    # Counted and acknowledged like every change: the slot moves past the last of them.
    total = sum(len(v) for v in expected.values())
    st = wait_for(lambda: (lambda s: s if s["acknowledged"] == total else None)(
        status(db, bw_db["name"])), what=f"{total} acknowledged messages")
    assert st["produced"] == total and st["state"] == "streaming" and not st["last_error"], st


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_truncate_follows_the_publications(bw_db, pg, registry_url, consumer_factory,
                                           output_format):
    """A table whose publication does not publish truncate sends none; with message_headers on,
    a truncate carries every header, bw.op = truncate."""
    decode = use_format(pg, bw_db, output_format, registry_url)
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.message_headers = on")
    db, prefix = bw_db["conn"], bw_db["prefix"]
    db.execute("CREATE TABLE quiet (id int PRIMARY KEY, v int)")
    db.execute("CREATE TABLE loud (id int PRIMARY KEY, v int)")
    db.execute("CREATE PUBLICATION no_truncate FOR TABLE quiet "
               "WITH (publish = 'insert, update, delete')")
    db.execute("CREATE PUBLICATION with_truncate FOR TABLE loud")
    start_with_publication(pg, bw_db, "no_truncate, with_truncate")
    db.execute("INSERT INTO quiet VALUES (1, 1)")
    db.execute("INSERT INTO loud VALUES (1, 1)")
    db.execute("TRUNCATE quiet, loud")
    db.execute("INSERT INTO quiet VALUES (2, 2)")
    db.execute("INSERT INTO loud VALUES (2, 2)")

    consumer = consumer_factory([prefix + "quiet", prefix + "loud"])
    got = read_topics(consumer, prefix, {"quiet": 2, "loud": 3})
    assert ops(got["quiet"], decode) == [(1, 1), (2, 2)]
    assert ops(got["loud"], decode) == [(1, 1), ("truncate", {"id": None}), (2, 2)]
    headers = headers_of(got["loud"][1])
    assert headers["bw.op"] == "truncate" and headers["bw.table"] == "public.loud", headers
    assert headers["bw.txn_index"] == "0", headers  # quiet's truncate took no number
