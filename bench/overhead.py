"""Overhead on the database: pgbench TPS (TPC-B-like, scale 10, -c 2 -j 2, -T 20 or 5 with --quick)
with the worker streaming the pgbench tables against no worker, alternated A/B/A/B in one run,
reported as the ratio TPS with worker / TPS without.

The worker streams all four pgbench tables (allow_unkeyed, for pgbench_history) and skips the
initial snapshot of the freshly initialised tables. Between runs it is stopped with bw_stop and
its slot kept, so each streaming run starts with it resumed and caught up on the WAL of the run
before (not timed); after each streaming run the time it needs to confirm the run's last commit
is recorded as its lag at the end.
"""

import argparse
import re
import statistics
import subprocess
import time

from _common import (PG_BIN, BenchDatabase, current_lsn, dev_env, header, machine, now_utc,
                     table, write_results)

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


def run(env, seconds):
    out = pgbench(env, ["-n", "-c", "2", "-j", "2", "-T", str(seconds)])
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    if not m:
        raise RuntimeError(f"no tps in pgbench output:\n{out}")
    return float(m.group(1))


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
            tps = run(env, seconds)
            runs.append({"worker": False, "tps": tps})
            print(f"  no worker:   {tps:,.1f} tps", flush=True)

            lsn = current_lsn(db.conn)
            db.start()
            db.wait_streaming()
            db.wait_caught_up(lsn)
            tps = run(env, seconds)
            lsn = current_lsn(db.conn)
            start = time.perf_counter()
            db.wait_caught_up(lsn)
            lag = time.perf_counter() - start
            s = db.status()
            db.stop()
            runs.append({"worker": True, "tps": tps, "catch_up_after_run_s": lag,
                         "messages_acknowledged": s["messages_acknowledged"]})
            print(f"  with worker: {tps:,.1f} tps (confirmed the last commit {lag:.2f} s after "
                  "the run)", flush=True)

    without = [r["tps"] for r in runs if not r["worker"]]
    with_worker = [r["tps"] for r in runs if r["worker"]]
    ratio = statistics.mean(with_worker) / statistics.mean(without)
    pair_ratios = [b / a for a, b in zip(without, with_worker)]
    result.update({"runs": runs, "tps_without_worker": statistics.mean(without),
                   "tps_with_worker": statistics.mean(with_worker), "ratio": ratio,
                   "pair_ratios": pair_ratios})
    lines = header("bottledwater overhead benchmark (pgbench)", result)
    lines += [f"pgbench scale {SCALE}, -c 2 -j 2, -T {seconds}, runs alternated A/B x "
              f"{args.rounds}; the worker streams all four pgbench tables. PostgreSQL, the worker, Kafka "
              f"and pgbench share the machine's {result['machine']['cpus']} CPUs.", ""]
    lines += table(("run", "worker", "TPS", "worker confirmed last commit after"),
                   [(i + 1, "yes" if r["worker"] else "no", f"{r['tps']:,.1f}",
                     f"{r['catch_up_after_run_s']:.2f} s" if r["worker"] else "")
                    for i, r in enumerate(runs)])
    lines += ["", f"TPS with worker / without: **{ratio:.3f}** (mean of each side; per pair: "
              + ", ".join(f"{r:.3f}" for r in pair_ratios) + ")"]
    print(write_results(NAME, result, "\n".join(lines)))


if __name__ == "__main__":
    main()
