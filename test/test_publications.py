"""Publications decide the capture set end to end: bottledwater.publication picks the tables and
operations the worker streams and snapshots, ALTER PUBLICATION takes effect mid-stream, and a
missing publication is an error with a hint in bw_status."""

import io
import json
import random

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


def test_publications_decide_tables_operations_and_snapshot(bw_db, pg, consumer_factory):
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
    assert "HINT: Create it with CREATE PUBLICATION" in st["last_error"], st


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
    assert "HINT: Create it in this database with CREATE PUBLICATION" in st["last_error"], st
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
