"""The worker under faults, against the real servers: the worker killed with SIGKILL mid-stream,
PostgreSQL shut down immediately, Kafka stopped and started again. After each, every committed
row's final state must be in Kafka (duplicates allowed, loss not).

These tests restart shared servers, so they live apart from test_worker.py's quieter tests.
"""

import json
import os
import subprocess
import threading
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from conftest import DEV_ENV, TRANSIENT_CONSUMER_ERRORS


def create_json_database(pg_connect, name, slot, prefix, version=None):
    """A new database streamed in output_format json, with the extension (at the default
    version, or at `version`) and a table t (id, v); returns a connection to it."""
    admin = pg_connect()
    admin.execute(f"CREATE DATABASE {name}")
    for setting, value in (("output_format", "json"), ("slot_name", slot),
                           ("topic_prefix", prefix)):
        admin.execute(f"ALTER DATABASE {name} SET bottledwater.{setting} = '{value}'")
    conn = pg_connect(name)
    conn.execute(sql.SQL("CREATE EXTENSION bottledwater {}").format(
        sql.SQL("VERSION {}").format(sql.Literal(version)) if version else sql.SQL("")))
    conn.execute("CREATE TABLE t (id int primary key, v int)")
    return conn


@pytest.fixture
def fault_db(request, pg_connect):
    """A database streamed by a worker from the start, its extension at the default version or
    at the one a test passes as an indirect parameter."""
    tag = uuid.uuid4().hex[:10]
    name = f"bw_fault_{tag}"
    conn = create_json_database(pg_connect, name, f"bw_{tag}", f"bwfault_{tag}.",
                                getattr(request, "param", None))
    conn.execute("SELECT bw_start(%s)", (name,))
    yield {"name": name, "prefix": f"bwfault_{tag}.", "connect": lambda: pg_connect(name)}
    cleanup = reconnect(lambda: pg_connect(name))
    cleanup.execute("SELECT bw_stop(%s)", (name,))
    cleanup.close()
    reconnect(pg_connect).execute(f"DROP DATABASE {name} WITH (FORCE)")
    reconnect(pg_connect).execute("SELECT pg_drop_replication_slot(slot_name) "
                                  "FROM pg_replication_slots WHERE slot_name = %s",
                                  (f"bw_{tag}",))


# The worker's memory bound (issue 6's target); librdkafka's queue limit keeps it far below.
MAX_WORKER_RSS_MB = 256


