"""Who may do what, tried as a hostile user would: a database owner who is not superuser, roles
granted EXECUTE on the worker functions, secrets kept from other roles, and a copied data
directory that must not publish. Real servers (PostgreSQL, Kafka) as everywhere else; each test
has a database of its own. The copied-data-directory test stops and starts PostgreSQL.
"""

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from conftest import DEV_ENV, REPO, consume_messages
from test_worker import wait_for
from throwaway_cluster import throwaway_cluster


@pytest.fixture
def owned_db(pg, pg_connect):
    """A database owned by a login role that is not superuser, streamed in json by a superuser;
    the role, worker, slot and database are removed after."""
    tag = uuid.uuid4().hex[:10]
    name, owner, slot = f"bw_owned_{tag}", f"bw_owner_{tag}", f"bw_{tag}"
    pg.execute(f"CREATE ROLE {owner} LOGIN")
    pg.execute(f"CREATE DATABASE {name} OWNER {owner}")
    for setting, value in (("output_format", "json"), ("slot_name", slot),
                           ("topic_prefix", f"bwsec_{tag}.")):
        pg.execute(f"ALTER DATABASE {name} SET bottledwater.{setting} = '{value}'")
    admin = pg_connect(name)
    admin.execute("CREATE EXTENSION bottledwater")
    yield {"name": name, "owner": owner, "slot": slot, "prefix": f"bwsec_{tag}.",
           "admin": admin, "tag": tag,
           "as_owner": lambda: pg_connect(name, user=owner)}
    # New sessions: a test may have restarted the server.
    pg_connect(name).execute("SELECT bw_stop(%s)", (name,))
    cleanup = pg_connect()
    cleanup.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE database = %s", (name,))
    cleanup.execute(f"DROP DATABASE {name} WITH (FORCE)")
    cleanup.execute(f"DROP ROLE {owner}")


def test_an_operator_planted_by_the_database_owner_never_runs_as_superuser(
        owned_db, consumer_factory):
    """The owner puts `public` before pg_catalog in the database's search_path and plants an
    operator there with the signature of one the worker's catalog queries use. Run by the
    worker, it would be a superuser's shell (COPY ... TO PROGRAM); it must never run."""
    marker = f"/tmp/bw_planted_{owned_db['tag']}"
    owner = owned_db["as_owner"]()
    owner.execute(f"""
        CREATE FUNCTION public.planted(name, text) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN
            IF current_setting('bw_test.planted', true) IS DISTINCT FROM 'done' THEN
                PERFORM set_config('bw_test.planted', 'done', false);
                EXECUTE 'COPY (SELECT current_user) TO PROGRAM ''cat > {marker}''';
            END IF;
            RETURN $1 OPERATOR(pg_catalog.!~) $2;
        END $$""")
    owner.execute("CREATE OPERATOR public.!~ (LEFTARG = name, RIGHTARG = text, "
                  "FUNCTION = public.planted)")
    owner.execute("CREATE TABLE t (id int PRIMARY KEY)")
    owner.execute("INSERT INTO t VALUES (1)")
    owner.execute(f"ALTER DATABASE {owned_db['name']} SET search_path = public, pg_catalog")
    try:
        owned_db["admin"].execute("SELECT bw_start(%s)", (owned_db["name"],))
        consumer = consumer_factory([owned_db["prefix"] + "t"])
        assert [m.key() for m in consume_messages(consumer, 1)] == [b'{"id": {"int": 1}}']
        assert not os.path.exists(marker), "the planted operator ran as " + open(marker).read()
    finally:
        if os.path.exists(marker):
            os.remove(marker)


def reload_until(conn_factory, setting, value):
    """Reloads the configuration and waits until new sessions (and so new workers) see it."""
    conn = conn_factory()
    conn.execute("SELECT pg_reload_conf()")
    wait_for(lambda: conn_factory().execute(f"SHOW {setting}").fetchone()[0] == value,
             what=f"{setting} to be reloaded")


def test_credentials_come_from_kafka_secret_config_and_never_show_in_errors(
        owned_db, pg, pg_connect):
    """The worker adds kafka_secret_config to kafka_config; a property librdkafka refuses there
    is named in the worker's error, its value never."""
    pg.execute("ALTER SYSTEM SET bottledwater.kafka_secret_config = 'no.such.secret=s3cret'")
    try:
        reload_until(pg_connect, "bottledwater.kafka_secret_config", "no.such.secret=s3cret")
        # bw_start raises the worker's error, or warns if it sees the worker's `error` state
        # before the worker has exited: either way bw_status keeps it.
        try:
            owned_db["admin"].execute("SELECT bw_start(%s)", (owned_db["name"],))
        except psycopg.Error as raised:
            assert '"no.such.secret"' in str(raised) and "s3cret" not in str(raised), raised
        last_error = wait_for(lambda: owned_db["admin"].execute(
            "SELECT last_error FROM bw_status() WHERE database = %s AND state = 'error'",
            (owned_db["name"],)).fetchone(), what="the worker to stop in error")[0]
        assert '"no.such.secret"' in last_error and "s3cret" not in last_error, last_error
    finally:
        pg.execute("ALTER SYSTEM RESET bottledwater.kafka_secret_config")
        reload_until(pg_connect, "bottledwater.kafka_secret_config", "")


