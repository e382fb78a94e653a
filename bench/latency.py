"""Latency: time from a commit to its row being readable by a Kafka consumer, at a fixed moderate
rate (2,000 rows/s for 20 s; 1,000 rows/s for 5 s with --quick) of single-row transactions.

One client inserts row i at t0 + i / rate on a precise schedule (sleeping, never skipping: a row
late on its slot goes at once) in autocommit, and notes the wall clock when its commit returned.
A consumer thread (assigned to the pre-created topic from offset 0) notes the wall clock when each
message is handed to it. Latency = received - committed, same host and clock. The row also
carries clock_timestamp() taken inside its transaction, just before the commit, giving a second,
server-side figure (insert -> readable). The worker runs with its default settings.

--delivery measures at_least_once and exactly_once, each twice, interleaved (the machine may be
shared), with a read_committed consumer in every run: exactly_once rows become readable when
their Kafka transaction commits.

With --during-snapshot, arms alternate: idle, then the same load while an incremental snapshot
(bw_snapshot) of a 1M-row table runs, and again (--arms pairs), each arm on a table and topic of
its own; the snapshot's p99 is reported over the idle one. Alternating in one run keeps a shared
machine's load from favouring either arm.
"""

import argparse
import json
import statistics
import sys
import threading
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from _common import (BenchDatabase, connect, create_topics, dev_env, header, machine, now_utc,
                     table, write_results)

NAME = "latency"
DB = "bench_latency"


class Receiver(threading.Thread):
    def __init__(self, bootstrap, topic, expected, deadline_s, isolation):
        super().__init__(daemon=True)
        self.received = {}  # id -> (wall clock when received, server-side insert time)
        self.expected, self.stop_at = expected, time.monotonic() + deadline_s
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bw-bench-latency",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 10,
                                  "isolation.level": isolation, "log_level": 0})
        self.consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        self.error = None

    def run(self):
        try:
            while len(self.received) < self.expected and time.monotonic() < self.stop_at:
                # poll returns as soon as a message is there (consume(n) would wait for n).
                msg = self.consumer.poll(0.05)
                now = time.time()
                if msg is None or msg.error() or msg.value() is None:
                    continue
                value = json.loads(msg.value())
                self.received.setdefault(value["id"]["long"], (now, value["at"]["long"] / 1e6))
        except Exception as e:  # reported by the main thread
            self.error = e
        finally:
            self.consumer.close()


def percentile(sorted_values, p):
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def summary(latencies_ms):
    v = sorted(latencies_ms)
    return {"p50_ms": percentile(v, 50), "p99_ms": percentile(v, 99), "max_ms": v[-1],
            "mean_ms": statistics.mean(v), "min_ms": v[0]}


def measure(db, bootstrap, table_name, rate, seconds, isolation="read_uncommitted"):
    """One arm: `rate` single-row transactions per second for `seconds` into a new table."""
    total = rate * seconds
    db.conn.execute(f"CREATE TABLE {table_name} (id bigint PRIMARY KEY, at timestamptz NOT NULL, "
                    "pad text)")
    topic = db.topic(table_name)
    create_topics(bootstrap, [topic])
    receiver = Receiver(bootstrap, topic, total + 1, seconds + 120, isolation)  # and row 0
    receiver.start()
    time.sleep(1.0)  # the consumer has its partition before the first row

    committed = [0.0] * total
    late = 0
    insert = f"INSERT INTO {table_name} VALUES (%s, clock_timestamp(), 'latency probe')"
    with db.conn.cursor() as cur:
        cur.execute(insert, (0,), prepare=True)  # a first row, not measured
        start = time.perf_counter()
        t0_wall = time.time()
        for i in range(total):
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.002:
                late += 1
            cur.execute(insert, (i + 1,), prepare=True)
            committed[i] = time.time()
        elapsed = time.perf_counter() - start
    receiver.join(timeout=seconds + 130)
    if receiver.error:
        raise receiver.error
    got = receiver.received
    missing = [i + 1 for i in range(total) if i + 1 not in got]
    if missing:
        raise RuntimeError(f"{len(missing)} of {total} rows never reached the consumer "
                           f"(first missing id {missing[0]})")
    client = [(got[i + 1][0] - committed[i]) * 1000 for i in range(total)]
    server = [(got[i + 1][0] - got[i + 1][1]) * 1000 for i in range(total)]
    return {"achieved_rows_per_s": total / elapsed, "rows_late_over_2ms": late,
            "commit_to_readable": summary(client), "insert_to_readable": summary(server),
            "first_second_commit_to_readable_ms": summary(
                [client[i] for i in range(total) if committed[i] - t0_wall < 1.0])}


