"""The initial snapshot against concurrent DDL: a table rewritten or dropped while the snapshot
runs must neither lose its rows silently nor end the snapshot.

The worker locks every table right after taking the snapshot, so DDL on a table waits for the
snapshot to end. (The short window between taking the snapshot and locking has no deterministic
test: a test connection cannot hold the worker there, since the only lock that blocks ACCESS
SHARE takes a transaction id, which the slot's consistent point then waits for.)
"""

import json
import threading

from test_worker import bw_db, status, wait_for  # noqa: F401 (fixture)


def ids_in_topic(consumer_factory, consume, topic, count):
    return sorted(json.loads(m.key())["id"]["int"]
                  for m in consume(consumer_factory([topic]), count, timeout=90))


def test_ddl_on_tables_not_yet_scanned_waits_for_the_snapshot(bw_db, pg, pg_connect,
                                                              consumer_factory, consume):
    """While the snapshot still scans t1, t2 is rewritten by ALTER TABLE and t3 dropped: both
    wait for the snapshot, which sends every row of t2 and t3 as they were, in one run."""
    db, name = bw_db["conn"], bw_db["name"]
    # A short producer queue paces the scan of t1 by Kafka's acknowledgements (seconds), so the
    # DDL below lands while t1 is still being read.
    pg.execute(f"ALTER DATABASE {name} SET bottledwater.kafka_config = "
               "'queue.buffering.max.messages=1000'")
    db.execute("CREATE TABLE t1 (id int primary key, v int)")
    db.execute("INSERT INTO t1 SELECT g, g FROM generate_series(1, 30000) g")
    db.execute("ANALYZE t1")
    db.execute("CREATE TABLE t2 (id int primary key, c int)")
    db.execute("INSERT INTO t2 SELECT g, g FROM generate_series(1, 50) g")
    db.execute("CREATE TABLE t3 (id int primary key)")
    db.execute("INSERT INTO t3 SELECT generate_series(1, 20)")
    pid = db.execute("SELECT bw_start(%s)", (name,)).fetchone()[0]
    # The worker publishes progress only while it scans t1, so t2 is past listing and locking.
    wait_for(lambda: db.execute("SELECT snapshot_rows_done FROM bw_status() WHERE database = %s",
                                (name,)).fetchone()[0] > 0, what="the snapshot to scan t1")
    assert status(db, name)["state"] == "snapshot"

    ddl = [threading.Thread(target=pg_connect(name).execute, args=(statement,))
           for statement in ("ALTER TABLE t2 ALTER COLUMN c TYPE bigint", "DROP TABLE t3")]
    for thread in ddl:
        thread.start()
    assert ids_in_topic(consumer_factory, consume, bw_db["prefix"] + "t2", 50) == \
        list(range(1, 51))
    assert ids_in_topic(consumer_factory, consume, bw_db["prefix"] + "t3", 20) == \
        list(range(1, 21))
    for thread in ddl:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert status(db, name)["pid"] == pid
