"""The worker's memory stays bounded under table churn and after a huge row: per-relation
caches drop dropped tables, and the encoder's buffers do not keep a huge row's capacity.
"""

import re
import time
from pathlib import Path

from confluent_kafka.admin import AdminClient

from test_worker import bw_db, status, wait_for  # noqa: F401 (fixture)
from test_worker_faults import memory_mb

CHURN_ROUNDS = 20
TABLES_PER_ROUND = 100
HUGE_ROW_MB = 200
MAX_GROWTH_MB = 64


def decoding_context_children(pg, dev_env, pid):
    """How many memory contexts the worker's logical decoding context holds: one per cached
    table schema, and a few of the decoder's own. Read from what pg_log_backend_memory_contexts
    writes to the server log: at most 100 children are listed, then one line at the parent's
    level counts the rest."""
    log = Path(dev_env["BW_PG_LOG"])
    start = log.stat().st_size
    pg.execute("SELECT pg_log_backend_memory_contexts(%s)", (pid,))
    lines = wait_for(lambda: (lambda text: text if "Grand total" in text else None)(
        "\n".join(line for line in log.read_bytes()[start:].decode(errors="replace").splitlines()
                  if f"[{pid}]" in line)), what="the worker's memory contexts in the log")
    levels = [(int(m.group(1)), m.group(2)) for m in re.finditer(r"level: (\d+); ([^:]*)", lines)]
    parent = next(i for i, (_, name) in enumerate(levels) if name == "Logical decoding context")
    depth, children = levels[parent][0] + 1, 0
    for level, name in levels[parent + 1:]:
        if level == depth:
            children += 1
        elif level < depth:
            more = re.match(r"(\d+) more child contexts containing", name)
            return children + (int(more.group(1)) if more else 0)
    return children


def confirmed_up_to_now(db, pg, slot, timeout):
    """Waits until the slot is confirmed past everything committed so far."""
    lsn = db.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    wait_for(lambda: pg.execute(
        "SELECT confirmed_flush_lsn >= %s::pg_lsn FROM pg_replication_slots WHERE slot_name = %s",
        (lsn, slot)).fetchone()[0], timeout=timeout, what=f"the slot confirmed up to {lsn}")


def test_table_churn_and_a_huge_row_leave_the_worker_memory_where_it_was(bw_db, pg, dev_env,
                                                                         kafka_bootstrap):
    """2,000 tables created, written and dropped while streaming (under 100 names, so that the
    broker is not asked to create 2,000 topics), then a 200 MB row (over the producer's limit,
    so under on_error = log it is encoded and refused: the broker's default limits do not take
    200 MB). Afterwards the worker's RSS is within 64 MB of before, in the same process."""
    name = bw_db["name"]
    pg.execute(f"ALTER DATABASE {name} SET bottledwater.on_error = 'log'")
    db = bw_db["conn"]
    db.execute("CREATE TABLE steady (id int primary key, v text)")
    db.execute("SELECT bw_start(%s)", (name,))
    pid = status(db, name)["pid"]
    db.execute("INSERT INTO steady VALUES (1, 'warm up')")
    confirmed_up_to_now(db, pg, bw_db["slot"], 30)
    before = memory_mb(pid, "VmRSS")

    started = time.monotonic()
    for round_ in range(CHURN_ROUNDS):
        db.execute(f"""DO $$ BEGIN FOR i IN 1..{TABLES_PER_ROUND} LOOP
            EXECUTE format('CREATE TABLE churn_%s (id int primary key, v text)', i);
            EXECUTE format('INSERT INTO churn_%s VALUES (%s, %L)', i, {round_}, 'row');
            END LOOP; END $$""")
        db.execute(f"""DO $$ BEGIN FOR i IN 1..{TABLES_PER_ROUND} LOOP
            EXECUTE format('DROP TABLE churn_%s', i); END LOOP; END $$""")
    confirmed_up_to_now(db, pg, bw_db["slot"], 300)
    churn_seconds = time.monotonic() - started
    # The schema cache sweeps dropped tables once it has doubled: never near the 2,000 it saw.
    cached = decoding_context_children(pg, dev_env, pid)
    assert cached < 300, cached

    db.execute("INSERT INTO steady VALUES (2, repeat('x', %s))", (HUGE_ROW_MB * 1024 * 1024,))
    db.execute("INSERT INTO steady VALUES (3, 'after the huge row')")
    confirmed_up_to_now(db, pg, bw_db["slot"], 120)
    st = status(db, name)
    assert st["pid"] == pid and st["skipped"] == 1, st
    assert st["acknowledged"] == 1 + CHURN_ROUNDS * TABLES_PER_ROUND + 1, st
    after = memory_mb(pid, "VmRSS")
    print(f"worker RSS {before:.1f} MB before, {after:.1f} MB after; churn took "
          f"{churn_seconds:.1f} s; {cached} contexts under the decoding context after it")
    assert after - before < MAX_GROWTH_MB, (before, after)

    # Leave the broker as it was: the churn made one topic per table.
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    churn_topics = [t for t in admin.list_topics(timeout=30).topics
                    if t.startswith(bw_db["prefix"] + "churn_")]
    if churn_topics:
        for future in admin.delete_topics(churn_topics).values():
            future.result(timeout=60)


def test_partition_churn_leaves_the_capture_set_bounded(bw_db, pg, dev_env):
    """600 partitions attached, written and dropped while streaming (100 at a time), each with
    its columns in another order than the root's, so that each change of one goes through a
    conversion map the capture set keeps in a memory context of its own. Entries of dropped
    partitions are swept once the set has doubled: the worker never holds near 600 of them."""
    name = bw_db["name"]
    db = bw_db["conn"]
    db.execute("CREATE TABLE root (id int, v text, PRIMARY KEY (id)) PARTITION BY LIST (id)")
    db.execute("SELECT bw_start(%s)", (name,))
    pid = status(db, name)["pid"]
    for round_ in range(6):
        db.execute(f"""DO $$ BEGIN FOR i IN 1..100 LOOP
            EXECUTE format('CREATE TABLE part_%s (v text, id int NOT NULL)', i);
            EXECUTE format('ALTER TABLE root ATTACH PARTITION part_%s FOR VALUES IN (%s)', i, i);
            EXECUTE format('INSERT INTO root VALUES (%s, %L)', i, 'round {round_}');
            END LOOP; END $$""")
        db.execute("""DO $$ BEGIN FOR i IN 1..100 LOOP
            EXECUTE format('DROP TABLE part_%s', i); END LOOP; END $$""")
    confirmed_up_to_now(db, pg, bw_db["slot"], 120)
    assert status(db, name)["acknowledged"] == 600
    cached = decoding_context_children(pg, dev_env, pid)
    assert cached < 300, cached
