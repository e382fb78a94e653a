"""Values Kafka cannot take, end to end against the real broker: a row over the producer's
message.max.bytes, a row over a topic's max.message.bytes, a null key on a compacted topic.
Each is one clear error naming the table and the key, in bw_status and the server log, and
follows on_error where skipping it cannot take other rows with it. When the worker stops on
one, every transaction committed before it is in Kafka and confirmed on the slot first.
"""

import json
from pathlib import Path

import psycopg
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from test_avro_registry import use_avro
from test_worker import bw_db, key_values, real_messages, status, wait_for  # noqa: F401 (fixture)

# The producer's limit set per database; a row of BIG characters is over it.
PRODUCER_LIMIT = 20000
BIG = 50000


def create_topic(kafka_bootstrap, topic, **config):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                            config={k.replace("_", "."): str(v)
                                                    for k, v in config.items()})])
    futures[topic].result(timeout=30)


def set_db(pg, bw_db, **settings):
    for name, value in settings.items():
        pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.{name} = '{value}'")


def server_log_since(dev_env, start):
    return Path(dev_env["BW_PG_LOG"]).read_bytes()[start:].decode(errors="replace")


def log_size(dev_env):
    return Path(dev_env["BW_PG_LOG"]).stat().st_size


def ids(messages):
    return [json.loads(k)["id"]["int"] for k, _ in key_values(messages)]


@pytest.mark.parametrize("on_error", ["exit", "log"])
def test_a_row_over_the_producers_limit_follows_on_error(bw_db, pg, dev_env, on_error,
                                                         consumer_factory, consume):
    name = bw_db["name"]
    set_db(pg, bw_db, on_error=on_error, kafka_config=f"message.max.bytes={PRODUCER_LIMIT}")
    db = bw_db["conn"]
    db.execute("CREATE TABLE wide (id int primary key, v text)")
    start = log_size(dev_env)
    db.execute("SELECT bw_start(%s)", (name,))
    pid = status(db, name)["pid"]
    db.execute("INSERT INTO wide VALUES (1, 'small')")
    db.execute("INSERT INTO wide VALUES (2, repeat('x', %s))", (BIG,))
    db.execute("INSERT INTO wide VALUES (3, 'after it')")
    consumer = consumer_factory([bw_db["prefix"] + "wide"])
    what = 'table "public.wide", key {"id": {"int": 2}}'
    if on_error == "log":
        assert ids(consume(consumer, 2) + real_messages(consumer, 2.0)) == [1, 3]
        st = status(db, name)
        assert st["pid"] == pid and st["skipped"] == 1, st
        # One row was skipped, not the table: the log says so.
        assert 'skipping a change of table "public.wide"' in server_log_since(dev_env, start)
    else:
        wait_for(lambda: what in (status(db, name)["last_error"] or ""),
                 what="the refusal in bw_status")
        assert ids(consume(consumer, 1) + real_messages(consumer, 3.0)) == [1]
        st = status(db, name)
        assert st["skipped"] == 0
    assert "message.max.bytes" in st["last_error"], st
    logged = server_log_since(dev_env, start)
    assert what in logged and "message.max.bytes" in logged


def test_an_avro_key_is_shown_as_json_in_the_refusal(bw_db, pg, registry_url):
    name = bw_db["name"]
    use_avro(pg, bw_db, registry_url)
    set_db(pg, bw_db, on_error="log", kafka_config=f"message.max.bytes={PRODUCER_LIMIT}")
    db = bw_db["conn"]
    db.execute("CREATE TABLE wide_avro (id int primary key, v text)")
    db.execute("SELECT bw_start(%s)", (name,))
    db.execute("INSERT INTO wide_avro VALUES (7, repeat('x', %s))", (BIG,))
    st = wait_for(lambda: (lambda s: s if s["skipped"] == 1 else None)(status(db, name)),
                  what="the refusal counted as skipped")
    assert 'table "public.wide_avro", key {"id": {"int": 7}}' in st["last_error"], st


