"""Fixtures for tests against the dev environment (scripts/dev-env): PostgreSQL with the
extension, a Kafka broker and a schema registry, all real servers on loopback.

The environment comes up once per session. If it was already up, it is left as it was;
otherwise it is torn down at the end, unless BW_DEV_ENV_KEEP=1 asks to keep it for a look.
"""

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException

REPO = Path(__file__).resolve().parent.parent
DEV_ENV = REPO / "scripts" / "dev-env"
STATE = Path(os.environ.get("BW_DEV_DIR", REPO / ".dev-env"))

# Errors a consumer reports while it waits for a topic that bottledwater has not created yet,
# or when it reaches the end of a partition: neither means the test failed.
TRANSIENT_CONSUMER_ERRORS = {KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART}


def as_postgres(*command):
    """Runs a PostgreSQL program as the postgres user (initdb and the server refuse root)."""
    subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True,
                   capture_output=True)


def has_setting(pg_bin, name):
    """Whether this build of PostgreSQL has the setting (output_plugin_libraries is in only some)."""
    described = subprocess.run([Path(pg_bin) / "postgres", "--describe-config"], check=True,
                               capture_output=True, text=True).stdout
    return name in (line.split("\t", 1)[0] for line in described.splitlines())


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def read_env_sh(path):
    """The variables env.sh exports, read by a shell so its quoting rules apply."""
    out = subprocess.run(
        ["bash", "-c", 'set -a; source "$1"; env -0', "_", str(path)],
        check=True, capture_output=True,
    ).stdout.decode()
    pairs = (item.split("=", 1) for item in out.split("\0") if "=" in item)
    return {k: v for k, v in pairs if k.startswith(("PG", "BW_"))}


@pytest.fixture(scope="session")
def dev_env():
    already_up = subprocess.run([DEV_ENV, "status"], capture_output=True).returncode == 0
    if not already_up:
        subprocess.run([DEV_ENV, "up"], check=True)
    env = read_env_sh(STATE / "env.sh")
    yield env
    if not already_up and os.environ.get("BW_DEV_ENV_KEEP") != "1":
        subprocess.run([DEV_ENV, "down"], check=True)


@pytest.fixture
def pg_connect(dev_env):
    """Opens autocommit connections to the test database (or another one), as the superuser
    unless `user` says otherwise; closed after."""
    opened = []

    def connect(dbname=None, user=None, **kwargs):
        conn = psycopg.connect(
            host=dev_env["PGHOST"], port=dev_env["PGPORT"], user=user or dev_env["PGUSER"],
            dbname=dbname or dev_env["PGDATABASE"], autocommit=True, **kwargs,
        )
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        conn.close()


@pytest.fixture
def pg(pg_connect):
    return pg_connect()


@pytest.fixture(scope="session")
def kafka_bootstrap(dev_env):
    return dev_env["BW_KAFKA_BOOTSTRAP"]


@pytest.fixture(scope="session")
def registry_url(dev_env):
    """The registry's Confluent-compatible API, e.g. http://127.0.0.1:28081/apis/ccompat/v7."""
    return dev_env["BW_SCHEMA_REGISTRY_URL"]


@pytest.fixture
def consumer_factory(kafka_bootstrap):
    """Makes Consumers subscribed to `topics`, each in a group of its own reading from the start."""
    consumers = []

    def make(topics, **config):
        consumer = Consumer({
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"bw-test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            # Topics appear when bottledwater first writes to them; notice them quickly.
            "topic.metadata.refresh.interval.ms": 1000,
            **config,
        })
        consumer.subscribe(list(topics))
        consumers.append(consumer)
        return consumer

    yield make
    for consumer in consumers:
        consumer.close()


def consume_messages(consumer, count, timeout=30.0):
    """Polls until `count` messages have arrived; fails the test if they do not within `timeout`."""
    messages = []
    deadline = time.monotonic() + timeout
    while len(messages) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"got {len(messages)} of {count} messages within {timeout}s")
        msg = consumer.poll(min(remaining, 1.0))
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() in TRANSIENT_CONSUMER_ERRORS:
                continue
            raise KafkaException(msg.error())
        messages.append(msg)
    return messages


@pytest.fixture
def consume():
    """consume(consumer, count, timeout=30.0) -> the first `count` messages, in arrival order."""
    return consume_messages
