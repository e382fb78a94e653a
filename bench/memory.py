"""Memory: the worker's resident set, sampled every 50 ms from /proc/<pid>/status (pid from
bw_status), during

1. one transaction inserting 1M rows (100k with --quick), until Kafka acknowledged it all;
2. a Kafka outage of 30 s (10 s with --quick; `scripts/dev-env stop-kafka` / `start-kafka`, which
   keeps the topics) under steady writes of 5,000 rows/s in 500-row transactions, then the
   recovery: the worker must confirm the last write, and every row written during the outage must
   be in the topic (read back by a consumer).

The peak (VmHWM, reset through /proc/<pid>/clear_refs at the start of each phase, and the sampled
VmRSS maximum) is reported per phase, with RssAnon (the worker's private memory: VmRSS also counts
the shared buffers it touched). "Flat" during the outage: the sampled VmRSS grows by at most
16 MB from the outage's start to its peak; "plateau": at most 2 MB over the outage's last quarter
(memory bounded, e.g. by the producer queue's limit, even if it grew first).
"""

import argparse
import subprocess
import threading
import time
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from _common import (DEV_ENV, BenchDatabase, current_lsn, dev_env, header, machine, now_utc,
                     table, topic_messages, wait_for, watermark_consumer, write_results)

NAME = "memory"
DB = "bench_memory"
FLAT_MB = 16
OUTAGE_BATCH, OUTAGE_BATCHES_PER_S = 500, 10


def proc_status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssShmem"):
            fields[key] = int(value.split()[0]) / 1024  # MB
    return fields


def reset_peak(pid):
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class Sampler(threading.Thread):
    def __init__(self, pid, stop_after_s):
        super().__init__(daemon=True)
        self.pid, self.phase, self.samples = pid, "idle", []
        self.start_t, self.stop_after = time.monotonic(), stop_after_s
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set() and time.monotonic() - self.start_t < self.stop_after:
            try:
                s = proc_status(self.pid)
            except OSError:
                s = {}
            self.samples.append({"t": round(time.monotonic() - self.start_t, 3),
                                 "phase": self.phase, **s})
            time.sleep(0.05)

    def of(self, phase):
        return [s for s in self.samples if s["phase"] == phase and "VmRSS" in s]


def dev_env_cmd(command):
    subprocess.run([str(DEV_ENV), command], check=True, capture_output=True, timeout=180)


def insert_batch(conn, first, count):
    conn.execute("INSERT INTO mem SELECT i, i %% 1000, 'row ' || i, now(), i / 100.0 "
                 "FROM generate_series(%s::bigint, %s::bigint) i", (first, first + count - 1))


