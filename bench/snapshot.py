"""Initial snapshot throughput: the worker's first start dumping a 1M-row table (100k with --quick)
into Kafka, against `COPY table TO STDOUT` read and discarded by the client, on the same table in
the same run, reported as a ratio (absolute rates are for context).

Passes alternate COPY, snapshot, COPY, snapshot; each side's better pass counts. A snapshot pass
starts the worker on a new slot with a new topic prefix and ends once bw_status shows every table
and row done and the topic holds all the rows (watermark offsets). It is timed twice: from
bw_start (includes creating the slot, which waits for transactions running anywhere in the
cluster) and from the moment bw_status first shows the snapshot phase (the dump alone). Message
bytes (key + value) are read back from the topic after the timed part. The topic is created
(one partition) before bw_start, as a production setup without topic auto-creation would, so the
broker's creation of it is not timed; --auto-create-topic times it too.

An incremental pass (bottledwater.initial_snapshot = incremental, the default chunk size) follows
each consistent one: the slot is created without a snapshot, streaming begins, and the table is
read in chunks; it ends once bw_snapshots() shows the table done and the topic holds all the rows.
Its rate is reported over the consistent snapshot's (from bw_start, both).
"""

import argparse
import time

from confluent_kafka import Consumer, TopicPartition
from _common import (BenchDatabase, create_topics, dev_env, header, machine, now_utc, table,
                     topic_messages, wait_for, watermark_consumer, write_results)

NAME = "snapshot"
DB = "bench_snapshot"


def load(conn, rows):
    conn.execute("CREATE TABLE snap (id bigint PRIMARY KEY, n int, t text, at timestamptz, "
                 "amount numeric(12,2))")
    conn.execute("INSERT INTO snap SELECT i, i % 1000, 'row ' || i, now(), i / 100.0 "
                 f"FROM generate_series(1, {rows}) i")
    # Hint bits and visibility map set, statistics exact (the worker's row total is reltuples).
    conn.execute("VACUUM (FREEZE, ANALYZE) snap")


def copy_pass(conn):
    start = time.perf_counter()
    nbytes = 0
    with conn.cursor().copy("COPY snap TO STDOUT") as copy:
        for block in copy:
            nbytes += len(block)
    return time.perf_counter() - start, nbytes


def snapshot_pass(db, rows, bootstrap, watermarks, index, precreate):
    """Seconds from bw_start and from the snapshot phase to the snapshot being complete in Kafka."""
    db.set_prefix(f"{DB}_{int(time.time())}_{index}.")
    topic = db.topic("snap")
    if precreate:
        create_topics(bootstrap, [topic])
    seen_snapshot = None
    start = time.perf_counter()
    db.start()
    deadline = time.monotonic() + 600
    while True:
        s = db.status()
        now = time.perf_counter()
        if s and s["state"] == "error":
            raise RuntimeError(f"worker failed: {s['last_error']}")
        if s and s["state"] in ("snapshot", "streaming") and seen_snapshot is None:
            seen_snapshot = now
        if (s and s["snapshot_tables_total"] and s["snapshot_tables_done"] == s["snapshot_tables_total"]
                and s["snapshot_rows_done"] >= rows
                and topic_messages(watermarks, topic) >= rows):
            end = time.perf_counter()
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"snapshot not complete in 600 s: {s}")
        time.sleep(0.01)
    # The slot becomes permanent once the snapshot is acknowledged; wait for that before stopping.
    db.wait_streaming()
    db.stop()
    db.drop_slot()
    return {"from_start_s": end - start, "from_snapshot_phase_s": end - seen_snapshot,
            "topic": topic, "status": {k: s[k] for k in ("snapshot_rows_done", "snapshot_rows_total",
                                                          "messages_acknowledged")}}


def incremental_pass(db, rows, bootstrap, watermarks, index, precreate):
    """Seconds from bw_start to the incremental first snapshot being complete in Kafka."""
    db.set_prefix(f"{DB}_{int(time.time())}_inc{index}.")
    db.admin.execute(f"ALTER DATABASE {DB} SET bottledwater.initial_snapshot = 'incremental'")
    topic = db.topic("snap")
    if precreate:
        create_topics(bootstrap, [topic])
    start = time.perf_counter()
    db.start()
    deadline = time.monotonic() + 900
    while True:
        s = db.status()
        if s and s["state"] == "error":
            raise RuntimeError(f"worker failed: {s['last_error']}")
        row = db.conn.execute("SELECT state, rows_sent, error FROM bw_snapshots() "
                              "WHERE table_text = 'public.snap'").fetchone()
        if row and row[0] == "failed":
            raise RuntimeError(f"incremental snapshot failed: {row[2]}")
        if row and row[0] == "done" and topic_messages(watermarks, topic) >= rows:
            end = time.perf_counter()
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"incremental snapshot not complete in 900 s: {row}")
        time.sleep(0.05)
    db.stop()
    db.drop_slot()
    db.admin.execute(f"ALTER DATABASE {DB} RESET bottledwater.initial_snapshot")
    chunk_rows = db.conn.execute("SHOW bottledwater.snapshot_chunk_rows").fetchone()[0]
    return {"from_start_s": end - start, "topic": topic, "rows_sent": row[1],
            "chunk_rows": chunk_rows}