def test_a_role_granted_the_functions_drives_a_database_it_may_connect_to_and_drops_only_the_workers_slot(  # noqa: E501
        owned_db, pg, pg_connect, consumer_factory):
    db, admin = owned_db["name"], owned_db["admin"]
    driver = f"bw_driver_{owned_db['tag']}"
    pg.execute(f"CREATE ROLE {driver} LOGIN")
    try:
        admin.execute(f"GRANT EXECUTE ON FUNCTION bw_start(name), bw_stop(name), "
                      f"bw_drop_slot(name) TO {driver}")
        # Connected before CONNECT is revoked: what is checked is the right to the database,
        # not where the call comes from.
        other = pg_connect(db, user=driver)
        admin.execute(f"REVOKE CONNECT ON DATABASE {db} FROM PUBLIC")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            other.execute("SELECT bw_start(%s)", (db,))
        admin.execute(f"GRANT CONNECT ON DATABASE {db} TO {driver}")
        admin.execute("CREATE TABLE t (id int PRIMARY KEY)")
        admin.execute("INSERT INTO t VALUES (1)")
        # A SQL consumer's slot with the same plugin in the same database.
        admin.execute("SELECT pg_create_logical_replication_slot(%s, 'bottledwater')",
                      (f"peek_{owned_db['tag']}",))

        assert other.execute("SELECT bw_start(%s)", (db,)).fetchone()[0] > 0
        consume_messages(consumer_factory([owned_db["prefix"] + "t"]), 1)
        with pytest.raises(psycopg.errors.ObjectInUse):
            other.execute("SELECT bw_drop_slot(%s)", (db,))
        assert other.execute("SELECT bw_stop(%s)", (db,)).fetchone()[0] is True
        dropped = [r[0] for r in other.execute("SELECT * FROM bw_drop_slot(%s)", (db,))]
        assert dropped == [owned_db["slot"]]
        left = [r[0] for r in pg.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (db,))]
        assert left == [f"peek_{owned_db['tag']}"]
    finally:
        pg.execute(f"DROP OWNED BY {driver}")
        admin.execute(f"DROP OWNED BY {driver}")
        pg.execute(f"DROP ROLE {driver}")


def test_a_copied_data_directory_without_the_slot_does_not_publish_until_bw_start(
        owned_db, pg_connect, dev_env, consumer_factory):
    """A base backup carries bottledwater.autostart but not the slots (pg_basebackup leaves
    pg_replslot out). Started from the autostart list, the worker must not make a new slot and
    send a second snapshot to the topics; it stops in `error` until bw_start asks for that."""
    db = owned_db["name"]
    admin = owned_db["admin"]
    admin.execute("CREATE TABLE t (id int PRIMARY KEY)")
    admin.execute("INSERT INTO t VALUES (1)")
    admin.execute("SELECT bw_start(%s)", (db,))
    topic = owned_db["prefix"] + "t"
    consume_messages(consumer_factory([topic]), 1)

    subprocess.run([DEV_ENV, "stop-pg"], check=True)
    shutil.rmtree(os.path.join(dev_env["BW_PG_DATA"], "pg_replslot", owned_db["slot"]))
    subprocess.run([DEV_ENV, "start-pg"], check=True)

    conn = pg_connect(db)
    row = wait_for(lambda: conn.execute(
        "SELECT state, last_error FROM bw_status() WHERE database = %s AND state = 'error'",
        (db,)).fetchone(), what="the worker started from the autostart list to stop in error")
    assert f'replication slot "{owned_db["slot"]}" is missing' in row[1], row
    assert "bw_start" in row[1], row
    assert conn.execute("SELECT count(*) FROM pg_replication_slots WHERE database = %s",
                        (db,)).fetchone()[0] == 0
    # Nothing more than the first snapshot's row reached the topic.
    consumer = consumer_factory([topic])
    consume_messages(consumer, 1)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        assert msg is None or msg.error(), f"published without bw_start: {msg.value()}"

    # Asked for explicitly, a new slot and a new snapshot.
    assert conn.execute("SELECT bw_start(%s)", (db,)).fetchone()[0] > 0
    consume_messages(consumer, 1)


@pytest.fixture
def log_hook_probe(dev_env):
    """test/modules/log_hook_probe built where the server's OS user can load it from."""
    build = Path(tempfile.mkdtemp(prefix="bw-probe-"))
    os.chmod(build, 0o755)
    shutil.copytree(REPO / "test" / "modules" / "log_hook_probe", build, dirs_exist_ok=True)
    subprocess.run(["make", "-C", build, f"PG_CONFIG={dev_env['BW_PG_BIN']}/pg_config"], check=True,
                   capture_output=True)
    yield build / "log_hook_probe.so"
    shutil.rmtree(build)


def test_the_worker_passes_log_messages_on_to_an_earlier_emit_log_hook(dev_env, log_hook_probe):
    """Another preloaded library's emit_log_hook still sees the worker's messages: the worker
    chains to it rather than replacing it. A cluster of its own, with the probe loaded first."""
    with throwaway_cluster(dev_env["BW_PG_BIN"], "bw-loghook-", "wal_level = logical\n"
                           f"shared_preload_libraries = '{log_hook_probe}, bottledwater'"
                           ) as cluster:
        with cluster.connect() as conn:
            conn.execute("CREATE EXTENSION bottledwater")
            # Avro without a registry: the worker logs why it cannot run and stops.
            with pytest.raises(psycopg.Error):
                conn.execute("SELECT bw_start('postgres')")
        seen = (cluster.data / "log_hook_probe.out").read_text()
        assert "cannot run: output_format avro needs bottledwater.schema_registry_url" in seen