def read_ids(bootstrap, topic, from_offset, expected, timeout=180):
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bw-bench-memory",
                         "enable.auto.commit": False, "log_level": 0})
    consumer.assign([TopicPartition(topic, 0, from_offset)])
    import json
    ids = set()
    deadline = time.monotonic() + timeout
    while not expected <= ids and time.monotonic() < deadline:
        for msg in consumer.consume(10000, timeout=1.0):
            if not msg.error() and msg.key() is not None:
                ids.add(json.loads(msg.key())["id"]["long"])
    consumer.close()
    return ids


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100k rows, 10 s outage")
    args = parser.parse_args()
    rows, outage = (100_000, 10) if args.quick else (1_000_000, 30)
    env = dev_env()
    bootstrap = env["BW_KAFKA_BOOTSTRAP"]
    result = {"when": now_utc(), "quick": args.quick, "big_transaction_rows": rows,
              "outage_s": outage}
    kafka_stopped = False
    with BenchDatabase(env, DB) as db:
        result["machine"] = machine(db.conn)
        db.conn.execute("CREATE TABLE mem (id bigint PRIMARY KEY, n int, t text, "
                        "at timestamptz, amount numeric(12,2))")
        db.start()
        db.wait_streaming()
        pid = db.status()["pid"]
        topic = db.topic("mem")
        sampler = Sampler(pid, 1800)
        sampler.start()
        peaks = {}
        try:
            time.sleep(1.0)
            reset_peak(pid)
            sampler.phase = "big transaction"
            start = time.perf_counter()
            insert_batch(db.conn, 1, rows)
            db.wait_caught_up(current_lsn(db.conn))
            result["big_transaction_acknowledged_s"] = time.perf_counter() - start
            peaks["big transaction"] = proc_status(pid)["VmHWM"]

            watermarks = watermark_consumer(bootstrap)
            before_outage = topic_messages(watermarks, topic)
            watermarks.close()
            reset_peak(pid)
            sampler.phase = "kafka stopped, writes"
            dev_env_cmd("stop-kafka")
            kafka_stopped = True
            next_id, written, t0 = rows + 1, 0, time.perf_counter()
            batches = outage * OUTAGE_BATCHES_PER_S
            for b in range(batches):
                delay = t0 + b / OUTAGE_BATCHES_PER_S - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                insert_batch(db.conn, next_id, OUTAGE_BATCH)
                next_id += OUTAGE_BATCH
                written += OUTAGE_BATCH
            time.sleep(max(0.0, t0 + outage - time.perf_counter()))
            during = db.status()
            result["worker_during_outage"] = {k: during[k] for k in (
                "state", "last_error", "messages_produced", "messages_acknowledged", "lag_bytes")}
            peaks["kafka stopped, writes"] = proc_status(pid)["VmHWM"]
            last_lsn = current_lsn(db.conn)

            reset_peak(pid)
            sampler.phase = "recovery"
            start = time.perf_counter()
            dev_env_cmd("start-kafka")
            kafka_stopped = False
            db.wait_caught_up(last_lsn, timeout=300)
            result["recovery_s_from_start_kafka"] = time.perf_counter() - start
            peaks["recovery"] = proc_status(pid)["VmHWM"]
            result["worker_pid_unchanged"] = db.status()["pid"] == pid
            expected = set(range(rows + 1, next_id))
            ids = read_ids(bootstrap, topic, before_outage, expected)
            result["outage_rows_written"] = written
            result["outage_rows_in_topic"] = len(expected & ids)
            result["all_outage_rows_arrived"] = expected <= ids
        finally:
            if kafka_stopped:
                dev_env_cmd("start-kafka")
            sampler.done.set()
            sampler.join()

    phases = {}
    for phase in ("idle", "big transaction", "kafka stopped, writes", "recovery"):
        samples = sampler.of(phase)
        if not samples:
            continue
        phases[phase] = {
            "samples": len(samples),
            "rss_first_mb": samples[0]["VmRSS"], "rss_last_mb": samples[-1]["VmRSS"],
            "rss_max_mb": max(s["VmRSS"] for s in samples),
            "anon_max_mb": max(s.get("RssAnon", 0) for s in samples),
            "hwm_mb": peaks.get(phase, max(s["VmHWM"] for s in samples)),
        }
    out = phases.get("kafka stopped, writes")
    growth = out["rss_max_mb"] - out["rss_first_mb"] if out else None
    # Bounded: over the outage's last quarter VmRSS no longer grows (e.g. the producer queue is
    # full); VmRSS at each quarter of the outage shows the shape.
    outage_samples = sampler.of("kafka stopped, writes")
    n = len(outage_samples)
    quarters = [outage_samples[min(n - 1, n * q // 4)]["VmRSS"] for q in range(5)] if n else []
    last_quarter = outage_samples[3 * n // 4:]
    late_growth = (max(s["VmRSS"] for s in last_quarter) - last_quarter[0]["VmRSS"]
                   if last_quarter else None)
    result.update({"phases": phases, "outage_rss_growth_mb": growth,
                   "outage_rss_at_quarters_mb": quarters,
                   "outage_last_quarter_rss_growth_mb": late_growth,
                   "plateau_in_last_quarter": late_growth is not None and late_growth <= 2,
                   "flat_during_outage": growth is not None and growth <= FLAT_MB,
                   "peak_rss_mb": max(p["hwm_mb"] for p in phases.values()),
                   "samples": sampler.samples[::4]})

    lines = header("bottledwater worker memory benchmark", result)
    lines += [f"Worker pid {pid}; VmRSS sampled every 50 ms; peak = VmHWM reset at each phase's "
              f"start. Big transaction: {rows:,} rows, acknowledged in "
              f"{result['big_transaction_acknowledged_s']:.1f} s. Outage: {outage} s, "
              f"{result['outage_rows_written']:,} rows in {OUTAGE_BATCH}-row transactions.", ""]
    lines += table(("phase", "VmRSS first MB", "VmRSS last MB", "VmRSS max MB", "RssAnon max MB",
                    "peak (VmHWM) MB"),
                   [(name, f"{p['rss_first_mb']:.1f}", f"{p['rss_last_mb']:.1f}",
                     f"{p['rss_max_mb']:.1f}", f"{p['anon_max_mb']:.1f}", f"{p['hwm_mb']:.1f}")
                    for name, p in phases.items()])
    d = result["worker_during_outage"]
    lines += ["",
              f"Peak RSS over the run: **{result['peak_rss_mb']:.1f} MB**. During the outage VmRSS "
              f"grew {growth:.1f} MB: {'flat' if result['flat_during_outage'] else 'NOT flat'} "
              f"(threshold {FLAT_MB} MB); VmRSS at 0, 1/4, 1/2, 3/4 and the end of the outage: "
              + ", ".join(f"{q:.1f}" for q in quarters) + f" MB; over its last quarter it grew "
              f"{late_growth:.1f} MB ({'a plateau' if result['plateau_in_last_quarter'] else 'still growing'}). Worker at the end of the outage: state {d['state']}, "
              f"{d['messages_produced'] - d['messages_acknowledged']:,} messages unacknowledged, "
              f"lag {d['lag_bytes']:,} bytes.",
              f"After start-kafka the worker confirmed the last write in "
              f"{result['recovery_s_from_start_kafka']:.1f} s (same worker pid: "
              f"{result['worker_pid_unchanged']}); rows written during the outage found in the "
              f"topic: {result['outage_rows_in_topic']:,} of {result['outage_rows_written']:,} "
              f"({'all arrived' if result['all_outage_rows_arrived'] else 'MISSING ROWS'})."]
    print(write_results(NAME, result, "\n".join(lines)))


if __name__ == "__main__":
    main()
