"""Overhead on the database: pgbench TPS (TPC-B-like, scale 10, -c 2 -j 2, -T 20 or 5 with --quick)
with the worker streaming the pgbench tables against no worker, alternated A/B/A/B in one run,
reported as the ratio TPS with worker / TPS without.

The worker streams all four pgbench tables (allow_unkeyed, for pgbench_history) and skips the
initial snapshot of the freshly initialised tables. Between runs it is stopped with bw_stop and
its slot kept, so each streaming run starts with it resumed and caught up on the WAL of the run
before (not timed); after each streaming run the time it needs to confirm the run's last commit
is recorded as its lag at the end.

TPS alone mixes every process on the machine, so each run also records the CPU time the worker
(all its threads) and the Kafka broker used per 1,000 pgbench transactions: on a machine of its
own the database pays only the worker's share.
"""

import argparse
import re
import statistics
import subprocess
import time

from _common import (PG_BIN, BenchDatabase, cpu_seconds, current_lsn, dev_env, header,
                     kafka_broker_pid, machine, now_utc, table, write_results)

NAME = "overhead"
DB = "bench_overhead"
SCALE = 10


def pgbench(env, args):
    cmd = [str(PG_BIN / "pgbench"), "-h", env["PGHOST"], "-p", env["PGPORT"], "-U", env["PGUSER"],
           *args, DB]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed ({out.returncode}):\n"
                           f"{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout


def run(env, seconds, worker_pid=None):
    """One pgbench run: its TPS, and the CPU ms per 1,000 transactions of the Kafka broker and
    (when given) the worker."""
    watched = {"broker": kafka_broker_pid(env)}
    if worker_pid:
        watched["worker"] = worker_pid
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    out = pgbench(env, ["-n", "-c", "2", "-j", "2", "-T", str(seconds)])
    used = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    n = re.search(r"number of transactions actually processed: ([0-9]+)", out)
    if not m or not n:
        raise RuntimeError(f"no tps in pgbench output:\n{out}")
    per_1k = {f"{name}_cpu_ms_per_1k_txn": 1e6 * s / int(n.group(1)) for name, s in used.items()}
    return {"tps": float(m.group(1)), "transactions": int(n.group(1)), **per_1k}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s runs instead of 20 s")
    parser.add_argument("--rounds", type=int, default=2, help="A/B pairs")
    args = parser.parse_args()
    seconds = 5 if args.quick else 20
    env = dev_env()
    result = {"when": now_utc(), "quick": args.quick, "scale": SCALE, "clients": 2,
              "threads": 2, "seconds": seconds}
    runs = []
    with BenchDatabase(env, DB, {"allow_unkeyed": "on", "skip_snapshot": "on"}) as db:
        result["machine"] = machine(db.conn)
        pgbench(env, ["-i", "-q", "-s", str(SCALE)])
        db.conn.execute("VACUUM ANALYZE")
        db.start()
        db.wait_streaming()
        db.stop()  # the slot exists now; every streaming run resumes it
        run(env, 3)  # warm-up, not counted
        for _ in range(args.rounds):
            r = run(env, seconds)
            runs.append({"worker": False, **r})
            print(f"  no worker:   {r['tps']:,.1f} tps", flush=True)

            lsn = current_lsn(db.conn)
            db.start()
            db.wait_streaming()
            db.wait_caught_up(lsn)
            r = run(env, seconds, db.status()["pid"])
            lsn = current_lsn(db.conn)
            start = time.perf_counter()
            db.wait_caught_up(lsn)
            lag = time.perf_counter() - start
            s = db.status()
            db.stop()
            runs.append({"worker": True, **r, "catch_up_after_run_s": lag,
                         "messages_acknowledged": s["messages_acknowledged"]})
            print(f"  with worker: {r['tps']:,.1f} tps (confirmed the last commit {lag:.2f} s "
                  f"after the run; CPU per 1k txn: worker {r['worker_cpu_ms_per_1k_txn']:.1f} ms, "
                  f"broker {r['broker_cpu_ms_per_1k_txn']:.1f} ms)", flush=True)

    without = [r["tps"] for r in runs if not r["worker"]]
    with_worker = [r["tps"] for r in runs if r["worker"]]
    ratio = statistics.mean(with_worker) / statistics.mean(without)
    pair_ratios = [b / a for a, b in zip(without, with_worker)]
    streaming = [r for r in runs if r["worker"]]
    worker_ms = statistics.mean(r["worker_cpu_ms_per_1k_txn"] for r in streaming)
    broker_ms = statistics.mean(r["broker_cpu_ms_per_1k_txn"] for r in streaming)
    # pgbench keeps every CPU busy, so without the worker 1,000 transactions cost the machine
    # cpus × 1,000 / TPS seconds; the worker's and broker's CPU as shares of that.
    machine_ms = result["machine"]["cpus"] * 1e6 / statistics.mean(without)
    result.update({"runs": runs, "tps_without_worker": statistics.mean(without),
                   "tps_with_worker": statistics.mean(with_worker), "ratio": ratio,
                   "pair_ratios": pair_ratios, "worker_cpu_ms_per_1k_txn": worker_ms,
                   "broker_cpu_ms_per_1k_txn": broker_ms,
                   "worker_cpu_share": worker_ms / machine_ms,
                   "broker_cpu_share": broker_ms / machine_ms})
    lines = header("bottledwater overhead benchmark (pgbench)", result)
    lines += [f"pgbench scale {SCALE}, -c 2 -j 2, -T {seconds}, runs alternated A/B x "
              f"{args.rounds}; the worker streams all four pgbench tables. PostgreSQL, the worker, Kafka "
              f"and pgbench share the machine's {result['machine']['cpus']} CPUs.", ""]
    lines += table(("run", "worker", "TPS", "worker confirmed last commit after",
                    "worker CPU ms / 1k txn", "broker CPU ms / 1k txn"),
                   [(i + 1, "yes" if r["worker"] else "no", f"{r['tps']:,.1f}",
                     f"{r['catch_up_after_run_s']:.2f} s" if r["worker"] else "",
                     f"{r['worker_cpu_ms_per_1k_txn']:.1f}" if r["worker"] else "",
                     f"{r['broker_cpu_ms_per_1k_txn']:.1f}")
                    for i, r in enumerate(runs)])
    lines += ["", f"TPS with worker / without: **{ratio:.3f}** (mean of each side; per pair: "
              + ", ".join(f"{r:.3f}" for r in pair_ratios) + ")", "",
              f"CPU per transaction, as a share of what the machine spends on one without the "
              f"worker: worker {100 * result['worker_cpu_share']:.1f}%, Kafka broker "
              f"{100 * result['broker_cpu_share']:.1f}% (a database host with Kafka elsewhere "
              "pays only the worker's)."]
    print(write_results(NAME, result, "\n".join(lines)))


if __name__ == "__main__":
    main()
