"""Smoke tests: each server of the dev environment answers a real client, and the extension
loads into the dev cluster."""

import json
import uuid

import fastavro
import requests
from confluent_kafka import Producer

REGISTRY_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


def test_broker_round_trip(kafka_bootstrap, consumer_factory, consume):
    topic = f"smoke-{uuid.uuid4()}"
    delivered = []
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    producer.produce(topic, key=b"k1", value=b"hello",
                     on_delivery=lambda err, msg: delivered.append(err))
    assert producer.flush(30) == 0, "message still queued after 30s"
    assert delivered == [None]

    consumer = consumer_factory([topic])
    [msg] = consume(consumer, 1)
    assert (msg.topic(), msg.key(), msg.value()) == (topic, b"k1", b"hello")


def test_registry_round_trip(registry_url):
    subject = f"smoke-{uuid.uuid4()}-value"
    schema = {
        "type": "record", "name": "Row", "namespace": "smoke",
        "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": ["null", "string"]}],
    }
    fastavro.parse_schema(schema)  # the test's own schema must be valid Avro

    posted = requests.post(
        f"{registry_url}/subjects/{subject}/versions",
        data=json.dumps({"schema": json.dumps(schema)}),
        headers={"Content-Type": REGISTRY_CONTENT_TYPE}, timeout=10,
    )
    assert posted.status_code == 200, posted.text
    schema_id = posted.json()["id"]
    assert isinstance(schema_id, int)

    fetched = requests.get(f"{registry_url}/schemas/ids/{schema_id}", timeout=10)
    assert fetched.status_code == 200, fetched.text
    assert json.loads(fetched.json()["schema"]) == schema

    subjects = requests.get(f"{registry_url}/subjects", timeout=10)
    assert subject in subjects.json()


def test_extension_reports_version(pg):
    pg.execute("CREATE EXTENSION IF NOT EXISTS bottledwater")
    [version] = pg.execute("SELECT bw_version()").fetchone()
    assert isinstance(version, str) and version.strip()
