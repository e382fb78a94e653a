"""Overhead on the database: pgbench TPS (TPC-B-like, scale 10, -c 2 -j 2, -T 20 or 5 with --quick)
in four arms, rotated in one run:
  none               no one decodes the WAL;
  bottledwater_avro  the worker streams the pgbench tables to Kafka in its default format, Avro
                     with registered schemas;
  bottledwater_json  the same in the JSON format;
  pgoutput           PostgreSQL's own streaming, for scale: pg_recvlogical reads the same changes
                     through a walsender with pgoutput (a publication of every table) and writes
                     them to /dev/null, so nothing is encoded for or sent to Kafka.
Reported: each streaming arm's TPS over the no-decoding arm's, and bottledwater's over pgoutput's.

The worker streams all four pgbench tables (allow_unkeyed, for pgbench_history) and skips the
initial snapshot of the freshly initialised tables. Between runs it is stopped with bw_stop and
its slot kept, so each streaming run starts with it resumed and caught up on the WAL of the run
before (not timed); after each streaming run the time it needs to confirm the run's last commit
is recorded as its lag at the end. pg_recvlogical is likewise started and caught up before its
runs.

TPS alone mixes every process on the machine, so each run also records the CPU time per 1,000
pgbench transactions of the decoding processes (the worker with all its threads; the walsender
and pg_recvlogical) and of the Kafka broker: on a machine of its own the database pays only the
decoder's share.
"""

import argparse
import functools
import re
import statistics
import subprocess
import time

from _common import (PG_BIN, BenchDatabase, cpu_seconds, current_lsn, dev_env, header,
                     kafka_broker_pid, machine, now_utc, slot_confirmed, table, wait_for,
                     write_results)

NAME = "overhead"
DB = "bench_overhead"
SCALE = 10
ARMS = ("none", "bottledwater_avro", "bottledwater_json", "pgoutput")
WORKER_ARMS = {"bottledwater_avro": "avro", "bottledwater_json": "json"}


def pg_args(env):
    return ["-h", env["PGHOST"], "-p", env["PGPORT"], "-U", env["PGUSER"]]


def pgbench(env, args):
    cmd = [str(PG_BIN / "pgbench"), *pg_args(env), *args, DB]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed ({out.returncode}):\n"
                           f"{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout


def run(env, seconds, decoders=None):
    """One pgbench run: its TPS, and the CPU ms per 1,000 transactions of the Kafka broker and of
    each decoding process given as {name: pid} (and their sum as `decoder`)."""
    watched = {"broker": kafka_broker_pid(env), **(decoders or {})}
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    out = pgbench(env, ["-n", "-c", "2", "-j", "2", "-T", str(seconds)])
    used = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}
    used["decoder"] = sum(s for name, s in used.items() if name != "broker")
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    n = re.search(r"number of transactions actually processed: ([0-9]+)", out)
    if not m or not n:
        raise RuntimeError(f"no tps in pgbench output:\n{out}")
    per_1k = {f"{name}_cpu_ms_per_1k_txn": 1e6 * s / int(n.group(1)) for name, s in used.items()}
    return {"tps": float(m.group(1)), "transactions": int(n.group(1)), **per_1k}