def memory_mb(pid, field):
    """A memory figure of /proc/<pid>/status (VmRSS, VmHWM, ...) in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for pid {pid}")


def peak_rss_mb(pid):
    return memory_mb(pid, "VmHWM")


def reconnect(connect, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return connect()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def worker_row(conn, dbname):
    return conn.execute("SELECT state, pid, last_error FROM bw_status() WHERE database = %s",
                        (dbname,)).fetchone()


def wait_streaming(connect, dbname, timeout=90.0, not_pid=None):
    """Waits for the worker to stream again, on one connection renewed only when it breaks."""
    deadline = time.monotonic() + timeout
    row, conn = None, None
    while time.monotonic() < deadline:
        try:
            if conn is None or conn.closed:
                conn = reconnect(connect)
            row = worker_row(conn, dbname)
        except psycopg.OperationalError:
            conn, row = None, None
        if row and row[0] == "streaming" and row[1] and row[1] != not_pid:
            conn.close()
            return row[1]
        time.sleep(0.2)
    pytest.fail(f"worker of {dbname} not streaming again within {timeout}s: {row}")


def wait_error_cleared(conn, dbname, timeout=30.0):
    """(last_error, last_error_time, last_error_cleared_time) once the error is marked past."""
    deadline = time.monotonic() + timeout
    while True:
        row = conn.execute("SELECT last_error, last_error_time, last_error_cleared_time "
                           "FROM bw_status() WHERE database = %s", (dbname,)).fetchone()
        if row[2] is not None or time.monotonic() > deadline:
            assert row[2] is not None, f"the error is still current: {row}"
            return row
        time.sleep(0.2)


class Writer(threading.Thread):
    """Many small transactions (insert, then updates of earlier rows), riding out server restarts:
    a statement that fails is retried on a new connection; the table is the truth at the end."""

    def __init__(self, connect, count):
        super().__init__(daemon=True)
        self.connect, self.count, self.done = connect, count, 0

    def run(self):
        conn = reconnect(self.connect)
        i = 1
        while i <= self.count:
            try:
                conn.execute("INSERT INTO t VALUES (%s, 0) ON CONFLICT (id) DO NOTHING", (i,))
                if i % 3 == 0:
                    conn.execute("UPDATE t SET v = v + 1 WHERE id = %s", (i // 3,))
                i += 1
                self.done = i
            except psycopg.OperationalError:
                conn = reconnect(self.connect)


def final_state_in_kafka(consumer_factory, topic, expected, timeout=120.0):
    """Reads the topic until the last message of every key matches `expected` (id -> v)."""
    consumer = consumer_factory([topic])
    latest = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = consumer.poll(1.0)
        if msg is None:
            if latest == expected:
                return
            continue
        if msg.error():
            assert msg.error().code() in TRANSIENT_CONSUMER_ERRORS, msg.error()
            continue
        key = json.loads(msg.key())["id"]["int"]
        if msg.value() is None:
            latest.pop(key, None)
        else:
            latest[key] = json.loads(msg.value())["v"]["int"]
    missing = {k: v for k, v in expected.items() if latest.get(k) != v}
    pytest.fail(f"{len(missing)} keys wrong or missing in Kafka, e.g. "
                f"{list(missing.items())[:5]} (Kafka has {len(latest)} keys)")


def table_state(connect):
    return dict(reconnect(connect).execute("SELECT id, v FROM t").fetchall())


def fault_mid_stream(fault_db, consumer_factory, fault):
    """Writes 3000 small transactions, calls `fault(worker_pid)` after the first 1000, and checks
    that a new worker comes back and Kafka ends up holding every committed row."""
    connect = fault_db["connect"]
    writer = Writer(connect, 3000)
    writer.start()
    while writer.done < 1000:
        time.sleep(0.05)
    pid = worker_row(connect(), fault_db["name"])[1]
    fault(pid)
    writer.join(timeout=300)
    assert not writer.is_alive()
    wait_streaming(connect, fault_db["name"], not_pid=pid)
    final_state_in_kafka(consumer_factory, fault_db["prefix"] + "t", table_state(connect))


def test_sigkill_of_the_worker_mid_stream_loses_nothing(fault_db, consumer_factory):
    fault_mid_stream(fault_db, consumer_factory, lambda pid: os.kill(pid, 9))


def test_immediate_shutdown_mid_stream_loses_nothing(fault_db, consumer_factory):
    # The launcher brings the worker back from the autostart list.
    fault_mid_stream(fault_db, consumer_factory, lambda pid: subprocess.run(
        [DEV_ENV, "restart-pg", "immediate"], check=True))


def test_kafka_down_mid_stream_backs_off_and_recovers(fault_db, consumer_factory):
    connect = fault_db["connect"]
    conn = connect()
    conn.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g")
    worker_pid = worker_row(conn, fault_db["name"])[1]
    subprocess.run([DEV_ENV, "stop-kafka"], check=True)
    try:
        for i in range(101, 601):
            conn.execute("INSERT INTO t VALUES (%s, 1)", (i,))
        # Keep writing while Kafka is away: the worker must hold back, not buffer without bound.
        for start in range(1001, 21001, 200):
            conn.execute("INSERT INTO t SELECT g, 1 FROM generate_series(%s::int, %s::int) g",
                         (start, start + 199))
        deadline = time.monotonic() + 60
        row = None
        while time.monotonic() < deadline:
            row = worker_row(conn, fault_db["name"])
            if row[0] == "backoff" and row[2]:
                break
            time.sleep(0.5)
        assert row[0] == "backoff" and row[2], f"no backoff while Kafka is down: {row}"
        assert peak_rss_mb(worker_pid) < MAX_WORKER_RSS_MB
    finally:
        subprocess.run([DEV_ENV, "start-kafka"], check=True)
    for i in range(601, 701):
        conn.execute("INSERT INTO t VALUES (%s, 2)", (i,))
    wait_streaming(connect, fault_db["name"])
    final_state_in_kafka(consumer_factory, fault_db["prefix"] + "t", table_state(connect))
    # Kafka is back and has everything: the outage's error is kept, marked as past.
    error, at, cleared = wait_error_cleared(conn, fault_db["name"])
    assert error and cleared > at


def test_kafka_down_under_wide_rows_keeps_the_worker_memory_bounded(fault_db):
    """400 MB of 20 kB rows written while Kafka is away: what the worker holds for Kafka is
    bounded in bytes, not only in messages."""
    connect = fault_db["connect"]
    conn = connect()
    conn.execute("CREATE TABLE wide (id int primary key, pad text)")
    worker_pid = worker_row(conn, fault_db["name"])[1]
    subprocess.run([DEV_ENV, "stop-kafka"], check=True)
    try:
        for start in range(1, 20001, 500):
            conn.execute("INSERT INTO wide SELECT g, repeat(md5(g::text), 625) "
                         "FROM generate_series(%s::int, %s::int) g", (start, start + 499))
        written_to = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        # Until the worker has queued all it will: in backoff, producing nothing more for 3 s.
        deadline, produced, still_since = time.monotonic() + 120, -1, time.monotonic()
        while time.monotonic() < deadline:
            state, now_produced = conn.execute(
                "SELECT state, messages_produced FROM bw_status() WHERE database = %s",
                (fault_db["name"],)).fetchone()
            if now_produced != produced:
                produced, still_since = now_produced, time.monotonic()
            elif state == "backoff" and time.monotonic() - still_since > 3:
                break
            time.sleep(0.5)
        assert state == "backoff", f"no backoff while Kafka is down: {state}"
        assert 0 < produced < 20000, f"{produced} of the 20,000 rows queued"
        assert peak_rss_mb(worker_pid) < MAX_WORKER_RSS_MB
    finally:
        subprocess.run([DEV_ENV, "start-kafka"], check=True)
    deadline = time.monotonic() + 180
    while conn.execute("SELECT confirmed_lsn < %s FROM bw_status() WHERE database = %s",
                       (written_to, fault_db["name"])).fetchone()[0]:
        assert time.monotonic() < deadline, "the rows written during the outage were not sent"
        time.sleep(0.5)
    assert peak_rss_mb(worker_pid) < MAX_WORKER_RSS_MB


def test_restart_forgets_a_dropped_database_and_brings_back_the_others(pg_connect, dev_env):
    tag = uuid.uuid4().hex[:10]
    kept, dropped = f"bw_kept_{tag}", f"bw_dropped_{tag}"
    admin = pg_connect()
    for name, slot in ((kept, f"bwk_{tag}"), (dropped, f"bwd_{tag}")):
        admin.execute(f"CREATE DATABASE {name}")
        admin.execute(f"ALTER DATABASE {name} SET bottledwater.output_format = 'json'")
        admin.execute(f"ALTER DATABASE {name} SET bottledwater.slot_name = '{slot}'")
        admin.execute(f"ALTER DATABASE {name} SET bottledwater.topic_prefix = '{name}.'")
        conn = pg_connect(name)
        conn.execute("CREATE EXTENSION bottledwater")
        conn.execute("SELECT bw_start(%s)", (name,))
        conn.close()
    # DROP DATABASE of a streamed database is refused, so a database can leave while still on the
    # autostart list only behind the server's back (a data directory restored or copied without
    # it): stop its worker, drop it, and list it again by hand.
    conn = pg_connect(dropped)
    conn.execute("SELECT bw_stop(%s)", (dropped,))
    conn.close()
    admin.execute(f"DROP DATABASE {dropped}")
    autostart = os.path.join(dev_env["BW_PG_DATA"], "bottledwater.autostart")
    with open(autostart, "a") as listed:
        listed.write(dropped + "\n")

    subprocess.run([DEV_ENV, "restart-pg"], check=True)
    try:
        wait_streaming(lambda: pg_connect(kept), kept)
        listed = open(autostart).read().split()
        assert kept in listed and dropped not in listed
    finally:
        conn = reconnect(lambda: pg_connect(kept))
        conn.execute("SELECT bw_stop(%s)", (kept,))
        conn.close()
        # Its slot, inactive now, goes with the database.
        reconnect(pg_connect).execute(f"DROP DATABASE {kept} WITH (FORCE)")


def test_sigkill_during_the_snapshot_starts_it_again_cleanly(pg_connect, consumer_factory):
    tag = uuid.uuid4().hex[:10]
    name, slot, prefix = f"bw_snapkill_{tag}", f"bws_{tag}", f"bwsnap_{tag}."
    conn = create_json_database(pg_connect, name, slot, prefix)
    conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 500000) g")
    conn.execute("ANALYZE t")
    try:
        conn.execute("SELECT bw_start(%s)", (name,))
        state, pid, _ = worker_row(conn, name)
        assert state == "snapshot", "the snapshot of 500k rows ended before it could be killed"
        os.kill(pid, 9)
        # The ephemeral slot went with the crash; the restarted worker snapshots from scratch
        # (a persisted slot would make it resume streaming and skip the rows not yet sent).
        wait_streaming(lambda: pg_connect(name), name, timeout=120, not_pid=pid)
        expected = {i: i for i in range(1, 500001)}
        final_state_in_kafka(consumer_factory, prefix + "t", expected, timeout=180)
    finally:
        cleanup = reconnect(lambda: pg_connect(name))
        cleanup.execute("SELECT bw_stop(%s)", (name,))
        cleanup.close()
        reconnect(pg_connect).execute(f"DROP DATABASE {name} WITH (FORCE)")


def slot_health(conn, dbname):
    return conn.execute("SELECT state, wal_status, retained_wal_bytes, last_error, "
                        "last_error_hint FROM bw_status() WHERE database = %s",
                        (dbname,)).fetchone()


def test_an_invalidated_slot_says_why_and_a_new_snapshot_starts_again(fault_db, pg_connect,
                                                                      consumer_factory):
    """max_slot_wal_keep_size lets the checkpointer remove WAL a lagging slot needs. bw_status
    shows the slot's WAL at risk before, then `error` with the reason and the way back, which
    bw_drop_slot and bw_start take: a new snapshot that sends every row again."""
    name, connect = fault_db["name"], fault_db["connect"]
    conn, admin = connect(), pg_connect()
    conn.execute("INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g")
    state, wal_status, retained, _, _ = slot_health(conn, name)
    assert state == "streaming" and wal_status == "reserved" and retained >= 0
    admin.execute("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'")
    admin.execute("SELECT pg_reload_conf()")
    subprocess.run([DEV_ENV, "stop-kafka"], check=True)
    seen, seen_errors = [], set()
    try:
        # Unacknowledged changes hold the slot where it is while the WAL moves on.
        for round_ in range(6):
            # Two segments on before looking: one switch leaves less than the 1 MB bound
            # retained when the slot's restart point is near the end of its 16 MB segment.
            for step in (1, 2):
                first = 1000 * (2 * round_ + step)
                conn.execute("INSERT INTO t SELECT g, 1 FROM generate_series(%s::int, %s::int) g",
                             (first, first + 99))
                admin.execute("SELECT pg_switch_wal()")
            seen.append(slot_health(conn, name)[:3])
            admin.execute("CHECKPOINT")
            if slot_health(conn, name)[1] == "lost":
                break
        deadline = time.monotonic() + 60
        while (row := slot_health(conn, name))[0] != "error":
            assert time.monotonic() < deadline, f"no error for the invalidated slot: {row}"
            seen_errors.add(row[3])
            time.sleep(0.2)
    finally:
        admin.execute("ALTER SYSTEM RESET max_slot_wal_keep_size")
        admin.execute("SELECT pg_reload_conf()")
        subprocess.run([DEV_ENV, "start-kafka"], check=True)
    assert any(status == "unreserved" for _, status, _ in seen), seen
    assert max(retained for _, _, retained in seen if retained is not None) > 1024 * 1024
    # While it waited to restart, the worker said why it had been terminated.
    assert any(e and "the checkpointer is invalidating the slot" in e for e in seen_errors), \
        seen_errors
    state, wal_status, retained, error, hint = row
    assert wal_status == "lost" and retained is None
    assert "was invalidated" in error and "max_slot_wal_keep_size" in error, error
    assert f"SELECT bw_drop_slot('{name}'); SELECT bw_start('{name}');" in hint, hint
    # bw_start alone cannot bring it back, and says how.
    with pytest.raises(psycopg.Error) as refused:
        conn.execute("SELECT bw_start(%s)", (name,))
    assert "was invalidated" in refused.value.diag.message_primary
    assert "bw_drop_slot" in refused.value.diag.message_hint

    assert conn.execute("SELECT * FROM bw_drop_slot(%s)", (name,)).fetchall()
    conn.execute("SELECT bw_start(%s)", (name,))
    wait_streaming(connect, name)
    final_state_in_kafka(consumer_factory, fault_db["prefix"] + "t", table_state(connect))


def process_gone(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            return any(line.startswith("State:") and "Z" in line.split()[1] for line in status)
    except FileNotFoundError:
        return True


def server_processes(postmaster):
    """The postmaster and its children: every process that may hold its shared memory."""
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
        if parent == postmaster:
            pids.append(int(entry))
    return pids


def kill_postmaster(dev_env):
    """SIGKILLs the dev cluster's postmaster; returns its processes for
    restart_killed_postmaster."""
    with open(dev_env["BW_PG_PIDFILE"]) as pidfile:
        postmaster = int(pidfile.readline())
    processes = server_processes(postmaster)
    os.kill(postmaster, 9)
    return processes


def assert_gone_soon(pid, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not process_gone(pid):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def restart_killed_postmaster(dev_env, processes):
    # A new postmaster refuses to start while any old child still holds the old shared memory, and
    # the killed one may stay a zombie until whatever adopted it reaps it, its lock files then
    # seeming to name a live server.
    if processes is not None:
        for pid in processes:
            assert_gone_soon(pid, f"process {pid} of the killed server lives on", timeout=60.0)
        run_dir = os.path.join(os.path.dirname(dev_env["BW_PG_DATA"]), "run")
        for lock in (dev_env["BW_PG_PIDFILE"],
                     os.path.join(run_dir, f".s.PGSQL.{dev_env['PGPORT']}.lock")):
            if os.path.exists(lock):
                os.remove(lock)
    subprocess.run([DEV_ENV, "up"], check=True)


def drop_after_restart(pg_connect, name):
    cleanup = reconnect(lambda: pg_connect(name))
    cleanup.execute("SELECT bw_stop(%s)", (name,))
    cleanup.close()
    reconnect(pg_connect).execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_postmaster_death_ends_a_worker_waiting_for_the_snapshot_acknowledgements(pg_connect,
                                                                                   dev_env):
    """With Kafka away, the worker waits in Kafka's flush for its snapshot to be acknowledged, a
    wait that does not watch the postmaster: the loop around it must, or the worker outlives a
    crashed server and holds its shared memory."""
    tag = uuid.uuid4().hex[:10]
    name = f"bw_pmdeath_{tag}"
    conn = create_json_database(pg_connect, name, f"bwp_{tag}", f"bwpm_{tag}.")
    conn.execute("INSERT INTO t SELECT g, g FROM generate_series(1, 100) g")
    subprocess.run([DEV_ENV, "stop-kafka"], check=True)
    server = None
    try:
        conn.execute("SELECT bw_start(%s)", (name,))
        deadline = time.monotonic() + 30
        while conn.execute("SELECT snapshot_rows_done FROM bw_status() WHERE database = %s",
                           (name,)).fetchone()[0] < 100:
            assert time.monotonic() < deadline, "the snapshot was not produced"
            time.sleep(0.2)
        state, pid, _ = worker_row(conn, name)
        assert state == "snapshot", state
        conn.close()
        server = kill_postmaster(dev_env)
        assert_gone_soon(pid, "the worker outlived the postmaster")
    finally:
        restart_killed_postmaster(dev_env, server)
    drop_after_restart(pg_connect, name)


def test_postmaster_death_ends_a_worker_whose_slot_waits_for_a_long_transaction(pg_connect,
                                                                                dev_env):
    """A new slot waits inside PostgreSQL for the transactions running when it was created (a
    lock wait on their xids, which PostgreSQL ends itself when the postmaster dies)."""
    tag = uuid.uuid4().hex[:10]
    name = f"bw_pmslot_{tag}"
    conn = create_json_database(pg_connect, name, f"bwq_{tag}", f"bwpq_{tag}.")
    blocker = pg_connect(name)
    blocker.execute("BEGIN")
    blocker.execute("INSERT INTO t VALUES (1, 1)")

    def start():
        try:
            conn.execute("SELECT bw_start(%s)", (name,))
        except psycopg.OperationalError:
            pass  # the server dies under it

    started = threading.Thread(target=start, daemon=True)
    started.start()
    watcher = pg_connect(name)
    server = None
    try:
        deadline = time.monotonic() + 30
        while (row := worker_row(watcher, name)) is None or row[1] is None:
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.2)
        time.sleep(1.0)
        state, pid, _ = worker_row(watcher, name)
        assert state == "starting", state
        server = kill_postmaster(dev_env)
        assert_gone_soon(pid, "the worker outlived the postmaster")
    finally:
        restart_killed_postmaster(dev_env, server)
    started.join(timeout=30)
    drop_after_restart(pg_connect, name)
