"""How a worker ends, waits and restarts, and that bw_status always says why: bw_stop while
PostgreSQL itself waits (slot creation held up by a long transaction), bw_stop during the
restart wait after an error, pg_terminate_backend (the worker restarts), and DROP DATABASE or
DROP EXTENSION of a streamed database (refused with a HINT until bw_stop).
"""

import threading
import time
import uuid

import psycopg
import pytest

from test_worker import bw_db, status, wait_for  # noqa: F401 (bw_db is a fixture)


def why(conn, dbname):
    """The columns that explain a worker's state."""
    row = conn.execute("SELECT state, pid, last_error, last_error_hint, last_error_time, "
                       "last_error_cleared_time FROM bw_status() WHERE database = %s",
                       (dbname,)).fetchone()
    keys = ("state", "pid", "last_error", "hint", "error_time", "cleared_time")
    return dict(zip(keys, row))


def worker_processes(conn, dbname):
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                        "AND backend_type = 'bottledwater worker'", (dbname,)).fetchone()[0]


def slot_count(conn, slot):
    return conn.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s",
                        (slot,)).fetchone()[0]


def test_stop_while_a_long_transaction_holds_up_slot_creation(bw_db, pg, pg_connect):
    """A new slot waits for the transactions running when it was created; that wait is
    PostgreSQL's own, and bw_stop must end it at once, leaving no slot behind."""
    name, slot = bw_db["name"], bw_db["slot"]
    blocker = pg_connect(name)
    blocker.execute("CREATE TABLE held (id int primary key)")
    blocker.execute("BEGIN")
    blocker.execute("INSERT INTO held VALUES (1)")
    start_errors = []

    def start():
        try:
            pg_connect(name).execute("SELECT bw_start(%s)", (name,))
        except psycopg.Error as e:
            start_errors.append(e)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    try:
        wait_for(lambda: slot_count(pg, slot) == 1, what="the worker's ephemeral slot")
        time.sleep(0.5)
        stopper = pg_connect(name)
        assert why(stopper, name)["state"] == "starting"
        stopper.execute("SET statement_timeout = '15s'")
        began = time.monotonic()
        assert stopper.execute("SELECT bw_stop(%s)", (name,)).fetchone()[0] is True
        assert time.monotonic() - began < 5
        row = why(stopper, name)
        assert row["state"] == "stopped" and row["pid"] is None and row["last_error"] is None, row
        assert worker_processes(pg, name) == 0
        assert slot_count(pg, slot) == 0
        starter.join(timeout=30)
        assert not starter.is_alive()
        assert start_errors and "stopped by bw_stop" in start_errors[0].diag.message_primary
    finally:
        blocker.execute("ROLLBACK")


def test_stop_during_the_restart_wait_stops_it_for_good(bw_db, pg):
    """After an error the postmaster starts the worker again 5 s later; bw_stop in between
    stops it, says so, and nothing starts again."""
    name = bw_db["name"]
    db = bw_db["conn"]
    # A row over the producer's message limit stops the worker under on_error = exit.
    pg.execute(f"ALTER DATABASE {name} SET bottledwater.kafka_config = 'message.max.bytes=10000'")
    db.execute("CREATE TABLE wide (id int primary key, v text)")
    db.execute("SELECT bw_start(%s)", (name,))
    db.execute("INSERT INTO wide VALUES (1, repeat('x', 20000))")
    row = wait_for(lambda: (lambda r: r if r["pid"] is None and r["last_error"] else None)(
        why(db, name)), what="the worker to fail on the row")
    assert row["state"] == "restarting", row
    assert db.execute("SELECT bw_stop(%s)", (name,)).fetchone()[0] is True
    assert why(db, name)["state"] == "stopped"
    time.sleep(6)  # past bgw_restart_time
    row = why(db, name)
    assert row["state"] == "stopped" and row["pid"] is None, row
    assert worker_processes(pg, name) == 0