class SnapshotKeeper(threading.Thread):
    """Keeps an incremental snapshot of `bulk` running for a whole arm: queued again as soon as
    it is done. Counts the rows the worker reports sent."""

    def __init__(self, env, name):
        super().__init__(daemon=True)
        self.env, self.name = env, name
        self.stop = threading.Event()
        self.rows_sent = 0
        self.error = None

    def run(self):
        try:
            conn = connect(self.env, self.name)
            conn.execute("SELECT bw_snapshot(%s, '{bulk}')", (self.name,))
            while not self.stop.wait(0.2):
                state, rows = conn.execute("SELECT state, rows_sent FROM bw_snapshots() WHERE "
                                           "table_text = 'public.bulk'").fetchone()
                if state == "done":
                    self.rows_sent += rows
                    conn.execute("SELECT bw_snapshot(%s, '{bulk}')", (self.name,))
            state, rows = conn.execute("SELECT state, rows_sent FROM bw_snapshots() WHERE "
                                       "table_text = 'public.bulk'").fetchone()
            self.rows_sent += rows
            conn.execute("SELECT bw_snapshot_cancel(%s)", (self.name,))
            conn.close()
        except Exception as e:  # reported by the main thread
            self.error = e


def measure_delivery(env, rate, seconds, mode):
    """One run of the --delivery comparison, in a database of its own with delivery = `mode`."""
    with BenchDatabase(env, DB, {"delivery": mode}) as db:
        db.start()
        db.wait_streaming()
        result = {"machine": machine(db.conn)}
        result.update(measure(db, env["BW_KAFKA_BOOTSTRAP"], "lat", rate, seconds,
                              "read_committed"))
    return result


