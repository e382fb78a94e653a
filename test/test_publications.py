"""Publications decide the capture set end to end: bottledwater.publication picks the tables and
operations the worker streams and snapshots, ALTER PUBLICATION takes effect mid-stream, and a
missing publication is an error with a hint in bw_status."""

import io
import json
import random
import time

import fastavro
import psycopg
import pytest
import requests

from test_worker import bw_db, real_messages, status, wait_for  # noqa: F401
from test_worker_faults import final_state_in_kafka


def rows(db, table):
    return dict(db.execute(f"SELECT id, v FROM {table}").fetchall())


def start_with_publication(pg, bw_db, publication):
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.publication = '{publication}'")
    bw_db["conn"].execute("SELECT bw_start(%s)", (bw_db["name"],))


def test_publications_decide_tables_operations_and_snapshot(bw_db, pg, pg_connect,
                                                           consumer_factory):
    db = bw_db["conn"]
    prefix = bw_db["prefix"]
    db.execute("CREATE SCHEMA billing")
    for table in ("orders", "items", "hidden", "billing.invoices", "later"):
        db.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
    # Before the start: the snapshot dumps the published tables only.
    for table in ("orders", "hidden", "billing.invoices"):
        db.execute(f"INSERT INTO {table} SELECT g, g FROM generate_series(1, 50) g")
    db.execute("CREATE PUBLICATION orders_pub FOR TABLE orders, TABLES IN SCHEMA billing")
    db.execute("CREATE PUBLICATION items_pub FOR TABLE items WITH (publish = 'insert')")
    start_with_publication(pg, bw_db, "orders_pub, items_pub")

    rng = random.Random(13)
    first_item_values = {}
    for step in range(400):
        table = rng.choice(["orders", "hidden", "billing.invoices", "items"])
        key, value = rng.randint(1, 80), step
        if table == "items" and key not in first_item_values:
            db.execute("INSERT INTO items VALUES (%s, %s)", (key, value))
            first_item_values[key] = value
        elif table == "items":
            db.execute("UPDATE items SET v = %s WHERE id = %s", (value, key))
        elif rng.random() < 0.2:
            db.execute(f"DELETE FROM {table} WHERE id = %s", (key,))
        else:
            db.execute(f"INSERT INTO {table} VALUES (%s, %s) ON CONFLICT (id) "
                       "DO UPDATE SET v = excluded.v", (key, value))
        if step == 200:
            db.execute("INSERT INTO later VALUES (1, 1)")
            db.execute("ALTER PUBLICATION orders_pub ADD TABLE later")
            db.execute("INSERT INTO later VALUES (2, 2)")
            db.execute("UPDATE later SET v = 10 WHERE id = 1")

    final_state_in_kafka(consumer_factory, prefix + "orders", rows(db, "orders"))
    final_state_in_kafka(consumer_factory, prefix + "billing.invoices",
                         rows(db, "billing.invoices"))
    # Insert-only: each key keeps the value it was inserted with.
    final_state_in_kafka(consumer_factory, prefix + "items", first_item_values)
    # Added mid-stream: the row inserted before the ADD arrives only through its later update.
    final_state_in_kafka(consumer_factory, prefix + "later", {1: 10, 2: 2})
    # Everything above is in Kafka, so anything of `hidden` would be too.
    assert real_messages(consumer_factory([prefix + "hidden"]), 3.0) == []
    # bw_captured_tables says the same, in a session that sees the database's settings.
    captured = pg_connect(bw_db["name"]).execute(
        "SELECT table_name::text, topic, operations FROM bw_captured_tables()").fetchall()
    assert sorted(captured) == [
        ("billing.invoices", prefix + "billing.invoices", "insert, update, delete, truncate"),
        ("items", prefix + "items", "insert"),
        ("later", prefix + "later", "insert, update, delete, truncate"),
        ("orders", prefix + "orders", "insert, update, delete, truncate"),
    ]


def test_a_missing_publication_at_start_is_an_error_with_a_hint(bw_db, pg):
    db = bw_db["conn"]
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.publication = 'no_such_pub'")
    try:
        db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    except psycopg.Error as error:  # bw_start reports a worker that gave up at once
        assert 'publication "no_such_pub"' in str(error), error
    st = wait_for(lambda: (lambda s: s if s["state"] == "error" else None)(
        status(db, bw_db["name"])), what="the worker to fail")
    assert 'publication "no_such_pub" named in bottledwater.publication does not exist' \
        in st["last_error"], st
    assert "Create it with CREATE PUBLICATION" in st["hint"], st