def test_pg_terminate_backend_restarts_the_worker_and_says_so(bw_db, pg, consumer_factory,
                                                             consume):
    name = bw_db["name"]
    db = bw_db["conn"]
    db.execute("CREATE TABLE t (id int primary key)")
    pid = db.execute("SELECT bw_start(%s)", (name,)).fetchone()[0]
    assert pg.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    row = wait_for(lambda: (lambda r: r if r["pid"] != pid else None)(why(db, name)),
                   what="the worker to exit")
    if row["pid"] is None:
        assert row["state"] == "restarting", row
    assert "bw_stop did not send" in row["last_error"] and "bw_stop" in row["hint"], row
    back = wait_for(lambda: (lambda r: r if r["state"] == "streaming" else None)(why(db, name)),
                    timeout=30, what="the worker to stream again")
    assert back["pid"] not in (None, pid)
    db.execute("INSERT INTO t VALUES (1)")
    consume(consumer_factory([bw_db["prefix"] + "t"]), 1)
    # Back and caught up: the termination is past, with its time.
    row = wait_for(lambda: (lambda r: r if r["cleared_time"] else None)(why(db, name)),
                   what="the error to be cleared")
    assert row["cleared_time"] > row["error_time"]


@pytest.fixture
def streamed_db(pg, pg_connect):
    """A streamed database that the test may drop itself."""
    tag = uuid.uuid4().hex[:10]
    name, slot = f"bw_drop_{tag}", f"bw_{tag}"
    pg.execute(f"CREATE DATABASE {name}")
    pg.execute(f"ALTER DATABASE {name} SET bottledwater.output_format = 'json'")
    pg.execute(f"ALTER DATABASE {name} SET bottledwater.slot_name = '{slot}'")
    conn = pg_connect(name)
    conn.execute("CREATE EXTENSION bottledwater")
    pid = conn.execute("SELECT bw_start(%s)", (name,)).fetchone()[0]
    yield {"name": name, "slot": slot, "conn": conn, "pid": pid}
    if not conn.closed:
        conn.execute("SELECT bw_stop(%s)", (name,))
        conn.close()
    pg.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    pg.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
               "WHERE slot_name = %s", (slot,))


def test_drop_database_of_a_streamed_database_is_refused_until_bw_stop(streamed_db, pg):
    name, db = streamed_db["name"], streamed_db["conn"]
    for statement in (f"DROP DATABASE {name}", f"DROP DATABASE {name} WITH (FORCE)"):
        with pytest.raises(psycopg.errors.ObjectInUse) as refused:
            pg.execute(statement)
        assert f"SELECT bw_stop('{name}')" in refused.value.diag.message_hint
    assert why(db, name)["pid"] == streamed_db["pid"]
    # Waiting for its restart, it is still streamed: dropping now would leave a worker that fails
    # to connect every 5 s.
    pg.execute("SELECT pg_terminate_backend(%s)", (streamed_db["pid"],))
    wait_for(lambda: why(db, name)["pid"] != streamed_db["pid"], what="the worker to exit")
    with pytest.raises(psycopg.errors.ObjectInUse):
        pg.execute(f"DROP DATABASE {name} WITH (FORCE)")

    assert db.execute("SELECT bw_stop(%s)", (name,)).fetchone()[0] is True
    db.close()
    pg.execute(f"DROP DATABASE {name}")
    assert slot_count(pg, streamed_db["slot"]) == 0


def test_drop_extension_in_a_streamed_database_is_refused_until_bw_stop(streamed_db, pg):
    name, db = streamed_db["name"], streamed_db["conn"]
    with pytest.raises(psycopg.errors.ObjectInUse) as refused:
        db.execute("DROP EXTENSION bottledwater")
    assert f"SELECT bw_stop('{name}')" in refused.value.diag.message_hint
    assert why(db, name)["state"] == "streaming"
    db.execute("SELECT bw_stop(%s)", (name,))
    db.execute("DROP EXTENSION bottledwater")
    # The stopped worker's slot stays, for a later bw_start.
    assert slot_count(pg, streamed_db["slot"]) == 1
    db.close()