def message_bytes(bootstrap, topic, rows):
    """Key + value bytes of the first `rows` messages of `topic`."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bw-bench-snapshot",
                         "enable.auto.commit": False, "log_level": 0})
    consumer.assign([TopicPartition(topic, 0, 0)])
    count = nbytes = 0
    deadline = time.monotonic() + 300
    while count < rows and time.monotonic() < deadline:
        for msg in consumer.consume(10000, timeout=1.0):
            if msg.error():
                continue
            count += 1
            nbytes += len(msg.key() or b"") + len(msg.value() or b"")
    consumer.close()
    if count < rows:
        raise RuntimeError(f"read back only {count} of {rows} messages from {topic}")
    return nbytes


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k rows instead of 1M")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="bottledwater.snapshot_chunk_rows of the incremental passes")
    parser.add_argument("--auto-create-topic", action="store_true",
                        help="let the first message create the topic (timed) instead of "
                             "creating it before bw_start")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    env = dev_env()
    bootstrap = env["BW_KAFKA_BOOTSTRAP"]
    result = {"when": now_utc(), "quick": args.quick, "rows": rows,
              "topic_created_before_start": not args.auto_create_topic}
    watermarks = watermark_consumer(bootstrap)
    settings = {"poll_interval_ms": 100}
    if args.chunk_rows:
        settings["snapshot_chunk_rows"] = args.chunk_rows
    with BenchDatabase(env, DB, settings) as db:
        result["machine"] = machine(db.conn)
        load(db.conn, rows)
        table_bytes = db.conn.execute("SELECT pg_table_size('snap')").fetchone()[0]
        # The worker's snapshot exists (README: "The first start ... sends every table"); check
        # that bw_status reports its progress before timing it.
        has_snapshot = "snapshot_rows_done" in [c.name for c in db.conn.execute(
            "SELECT * FROM bw_status() LIMIT 0").description]
        has_incremental = db.conn.execute(
            "SELECT count(*) FROM pg_proc WHERE proname = 'bw_snapshots'").fetchone()[0] > 0
        copies, snaps, incrementals = [], [], []
        for i in range(args.passes):
            seconds, copy_bytes = copy_pass(db.conn)
            copies.append({"seconds": seconds, "bytes": copy_bytes})
            if has_snapshot:
                snaps.append(snapshot_pass(db, rows, bootstrap, watermarks, i,
                                           not args.auto_create_topic))
            if has_incremental:
                incrementals.append(incremental_pass(db, rows, bootstrap, watermarks, i,
                                                     not args.auto_create_topic))
        msg_bytes = message_bytes(bootstrap, snaps[-1]["topic"], rows) if snaps else None
    watermarks.close()

    copy_s = min(c["seconds"] for c in copies)
    copy_rate = rows / copy_s
    result.update({"table_bytes": table_bytes, "copy_text_bytes": copies[0]["bytes"],
                   "message_bytes": msg_bytes, "copy_passes": copies, "snapshot_passes": snaps,
                   "incremental_passes": incrementals, "copy_rows_per_s": copy_rate})
    mb = 1e6
    rows_md = [("COPY TO STDOUT (discarded)", f"{copy_rate:,.0f}",
                f"{table_bytes / copy_s / mb:,.1f}", f"{copies[0]['bytes'] / copy_s / mb:,.1f}",
                "1.00")]
    if snaps:
        for key, label in (("from_snapshot_phase_s", "worker snapshot (dump phase)"),
                           ("from_start_s", "worker snapshot (from bw_start)")):
            s = min(p[key] for p in snaps)
            result[f"snapshot_rows_per_s_{key[:-2]}"] = rows / s
            result[f"ratio_{key[:-2]}"] = (rows / s) / copy_rate
            rows_md.append((label, f"{rows / s:,.0f}", f"{table_bytes / s / mb:,.1f}",
                            f"{msg_bytes / s / mb:,.1f}", f"{(rows / s) / copy_rate:.2f}"))
    if snaps and incrementals:
        consistent_s = min(p["from_start_s"] for p in snaps)
        incremental_s = min(p["from_start_s"] for p in incrementals)
        result["incremental_rows_per_s"] = rows / incremental_s
        result["ratio_incremental_over_consistent"] = consistent_s / incremental_s
        rows_md.append((f"incremental snapshot (from bw_start, "
                        f"{incrementals[0]['chunk_rows']}-row chunks)",
                        f"{rows / incremental_s:,.0f}", f"{table_bytes / incremental_s / mb:,.1f}",
                        f"{msg_bytes / incremental_s / mb:,.1f}",
                        f"{(rows / incremental_s) / copy_rate:.2f}"))
    lines = header("bottledwater snapshot benchmark", result)
    lines += [f"Table of {rows:,} rows, {table_bytes / mb:,.1f} MB on disk; best of "
              f"{args.passes} alternated passes; the topic is "
              f"{'auto-created by the first message' if args.auto_create_topic else 'created before bw_start'}. Bytes/s: table MB/s is the table's on-disk size "
              "over the time; the last column is COPY's text output or the Kafka messages' key + "
              f"value bytes ({(msg_bytes or 0) / mb:,.1f} MB).", ""]
    if not snaps:
        lines += ["bottledwater has no snapshot: only COPY was measured.", ""]
    lines += table(("path", "rows/s", "table MB/s", "output MB/s", "ratio to COPY"), rows_md)
    if "ratio_incremental_over_consistent" in result:
        lines += ["", "Incremental over consistent snapshot (rows/s, both from bw_start, passes "
                  f"alternated in this run): {result['ratio_incremental_over_consistent']:.2f}"]
    print(write_results(NAME, result, "\n".join(lines)))


if __name__ == "__main__":
    main()