def test_what_came_before_a_row_kafka_refuses_still_arrives(bw_db, pg, consumer_factory,
                                                            consume):
    """Under exit: good transactions, each committed on its own, then a row over the limit, all
    decoded in one pass of a worker catching up. Every good one reaches Kafka and the slot is
    confirmed past them before the worker stops on the bad row."""
    name = bw_db["name"]
    set_db(pg, bw_db, kafka_config=f"message.max.bytes={PRODUCER_LIMIT}")
    db = bw_db["conn"]
    db.execute("CREATE TABLE before (id int primary key, v text)")
    db.execute("SELECT bw_start(%s)", (name,))
    db.execute("INSERT INTO before VALUES (0, 'streamed')")
    wait_for(lambda: status(db, name)["acknowledged"] >= 1, what="the first row")
    db.execute("SELECT bw_stop(%s)", (name,))
    for i in range(1, 21):
        db.execute("INSERT INTO before VALUES (%s, 'good')", (i,))
    good_end = db.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    db.execute("INSERT INTO before VALUES (21, repeat('x', %s))", (BIG,))
    db.execute("INSERT INTO before VALUES (22, 'after it')")
    try:
        db.execute("SELECT bw_start(%s)", (name,))
    except psycopg.errors.ObjectNotInPrerequisiteState as error:
        # The worker may stop on the bad row before bw_start has seen it streaming.
        assert 'key {"id": {"int": 21}}' in error.diag.message_primary

    consumer = consumer_factory([bw_db["prefix"] + "before"])
    assert ids(consume(consumer, 21) + real_messages(consumer, 3.0)) == list(range(21))
    wait_for(lambda: pg.execute(
        "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
        (good_end, bw_db["slot"])).fetchone()[0], what="the slot confirmed past the good rows")
    assert 'key {"id": {"int": 21}}' in status(db, name)["last_error"]


@pytest.mark.parametrize("on_error", ["exit", "log"])
def test_a_row_over_the_topics_limit_stops_the_worker_with_what_to_set(
        bw_db, pg, dev_env, kafka_bootstrap, on_error, consumer_factory, consume):
    """The broker refuses the whole batch, which may hold good rows with the big one: never
    skipped, the error says to keep the producer's limit at or below the topic's."""
    name = bw_db["name"]
    topic = bw_db["prefix"] + "capped"
    create_topic(kafka_bootstrap, topic, max_message_bytes=PRODUCER_LIMIT)
    set_db(pg, bw_db, on_error=on_error)
    db = bw_db["conn"]
    db.execute("CREATE TABLE capped (id int primary key, v text)")
    db.execute("SELECT bw_start(%s)", (name,))
    db.execute("INSERT INTO capped VALUES (1, 'small')")
    consumer = consumer_factory([topic])
    assert ids(consume(consumer, 1)) == [1]
    db.execute("INSERT INTO capped VALUES (2, repeat('x', %s))", (BIG,))
    db.execute("INSERT INTO capped VALUES (3, 'after it')")

    error = wait_for(lambda: (lambda e: e if 'key {"id": {"int": 2}}' in e else None)(
        status(db, name)["last_error"] or ""), what="the refusal in bw_status")
    assert 'table "public.capped"' in error and "max.message.bytes" in error, error
    assert status(db, name)["skipped"] == 0
    # Row 3 is sent again by every restart, and refused with row 2 if they share a batch:
    # nothing is given up, so row 2 never disappears without a trace.
    assert 2 not in ids(real_messages(consumer, 2.0))


@pytest.mark.parametrize("on_error", ["exit", "log"])
def test_a_null_key_on_a_compacted_topic_follows_on_error(
        bw_db, pg, dev_env, kafka_bootstrap, on_error, consumer_factory, consume):
    name = bw_db["name"]
    create_topic(kafka_bootstrap, bw_db["prefix"] + "nokey", cleanup_policy="compact")
    set_db(pg, bw_db, on_error=on_error, allow_unkeyed="on")
    db = bw_db["conn"]
    db.execute("CREATE TABLE nokey (v text)")
    db.execute("CREATE TABLE keyed (id int primary key)")
    start = log_size(dev_env)
    db.execute("SELECT bw_start(%s)", (name,))
    pid = status(db, name)["pid"]
    db.execute("INSERT INTO nokey VALUES ('refused')")
    db.execute("INSERT INTO keyed VALUES (1)")
    keyed = consumer_factory([bw_db["prefix"] + "keyed"])
    what = 'table "public.nokey", null key'
    if on_error == "log":
        assert ids(consume(keyed, 1)) == [1]
        st = wait_for(lambda: (lambda s: s if s["skipped"] == 1 else None)(status(db, name)),
                      what="the refusal counted as skipped")
        assert st["pid"] == pid and what in st["last_error"], st
        wait_for(lambda: st["last_commit_lsn"] and pg.execute(
            "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots "
            "WHERE slot_name = %s", (st["last_commit_lsn"], bw_db["slot"])).fetchone()[0],
            what="the slot to move past the skipped row")
    else:
        st = wait_for(lambda: (lambda s: s if what in (s["last_error"] or "") else None)(
            status(db, name)), what="the refusal in bw_status")
        assert st["skipped"] == 0
    assert "cleanup.policy" in st["last_error"], st
    assert what in server_log_since(dev_env, start)