class PgoutputStream:
    """pg_recvlogical on a pgoutput slot of the database, started and stopped around its runs."""

    SLOT = f"{DB}_pgoutput"
    PUBLICATION = f"{DB}_all"

    def __init__(self, env, conn):
        self.env, self.conn, self.proc = env, conn, None
        conn.execute(f"CREATE PUBLICATION {self.PUBLICATION} FOR ALL TABLES")
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (self.SLOT,))

    def start(self, lsn):
        """Streams from the slot and waits until it has confirmed `lsn`; returns the pids of the
        walsender and of pg_recvlogical."""
        self.proc = subprocess.Popen(
            [str(PG_BIN / "pg_recvlogical"), *pg_args(self.env), "-d", DB, "--slot", self.SLOT,
             "--start", "-o", "proto_version=1", "-o", f"publication_names={self.PUBLICATION}",
             "-f", "/dev/null", "-F", "0", "-s", "1", "--no-loop"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        walsender = wait_for(self._walsender_pid, 30, "pg_recvlogical's walsender")
        self.wait_confirmed(lsn)
        return {"walsender": walsender, "pg_recvlogical": self.proc.pid}

    def _walsender_pid(self):
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"pg_recvlogical exited: {self.proc.stderr.read().decode()}")
        row = self.conn.execute("SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s",
                                (self.SLOT,)).fetchone()
        return row and row[0]

    def wait_confirmed(self, lsn):
        wait_for(lambda: slot_confirmed(self.conn, self.SLOT, lsn), 600,
                 f"pg_recvlogical to confirm {lsn}")

    def stop(self):
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(30)
            self.proc = None
        wait_for(lambda: not self._walsender_pid(), 30, "the walsender to exit")

    def close(self):
        self.stop()
        self.conn.execute("SELECT pg_drop_replication_slot(%s)", (self.SLOT,))


def streaming_run(env, conn, seconds, start, wait_confirmed, stop):
    """A run with a decoder started by `start(lsn)` (returns its pids), caught up before the run
    and timed to confirm the run's last commit after it."""
    decoders = start(current_lsn(conn))
    r = run(env, seconds, decoders)
    lsn = current_lsn(conn)
    began = time.perf_counter()
    wait_confirmed(lsn)
    r["confirmed_last_commit_after_s"] = time.perf_counter() - began
    stop()
    return r


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 s runs instead of 20 s")
    parser.add_argument("--rounds", type=int, default=2, help="rotations of the arms")
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
        pgoutput = PgoutputStream(env, db.conn)
        try:
            def start_worker(output_format, lsn):
                db.admin.execute(f"ALTER DATABASE {DB} SET bottledwater.output_format = "
                                 f"'{output_format}'")
                db.start()
                db.wait_streaming()
                db.wait_caught_up(lsn)
                return {"worker": db.status()["pid"]}

            run(env, 3)  # warm-up, not counted
            for _ in range(args.rounds):
                for arm in ARMS:
                    if arm == "none":
                        r = run(env, seconds)
                    elif arm in WORKER_ARMS:
                        r = streaming_run(env, db.conn, seconds,
                                          functools.partial(start_worker, WORKER_ARMS[arm]),
                                          db.wait_caught_up, db.stop)
                    else:
                        r = streaming_run(env, db.conn, seconds, pgoutput.start,
                                          pgoutput.wait_confirmed, pgoutput.stop)
                    runs.append({"arm": arm, **r})
                    cpu = ", ".join(f"{k[:-len('_cpu_ms_per_1k_txn')]} {v:.1f} ms"
                                    for k, v in r.items() if k.endswith("_cpu_ms_per_1k_txn"))
                    print(f"  {arm:17} {r['tps']:9,.1f} tps; CPU per 1k txn: {cpu}", flush=True)
        finally:
            pgoutput.close()

    def mean(arm, key="tps"):
        return statistics.mean(r[key] for r in runs if r["arm"] == arm)

    # pgbench keeps every CPU busy, so without decoding 1,000 transactions cost the machine
    # cpus × 1,000 / TPS seconds: each decoder's CPU as a share of that.
    machine_ms = result["machine"]["cpus"] * 1e6 / mean("none")
    streaming = ARMS[1:]
    result.update({
        "runs": runs,
        "tps": {arm: mean(arm) for arm in ARMS},
        "ratio_to_none": {arm: mean(arm) / mean("none") for arm in streaming},
        "ratio_to_pgoutput": {arm: mean(arm) / mean("pgoutput") for arm in WORKER_ARMS},
        "decoder_cpu_ms_per_1k_txn": {arm: mean(arm, "decoder_cpu_ms_per_1k_txn")
                                      for arm in streaming},
        "broker_cpu_ms_per_1k_txn": {arm: mean(arm, "broker_cpu_ms_per_1k_txn")
                                     for arm in streaming},
    })
    result["decoder_cpu_share"] = {arm: ms / machine_ms
                                   for arm, ms in result["decoder_cpu_ms_per_1k_txn"].items()}
    result["broker_cpu_share"] = {arm: ms / machine_ms
                                  for arm, ms in result["broker_cpu_ms_per_1k_txn"].items()}

    lines = header("bottledwater overhead benchmark (pgbench)", result)
    lines += [f"pgbench scale {SCALE}, -c 2 -j 2, -T {seconds}, arms rotated "
              f"{'/'.join(ARMS)} x {args.rounds}. bottledwater streams all four pgbench tables "
              "to Kafka; pgoutput is pg_recvlogical through a walsender, to /dev/null. PostgreSQL, "
              f"the decoders, Kafka and pgbench share the machine's {result['machine']['cpus']} "
              "CPUs.", ""]
    lines += table(("run", "arm", "TPS", "confirmed the last commit after",
                    "decoder CPU ms / 1k txn", "broker CPU ms / 1k txn"),
                   [(i + 1, r["arm"], f"{r['tps']:,.1f}",
                     f"{r['confirmed_last_commit_after_s']:.2f} s" if r["arm"] != "none" else "",
                     f"{r['decoder_cpu_ms_per_1k_txn']:.1f}" if r["arm"] != "none" else "",
                     f"{r['broker_cpu_ms_per_1k_txn']:.1f}")
                    for i, r in enumerate(runs)])
    lines += ["", "Means of each arm; CPU as a share of what the machine spends on a transaction "
              "without decoding (a database host with Kafka elsewhere pays only the decoder's):",
              ""]
    lines += table(("arm", "TPS / none", "TPS / pgoutput", "decoder CPU share",
                    "broker CPU share"),
                   [(arm, f"**{result['ratio_to_none'][arm]:.3f}**",
                     f"**{result['ratio_to_pgoutput'][arm]:.3f}**" if arm in WORKER_ARMS else "",
                     f"{100 * result['decoder_cpu_share'][arm]:.1f}%",
                     f"{100 * result['broker_cpu_share'][arm]:.1f}%") for arm in streaming])
    print(write_results(NAME, result, "\n".join(lines)))


if __name__ == "__main__":
    main()