def test_a_publication_dropped_while_streaming_is_reported(bw_db, pg, consumer_factory):
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("CREATE PUBLICATION p FOR TABLE t")
    start_with_publication(pg, bw_db, "p")
    db.execute("INSERT INTO t VALUES (1, 1)")
    final_state_in_kafka(consumer_factory, bw_db["prefix"] + "t", {1: 1})
    db.execute("DROP PUBLICATION p")
    db.execute("INSERT INTO t VALUES (2, 2)")
    st = wait_for(lambda: (lambda s: s if 'publication "p" does not exist' in
                           (s["last_error"] or "") else None)(status(db, bw_db["name"])),
                  what="the dropped publication in bw_status")
    assert "Create it in this database with CREATE PUBLICATION" in st["hint"], st
    # Nothing after the drop was sent: the worker stops at the change, it does not skip it.
    messages = real_messages(consumer_factory([bw_db["prefix"] + "t"]), 2.0)
    assert [json.loads(m.key())["id"]["int"] for m in messages] == [1]


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_a_column_list_keeps_a_column_out_of_kafka(bw_db, pg, registry_url, consumer_factory,
                                                   consume, output_format):
    """The hidden column's values appear nowhere in the topic's raw bytes, in the snapshot or
    the stream, nor its name in the registered schema."""
    db = bw_db["conn"]
    name = bw_db["name"]
    if output_format == "avro":
        pg.execute(f"ALTER DATABASE {name} SET bottledwater.output_format = 'avro'")
        pg.execute(f"ALTER DATABASE {name} SET bottledwater.schema_registry_url = "
                   f"'{registry_url}'")
    db.execute("CREATE TABLE people (id int PRIMARY KEY, name text, ssn text)")
    db.execute("INSERT INTO people VALUES (1, 'ann', 'hidden-ssn-snapshot')")
    db.execute("CREATE PUBLICATION people_pub FOR TABLE people (id, name)")
    start_with_publication(pg, bw_db, "people_pub")
    db.execute("INSERT INTO people VALUES (2, 'bob', 'hidden-ssn-insert')")
    db.execute("UPDATE people SET name = 'anne', ssn = 'hidden-ssn-update' WHERE id = 1")
    db.execute("DELETE FROM people WHERE id = 2")

    topic = bw_db["prefix"] + "people"
    messages = consume(consumer_factory([topic]), 4)
    raw = b"".join((m.key() or b"") + (m.value() or b"") for m in messages)
    assert b"hidden-ssn" not in raw and b"ssn" not in raw
    if output_format == "json":
        values = [json.loads(m.value()) if m.value() else None for m in messages]
    else:
        schema = requests.get(f"{registry_url}/subjects/{topic}-value/versions/latest",
                              timeout=10).json()["schema"]
        assert "ssn" not in schema
        parsed = fastavro.parse_schema(json.loads(schema))
        values = [fastavro.schemaless_reader(io.BytesIO(m.value()[5:]), parsed)
                  if m.value() else None for m in messages]
        values = [{k: {"int": v} if k == "id" else {"string": v} for k, v in value.items()}
                  if value else None for value in values]
    assert values == [
        {"id": {"int": 1}, "name": {"string": "ann"}},
        {"id": {"int": 2}, "name": {"string": "bob"}},
        {"id": {"int": 1}, "name": {"string": "anne"}},
        None,
    ]


class Decoder:
    """Kafka keys and values as dicts, from Avro-JSON text or Confluent-framed Avro."""

    def __init__(self, output_format, registry_url):
        self.avro = output_format == "avro"
        self.registry_url = registry_url
        self.schemas = {}

    def __call__(self, data):
        if data is None:
            return None
        if not self.avro:
            return {k: (next(iter(v.values())) if v else None)
                    for k, v in json.loads(data).items()}
        schema_id = int.from_bytes(data[1:5], "big")
        if schema_id not in self.schemas:
            text = requests.get(f"{self.registry_url}/schemas/ids/{schema_id}",
                                timeout=10).json()["schema"]
            self.schemas[schema_id] = fastavro.parse_schema(json.loads(text))
        return fastavro.schemaless_reader(io.BytesIO(data[5:]), self.schemas[schema_id])


def use_format(pg, bw_db, output_format, registry_url):
    if output_format == "avro":
        pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.output_format = 'avro'")
        pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.schema_registry_url = "
                   f"'{registry_url}'")
    return Decoder(output_format, registry_url)


