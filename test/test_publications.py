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


def rows(db, table):
    return dict(db.execute(f"SELECT id, v FROM {table}").fetchall())


def start_with_publication(pg, bw_db, publication):
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.publication = '{publication}'")
    bw_db["conn"].execute("SELECT bw_start(%s)", (bw_db["name"],))


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_publications_decide_tables_operations_and_snapshot(bw_db, pg, pg_connect, registry_url,
                                                           consumer_factory, output_format):
    """A mixed workload: Kafka ends with the last message per key equal to each captured
    table's final row (as the publications had it at each change), and nothing of the others.
    Mid-stream: a table added to and one dropped from a publication, its operations changed,
    a table created in a published schema."""
    decode = use_format(pg, bw_db, output_format, registry_url)
    db = bw_db["conn"]
    prefix = bw_db["prefix"]
    db.execute("CREATE SCHEMA billing")
    for table in ("orders", "items", "hidden", "billing.invoices", "later", "leaving"):
        db.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)")
    db.execute("CREATE TABLE nokey (id int, v int)")  # unkeyed, allow_unkeyed off: left out
    # Before the start: the snapshot dumps the published tables only.
    for table in ("orders", "hidden", "billing.invoices", "leaving"):
        db.execute(f"INSERT INTO {table} SELECT g, g FROM generate_series(1, 50) g")
    db.execute("CREATE PUBLICATION orders_pub FOR TABLE orders, leaving, nokey, "
               "TABLES IN SCHEMA billing")
    db.execute("CREATE PUBLICATION items_pub FOR TABLE items WITH (publish = 'insert')")
    start_with_publication(pg, bw_db, "orders_pub, items_pub")
    # The snapshot reads publications as they stand when it scans (see README), so the
    # publications change only once it is done.
    wait_for(lambda: status(db, bw_db["name"])["state"] == "streaming", what="the snapshot")

    rng = random.Random(13)
    items_in_kafka = {}
    items_updates_published = False
    leaving_in_kafka = None
    for step in range(400):
        table = rng.choice(["orders", "hidden", "billing.invoices", "items", "leaving", "nokey"])
        key, value = rng.randint(1, 80), step
        if table == "items" and key not in items_in_kafka:
            db.execute("INSERT INTO items VALUES (%s, %s)", (key, value))
            items_in_kafka[key] = value
        elif table == "items":
            db.execute("UPDATE items SET v = %s WHERE id = %s", (value, key))
            if items_updates_published:
                items_in_kafka[key] = value
        elif table == "nokey":
            db.execute("INSERT INTO nokey VALUES (%s, %s)", (key, value))
        elif rng.random() < 0.2:
            db.execute(f"DELETE FROM {table} WHERE id = %s", (key,))
        else:
            db.execute(f"INSERT INTO {table} VALUES (%s, %s) ON CONFLICT (id) "
                       "DO UPDATE SET v = excluded.v", (key, value))
        if step == 100:
            db.execute("ALTER PUBLICATION items_pub SET (publish = 'insert, update')")
            items_updates_published = True
        if step == 150:
            leaving_in_kafka = rows(db, "leaving")
            db.execute("ALTER PUBLICATION orders_pub DROP TABLE leaving")
        if step == 200:
            db.execute("INSERT INTO later VALUES (1, 1)")
            db.execute("ALTER PUBLICATION orders_pub ADD TABLE later")
            db.execute("INSERT INTO later VALUES (2, 2)")
            db.execute("UPDATE later SET v = 10 WHERE id = 1")
        if step == 250:
            db.execute("CREATE TABLE billing.fresh (id int PRIMARY KEY, v int)")
            db.execute("INSERT INTO billing.fresh VALUES (1, 1), (2, 2)")

    def final(topic, expected):
        by_key = {(k,): v for k, v in expected.items()}
        final_rows_in_kafka(consumer_factory([prefix + topic]), decode, by_key, key=("id",))

    final("orders", rows(db, "orders"))
    final("billing.invoices", rows(db, "billing.invoices"))
    # Inserts only, then updates too: each key holds its last value sent.
    final("items", items_in_kafka)
    # Added mid-stream: the row inserted before the ADD arrives only through its later update.
    final("later", {1: 10, 2: 2})
    # Dropped mid-stream: what it held then.
    final("leaving", leaving_in_kafka)
    final("billing.fresh", {1: 1, 2: 2})
    # Everything above is in Kafka, so anything of the others would be too.
    assert real_messages(consumer_factory([prefix + "hidden", prefix + "nokey"]), 3.0) == []
    # bw_captured_tables says the same, in a session that sees the database's settings.
    captured = pg_connect(bw_db["name"]).execute(
        "SELECT table_name::text, topic, operations FROM bw_captured_tables()").fetchall()
    assert sorted(captured) == [
        ("billing.fresh", prefix + "billing.fresh", "insert, update, delete, truncate"),
        ("billing.invoices", prefix + "billing.invoices", "insert, update, delete, truncate"),
        ("items", prefix + "items", "insert, update"),
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


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_a_publication_dropped_while_streaming_is_reported(bw_db, pg, registry_url,
                                                           consumer_factory, output_format):
    decode = use_format(pg, bw_db, output_format, registry_url)
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v int)")
    db.execute("CREATE PUBLICATION p FOR TABLE t")
    start_with_publication(pg, bw_db, "p")
    db.execute("INSERT INTO t VALUES (1, 1)")
    final_rows_in_kafka(consumer_factory([bw_db["prefix"] + "t"]), decode, {(1,): 1},
                        key=("id",))
    db.execute("DROP PUBLICATION p")
    db.execute("INSERT INTO t VALUES (2, 2)")
    st = wait_for(lambda: (lambda s: s if 'publication "p" does not exist' in
                           (s["last_error"] or "") else None)(status(db, bw_db["name"])),
                  what="the dropped publication in bw_status")
    assert "Create it in this database with CREATE PUBLICATION" in st["hint"], st
    # Nothing after the drop was sent: the worker stops at the change, it does not skip it.
    messages = real_messages(consumer_factory([bw_db["prefix"] + "t"]), 2.0)
    assert [decode(m.key())["id"] for m in messages] == [1]


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_a_column_list_keeps_a_column_out_of_kafka(bw_db, pg, registry_url, consumer_factory,
                                                   consume, output_format):
    """The hidden columns' values appear nowhere in the raw bytes of any topic the worker wrote
    (keys, values, headers), in the snapshot or the stream, nor their names in any registered
    schema; a partitioned table sent as its root takes the root's column list."""
    decode = use_format(pg, bw_db, output_format, registry_url)
    db = bw_db["conn"]
    name, prefix = bw_db["name"], bw_db["prefix"]
    pg.execute(f"ALTER DATABASE {name} SET bottledwater.message_headers = on")
    db.execute("CREATE TABLE people (id int PRIMARY KEY, name text, ssn text)")
    db.execute("INSERT INTO people VALUES (1, 'ann', 'hidden-ssn-snapshot')")
    db.execute("CREATE TABLE cards (id int, at int, ssn text, v int, PRIMARY KEY (id, at)) "
               "PARTITION BY RANGE (at)")
    db.execute("CREATE TABLE cards_1 (ssn text, v int, at int NOT NULL, id int NOT NULL)")
    db.execute("ALTER TABLE cards ATTACH PARTITION cards_1 FOR VALUES FROM (0) TO (10)")
    db.execute("INSERT INTO cards VALUES (1, 1, 'hidden-ssn-card-snapshot', 1)")
    db.execute("CREATE PUBLICATION people_pub FOR TABLE people (id, name), TABLE cards (id, at, v) "
               "WITH (publish_via_partition_root)")
    start_with_publication(pg, bw_db, "people_pub")
    db.execute("INSERT INTO people VALUES (2, 'bob', 'hidden-ssn-insert')")
    db.execute("UPDATE people SET name = 'anne', ssn = 'hidden-ssn-update' WHERE id = 1")
    db.execute("DELETE FROM people WHERE id = 2")
    db.execute("INSERT INTO cards_1 (id, at, ssn, v) VALUES (2, 2, 'hidden-ssn-card-leaf', 2)")
    db.execute("UPDATE cards SET ssn = 'hidden-ssn-card-update', v = 3 WHERE id = 1")

    messages = consume(consumer_factory([f"^{prefix.replace('.', '[.]')}.*"]), 7)
    assert {m.topic() for m in messages} == {prefix + "people", prefix + "cards"}
    raw = b"".join((m.key() or b"") + (m.value() or b"") +
                   b"".join(n.encode() + v for n, v in m.headers() or []) for m in messages)
    assert b"hidden-ssn" not in raw and b"ssn" not in raw
    if output_format == "avro":
        subjects = [s for s in requests.get(f"{registry_url}/subjects", timeout=10).json()
                    if s.startswith(prefix)]
        assert sorted(subjects) == sorted(f"{prefix}{t}-{part}" for t in ("people", "cards")
                                          for part in ("key", "value"))
        for subject in subjects:
            schema = requests.get(f"{registry_url}/subjects/{subject}/versions/latest",
                                  timeout=10).json()["schema"]
            assert "ssn" not in schema, (subject, schema)
    values = [(m.topic()[len(prefix):], decode(m.value())) for m in messages]
    assert [v for t, v in values if t == "people"] == [
        {"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}, {"id": 1, "name": "anne"}, None]
    assert sorted((v["id"], v["at"], v["v"]) for t, v in values if t == "cards") == [
        (1, 1, 1), (1, 1, 3), (2, 2, 2)]


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


def final_rows_in_kafka(consumer, decode, expected, timeout=60.0, key=("id", "at")):
    """Reads until the last message per key equals `expected` (tuple of the `key` fields -> v);
    returns the topics the messages came from."""
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
        fields, value = decode(msg.key()), decode(msg.value())
        if value is None:
            latest.pop(tuple(fields[k] for k in key), None)
        else:
            latest[tuple(fields[k] for k in key)] = value["v"]
    pytest.fail(f"Kafka holds {latest}, the table {expected}")


@pytest.mark.parametrize("output_format", ["json", "avro"])
@pytest.mark.parametrize("publication", [None, "via_root"])
def test_a_partition_tree_streams_as_its_root(bw_db, pg, registry_url, consumer_factory,
                                              output_format, publication):
    """Three levels, without a publication or under one with publish_via_partition_root: the
    snapshot and every change, through the root or into a leaf, moved between partitions, in
    partitions attached and detached while streaming, arrive in the root's topic only."""
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
    if publication:
        db.execute(f"CREATE PUBLICATION {publication} FOR TABLE m "
                   "WITH (publish_via_partition_root)")
        start_with_publication(pg, bw_db, publication)
        # Membership changes below (attach, detach): only after the snapshot (see README).
        wait_for(lambda: status(db, bw_db["name"])["state"] == "streaming", what="the snapshot")
    else:
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

    # m_low's rows went to m's topic until it was detached; since, it streams as its own table
    # without a publication, and not at all under one that lists m.
    expected = {(i, at): v for i, at, v in db.execute(
        "SELECT id, at, v FROM m UNION ALL SELECT id, at, v FROM m_low").fetchall()}
    prefix = bw_db["prefix"]
    if publication:
        del expected[(104, 1)]
    consumer = consumer_factory([f"^{prefix.replace('.', '[.]')}m.*"])
    topics = final_rows_in_kafka(consumer, decode, expected)
    assert topics == ({prefix + "m"} if publication else {prefix + "m", prefix + "m_low"})
    if publication:
        assert real_messages(consumer_factory([prefix + "m_low"]), 2.0) == []


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_a_row_filter_decides_rows_in_snapshot_and_stream(bw_db, pg, registry_url,
                                                          consumer_factory, output_format):
    """Kafka ends up holding exactly the rows that match, as the last message per key: rows
    that stop matching are deleted there, rows that start matching appear."""
    decode = use_format(pg, bw_db, output_format, registry_url)
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
    expected = {(k,): v for k, v in db.execute("SELECT id, v FROM t WHERE v > 0").fetchall()}
    final_rows_in_kafka(consumer_factory([bw_db["prefix"] + "t"]), decode, expected,
                        key=("id",))


@pytest.mark.parametrize("output_format", ["json", "avro"])
def test_for_all_tables_covers_tables_created_later_and_unkeyed_ones(bw_db, pg, registry_url,
                                                                    consumer_factory,
                                                                    output_format):
    """FOR ALL TABLES publishing inserts and deletes: a table created after the start is
    captured, updates are not sent, and an unkeyed table streams with null keys under
    allow_unkeyed, as without a publication."""
    decode = use_format(pg, bw_db, output_format, registry_url)
    pg.execute(f"ALTER DATABASE {bw_db['name']} SET bottledwater.allow_unkeyed = on")
    db, prefix = bw_db["conn"], bw_db["prefix"]
    db.execute("CREATE TABLE first (id int PRIMARY KEY, v int)")
    db.execute("CREATE TABLE nokey (id int, v int)")
    db.execute("CREATE PUBLICATION everything FOR ALL TABLES WITH (publish = 'insert, delete')")
    start_with_publication(pg, bw_db, "everything")
    db.execute("CREATE TABLE second (id int PRIMARY KEY, v int)")
    for table in ("first", "second"):
        db.execute(f"INSERT INTO {table} VALUES (1, 1), (2, 2)")
        db.execute(f"UPDATE {table} SET v = 10 WHERE id = 1")  # not published
        db.execute(f"DELETE FROM {table} WHERE id = 2")
    # PostgreSQL refuses its deletes (no identity) under a publication that publishes them.
    db.execute("INSERT INTO nokey VALUES (1, 1), (2, 2)")
    for table in ("first", "second"):
        final_rows_in_kafka(consumer_factory([prefix + table]), decode, {(1,): 1}, key=("id",))
    messages = real_messages(consumer_factory([prefix + "nokey"]), 3.0)
    assert [(m.key(), decode(m.value())) for m in messages] == [
        (None, {"id": 1, "v": 1}), (None, {"id": 2, "v": 2})]