def figures(label, x):
    return (label, f"{x['p50_ms']:.1f}", f"{x['p99_ms']:.1f}", f"{x['max_ms']:.1f}",
            f"{x['mean_ms']:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1,000 rows/s for 5 s")
    parser.add_argument("--during-snapshot", action="store_true",
                        help="alternate idle arms with arms during an incremental snapshot")
    parser.add_argument("--arms", type=int, default=2, help="pairs of arms (--during-snapshot)")
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="bottledwater.snapshot_chunk_rows (--during-snapshot)")
    parser.add_argument("--delivery", action="store_true",
                        help="at_least_once against exactly_once, read_committed (see above)")
    args = parser.parse_args()
    rate, seconds = (1000, 5) if args.quick else (2000, 20)
    total = rate * seconds
    env = dev_env()
    bootstrap = env["BW_KAFKA_BOOTSTRAP"]
    sys.setswitchinterval(0.0005)  # hand the GIL over promptly between writer and consumer
    result = {"when": now_utc(), "quick": args.quick, "rate_rows_per_s": rate,
              "seconds": seconds, "rows": total}
    if args.delivery:
        runs = [(mode, measure_delivery(env, rate, seconds, mode))
                for _ in range(2) for mode in ("at_least_once", "exactly_once")]
        result["machine"] = runs[0][1]["machine"]
        result["runs"] = [{"delivery": mode, **r} for mode, r in runs]
        lines = header("bottledwater latency by delivery mode", result)
        lines += [f"{total:,} single-row transactions at {rate:,} rows/s for {seconds} s per run; "
                  "each mode twice, interleaved; read_committed consumer; commit returned -> "
                  "readable by the consumer.", ""]
        lines += table(("run", "p50 ms", "p99 ms", "max ms", "mean ms"),
                       [figures(f"{n + 1}. {mode}", r["commit_to_readable"])
                        for n, (mode, r) in enumerate(runs)])
        print(write_results(NAME + "-delivery", result, "\n".join(lines)))
        return
    settings = {"skip_snapshot": "on"} if args.during_snapshot else {}
    if args.chunk_rows:
        settings["snapshot_chunk_rows"] = args.chunk_rows
    with BenchDatabase(env, DB, settings) as db:
        result["machine"] = machine(db.conn)
        result["worker_poll_interval_ms"] = db.conn.execute(
            "SHOW bottledwater.poll_interval_ms").fetchone()[0]
        result["snapshot_chunk_rows"] = db.conn.execute(
            "SHOW bottledwater.snapshot_chunk_rows").fetchone()[0]
        if args.during_snapshot:
            db.conn.execute("CREATE TABLE bulk (id bigint PRIMARY KEY, n int, t text)")
            db.conn.execute("INSERT INTO bulk SELECT i, i % 1000, 'row ' || i "
                            "FROM generate_series(1, 1000000) i")
            db.conn.execute("VACUUM (FREEZE, ANALYZE) bulk")
            create_topics(bootstrap, [db.topic("bulk")])
        db.start()
        db.wait_streaming()
        if not args.during_snapshot:
            result.update(measure(db, bootstrap, "lat", rate, seconds))
        else:
            arms = []
            for i in range(args.arms):
                for during in (False, True):
                    keeper = SnapshotKeeper(env, db.name) if during else None
                    if keeper:
                        keeper.start()
                    arm = measure(db, bootstrap, f"lat_{i}_{int(during)}", rate, seconds)
                    arm["during_snapshot"] = during
                    if keeper:
                        keeper.stop.set()
                        keeper.join(timeout=60)
                        if keeper.error:
                            raise keeper.error
                        arm["snapshot_rows_sent"] = keeper.rows_sent
                    arms.append(arm)
            result["arms"] = arms
            best = {d: min((a for a in arms if a["during_snapshot"] == d),
                           key=lambda a: a["commit_to_readable"]["p99_ms"]) for d in (False, True)}
            result["p99_ratio_snapshot_over_idle"] = (
                best[True]["commit_to_readable"]["p99_ms"] /
                best[False]["commit_to_readable"]["p99_ms"])
            result.update(best[False])

    c, s = result["commit_to_readable"], result["insert_to_readable"]
    lines = header("bottledwater latency benchmark", result)
    lines += [f"{total:,} single-row transactions at {rate:,} rows/s for {seconds} s (achieved "
              f"{result['achieved_rows_per_s']:,.0f} rows/s, {result['rows_late_over_2ms']} "
              f"rows more than 2 ms late); worker poll_interval_ms "
              f"{result['worker_poll_interval_ms']}.", ""]
    if args.during_snapshot:
        lines += [f"Arms alternated idle / during an incremental snapshot of a 1M-row table "
                  f"({result['snapshot_chunk_rows']}-row chunks, queued again whenever it "
                  f"finished, so it ran through the whole arm), {args.arms} of each; each side's "
                  f"best p99 counts. p99 during the snapshot over idle: "
                  f"{result['p99_ratio_snapshot_over_idle']:.2f}.", ""]
        lines += table(("arm", "p50 ms", "p99 ms", "max ms", "snapshot rows sent during the arm"),
                       [("snapshot" if a["during_snapshot"] else "idle",
                         f"{a['commit_to_readable']['p50_ms']:.1f}",
                         f"{a['commit_to_readable']['p99_ms']:.1f}",
                         f"{a['commit_to_readable']['max_ms']:.1f}",
                         f"{a['snapshot_rows_sent']:,}" if a["during_snapshot"] else "")
                        for a in result["arms"]])
        lines.append("")
    lines += table(("measure", "p50 ms", "p99 ms", "max ms", "mean ms"),
                   [figures(label, x)
                    for label, x in (("commit returned -> readable by consumer", c),
                                     ("clock_timestamp() in the row -> readable", s))])
    print(write_results(NAME, result, "\n".join(lines)))


if __name__ == "__main__":
    main()