def final_rows_in_kafka(consumer, decode, expected, timeout=60.0):
    """Reads until the last message per key equals `expected` ((id, at) -> v); returns the
    topics the messages came from."""
    latest, topics = {}, set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            if latest == expected:
                return topics
            continue
        if msg.error():
            continue
        topics.add(msg.topic())
        key, value = decode(msg.key()), decode(msg.value())
        if value is None:
            latest.pop((key["id"], key["at"]), None)
        else:
            latest[(key["id"], key["at"])] = value["v"]
    pytest.fail(f"Kafka holds {latest}, the table {expected}")


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_a_partition_tree_streams_as_its_root(bw_db, pg, registry_url, consumer_factory,
                                              output_format):
    """Three levels, no publication: the snapshot and every change, through the root or into a
    leaf, moved between partitions, in partitions attached and detached while streaming, arrive
    in the root's topic only."""
    decode = use_format(pg, bw_db, output_format, registry_url)
    db = bw_db["conn"]
    db.execute("CREATE TABLE m (id int, at int, v int, PRIMARY KEY (id, at)) "
               "PARTITION BY RANGE (at)")
    db.execute("CREATE TABLE m_low PARTITION OF m FOR VALUES FROM (0) TO (10)")
    db.execute("CREATE TABLE m_high PARTITION OF m FOR VALUES FROM (10) TO (50) "
               "PARTITION BY RANGE (at)")
    db.execute("CREATE TABLE m_high_a (v int, at int NOT NULL, id int NOT NULL)")
    db.execute("ALTER TABLE m_high ATTACH PARTITION m_high_a FOR VALUES FROM (10) TO (50)")
    db.execute("INSERT INTO m SELECT g, g % 50, g FROM generate_series(1, 40) g")
    db.execute("SELECT bw_start(%s)", (bw_db["name"],))
    db.execute("INSERT INTO m VALUES (100, 5, 1), (101, 25, 1)")
    db.execute("INSERT INTO m_high_a (id, at, v) VALUES (102, 30, 1)")
    db.execute("UPDATE m SET at = 45 WHERE id = 100")   # low -> high_a
    db.execute("UPDATE m SET v = v + 1 WHERE id % 3 = 0")
    db.execute("DELETE FROM m WHERE id % 7 = 0")
    db.execute("CREATE TABLE m_new (LIKE m INCLUDING INDEXES)")
    db.execute("ALTER TABLE m ATTACH PARTITION m_new FOR VALUES FROM (50) TO (100)")
    db.execute("INSERT INTO m VALUES (103, 70, 1)")
    db.execute("UPDATE m SET at = 60 WHERE id = 101")   # high_a -> m_new
    db.execute("ALTER TABLE m DETACH PARTITION m_low")
    db.execute("INSERT INTO m_low VALUES (104, 1, 1)")  # its own table now

    # m_low's rows went to m's topic until it was detached, and its own since.
    expected = {(i, at): v for i, at, v in db.execute(
        "SELECT id, at, v FROM m UNION ALL SELECT id, at, v FROM m_low").fetchall()}
    prefix = bw_db["prefix"]
    consumer = consumer_factory([f"^{prefix.replace('.', '[.]')}m.*"])
    topics = final_rows_in_kafka(consumer, decode, expected)
    assert topics == {prefix + "m", prefix + "m_low"}


def test_a_row_filter_decides_rows_in_snapshot_and_stream(bw_db, pg, consumer_factory):
    """Kafka ends up holding exactly the rows that match, as the last message per key: rows
    that stop matching are deleted there, rows that start matching appear."""
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("ALTER TABLE t REPLICA IDENTITY FULL")
    db.execute("INSERT INTO t SELECT g, g % 4 FROM generate_series(1, 100) g")
    db.execute("CREATE PUBLICATION positive FOR TABLE t WHERE (v > 0)")
    start_with_publication(pg, bw_db, "positive")
    rng = random.Random(4)
    for _ in range(300):
        key = rng.randint(1, 120)
        db.execute("INSERT INTO t VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET v = excluded.v",
                   (key, rng.randint(-2, 3)))
        if rng.random() < 0.1:
            db.execute("DELETE FROM t WHERE id = %s", (rng.randint(1, 120),))
    expected = dict(db.execute("SELECT id, v FROM t WHERE v > 0").fetchall())
    final_state_in_kafka(consumer_factory, bw_db["prefix"] + "t", expected)
