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

The rotation runs twice, in two layouts of the machine's CPUs:
  shared  every process wherever the scheduler puts it (the box as a whole);
  pinned  as a database host with Kafka elsewhere: the Kafka broker and the registry, and
          pg_recvlogical (the consumer of the pgoutput arm, which would run on another machine),
          on CPU 1; PostgreSQL (the postmaster and every backend, so the worker it forks and the
          walsender) and pgbench on CPU 0. Running processes are pinned with `taskset -a -p`
          (every thread), new backends inherit the postmaster's CPU, and each process's earlier
          affinity is restored afterwards, whatever happens. Its TPS ratio to none is what a
          database host pays for decoding (goal: at least 0.95).
"""

import argparse
import contextlib
import functools
import os
import re
import statistics
import subprocess
import time
from pathlib import Path

from _common import (PG_BIN, BenchDatabase, cpu_seconds, current_lsn, dev_env, header,
                     kafka_broker_pid, machine, now_utc, slot_confirmed, table, wait_for,
                     write_results)

NAME = "overhead"
DB = "bench_overhead"
SCALE = 10
ARMS = ("none", "bottledwater_avro", "bottledwater_json", "pgoutput")
WORKER_ARMS = {"bottledwater_avro": "avro", "bottledwater_json": "json"}
LAYOUTS = ("shared", "pinned")
# The pinned layout: the database host's CPU and the one standing in for the machines elsewhere.
DATABASE_CPU, ELSEWHERE_CPU = "0", "1"


def pg_args(env):
    return ["-h", env["PGHOST"], "-p", env["PGPORT"], "-U", env["PGUSER"]]


def pgbench(env, args, cpu=None):
    cmd = [*taskset(cpu), str(PG_BIN / "pgbench"), *pg_args(env), *args, DB]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed ({out.returncode}):\n"
                           f"{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout


def taskset(cpu):
    """The command prefix that runs a new process on `cpu` (none: anywhere)."""
    return ["taskset", "-c", cpu] if cpu is not None else []


def children(pid):
    """The pids whose parent is `pid` (the postmaster's: every backend and auxiliary process)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


@contextlib.contextmanager
def pinned(env):
    """The pinned layout for the duration of the block: PostgreSQL on DATABASE_CPU, the broker and
    the registry on ELSEWHERE_CPU; every process's affinity as it was afterwards."""
    postmaster = int(Path(env["BW_PG_PIDFILE"]).read_text().split()[0])
    others = [kafka_broker_pid(env), int(Path(env["BW_REGISTRY_PIDFILE"]).read_text())]
    placed = {pid: DATABASE_CPU for pid in [postmaster, *children(postmaster)]}
    placed.update({pid: ELSEWHERE_CPU for pid in others})
    earlier = {}
    try:
        for pid, cpu in placed.items():
            with contextlib.suppress(ProcessLookupError):  # a backend that has just exited
                earlier[pid] = ",".join(map(str, sorted(os.sched_getaffinity(pid))))
                set_affinity(pid, cpu)
        yield
    finally:
        # Backends forked meanwhile inherited the postmaster's CPU: give them back theirs too.
        for pid in children(postmaster):
            earlier.setdefault(pid, earlier[postmaster])
        for pid, cpus in earlier.items():
            set_affinity(pid, cpus, missing_ok=True)


def set_affinity(pid, cpus, missing_ok=False):
    """Every thread of `pid` on `cpus` (taskset -a -p); a process that has exited is skipped
    when `missing_ok`."""
    out = subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)], capture_output=True,
                         text=True)
    if out.returncode != 0 and not (missing_ok and not Path(f"/proc/{pid}").exists()):
        raise RuntimeError(f"taskset -a -p -c {cpus} {pid} failed: {out.stderr.strip()}")


def run(env, seconds, decoders=None, cpu=None):
    """One pgbench run (on `cpu`, if given): its TPS, and the CPU ms per 1,000 transactions of the
    Kafka broker and of each decoding process given as {name: pid}, and as `decoder` the sum of
    those the database host pays for (pinned, pg_recvlogical runs elsewhere and is left out)."""
    watched = {"broker": kafka_broker_pid(env), **(decoders or {})}
    before = {name: cpu_seconds(pid) for name, pid in watched.items()}
    out = pgbench(env, ["-n", "-c", "2", "-j", "2", "-T", str(seconds)], cpu)
    used = {name: cpu_seconds(pid) - before[name] for name, pid in watched.items()}
    elsewhere = {"broker", *(("pg_recvlogical",) if cpu is not None else ())}
    used["decoder"] = sum(s for name, s in used.items() if name not in elsewhere)
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

    def start(self, lsn, cpu=None):
        """Streams from the slot (pg_recvlogical on `cpu`, if given) and waits until it has
        confirmed `lsn`; returns the pids of the walsender and of pg_recvlogical."""
        self.proc = subprocess.Popen(
            [*taskset(cpu), str(PG_BIN / "pg_recvlogical"), *pg_args(self.env), "-d", DB,
             "--slot", self.SLOT,
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


def streaming_run(env, conn, seconds, start, wait_confirmed, stop, cpu=None):
    """A run with a decoder started by `start(lsn)` (returns its pids), caught up before the run
    and timed to confirm the run's last commit after it; pgbench on `cpu`, if given."""
    decoders = start(current_lsn(conn))
    r = run(env, seconds, decoders, cpu)
    lsn = current_lsn(conn)
    began = time.perf_counter()
    wait_confirmed(lsn)
    r["confirmed_last_commit_after_s"] = time.perf_counter() - began
    stop()
    return r


def rotation(env, db, pgoutput, seconds, rounds, layout):
    """`rounds` rotations of the arms in `layout`; the runs, each with its arm and layout."""
    cpu = DATABASE_CPU if layout == "pinned" else None
    consumer_cpu = ELSEWHERE_CPU if layout == "pinned" else None

    def start_worker(output_format, lsn):
        db.admin.execute(f"ALTER DATABASE {DB} SET bottledwater.output_format = "
                         f"'{output_format}'")
        db.start()
        db.wait_streaming()
        db.wait_caught_up(lsn)
        return {"worker": db.status()["pid"]}

    runs = []
    run(env, 3, cpu=cpu)  # warm-up, not counted
    for _ in range(rounds):
        for arm in ARMS:
            # A checkpoint inside a run would cost that arm alone: one before each keeps them out.
            db.conn.execute("CHECKPOINT")
            if arm == "none":
                r = run(env, seconds, cpu=cpu)
            elif arm in WORKER_ARMS:
                r = streaming_run(env, db.conn, seconds,
                                  functools.partial(start_worker, WORKER_ARMS[arm]),
                                  db.wait_caught_up, db.stop, cpu)
            else:
                r = streaming_run(env, db.conn, seconds,
                                  functools.partial(pgoutput.start, cpu=consumer_cpu),
                                  pgoutput.wait_confirmed, pgoutput.stop, cpu)
            runs.append({"layout": layout, "arm": arm, **r})
            cpu_use = ", ".join(f"{k[:-len('_cpu_ms_per_1k_txn')]} {v:.1f} ms"
                                for k, v in r.items() if k.endswith("_cpu_ms_per_1k_txn"))
            print(f"  {layout:6} {arm:17} {r['tps']:9,.1f} tps; CPU per 1k txn: {cpu_use}",
                  flush=True)
    return runs


def summary(runs, cpus):
    """Means of each arm of one layout's runs, and the ratios reported."""
    def mean(arm, key="tps"):
        return statistics.mean(r[key] for r in runs if r["arm"] == arm)

    # pgbench keeps every CPU it may use busy, so without decoding 1,000 transactions cost
    # cpus × 1,000 / TPS seconds: each decoder's CPU as a share of that.
    machine_ms = cpus * 1e6 / mean("none")
    streaming = ARMS[1:]
    decoder = {arm: mean(arm, "decoder_cpu_ms_per_1k_txn") for arm in streaming}
    broker = {arm: mean(arm, "broker_cpu_ms_per_1k_txn") for arm in streaming}
    return {
        "tps": {arm: mean(arm) for arm in ARMS},
        "ratio_to_none": {arm: mean(arm) / mean("none") for arm in streaming},
        "ratio_to_pgoutput": {arm: mean(arm) / mean("pgoutput") for arm in WORKER_ARMS},
        "decoder_cpu_ms_per_1k_txn": decoder,
        "broker_cpu_ms_per_1k_txn": broker,
        "decoder_cpu_share": {arm: ms / machine_ms for arm, ms in decoder.items()},
        "broker_cpu_share": {arm: ms / machine_ms for arm, ms in broker.items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s runs instead of 20 s")
    parser.add_argument("--rounds", type=int, default=2, help="rotations of the arms")
    parser.add_argument("--layouts", default=",".join(LAYOUTS),
                        help=f"which layouts, comma-separated (default {','.join(LAYOUTS)})")
    args = parser.parse_args()
    layouts = args.layouts.split(",")
    if set(layouts) - set(LAYOUTS):
        parser.error(f"--layouts: one of {', '.join(LAYOUTS)}")
    if "pinned" in layouts and len(os.sched_getaffinity(0)) < 2:
        parser.error("the pinned layout needs two CPUs")
    seconds = 5 if args.quick else 20
    env = dev_env()
    result = {"when": now_utc(), "quick": args.quick, "scale": SCALE, "clients": 2,
              "threads": 2, "seconds": seconds, "load_average": os.getloadavg()}
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
            for layout in layouts:
                with pinned(env) if layout == "pinned" else contextlib.nullcontext():
                    runs += rotation(env, db, pgoutput, seconds, args.rounds, layout)
        finally:
            pgoutput.close()
    result["runs"] = runs
    result["layouts"] = {
        layout: summary([r for r in runs if r["layout"] == layout],
                        1 if layout == "pinned" else result["machine"]["cpus"])
        for layout in layouts}

    lines = header("bottledwater overhead benchmark (pgbench)", result)
    lines += [f"pgbench scale {SCALE}, -c 2 -j 2, -T {seconds}, arms rotated "
              f"{'/'.join(ARMS)} x {args.rounds} in each layout. bottledwater streams all four "
              "pgbench tables to Kafka; pgoutput is pg_recvlogical through a walsender, to "
              "/dev/null. shared: PostgreSQL, the decoders, Kafka and pgbench share the "
              f"machine's {result['machine']['cpus']} CPUs. pinned: PostgreSQL (with the worker "
              f"and the walsender) and pgbench on CPU {DATABASE_CPU}; Kafka, the registry and "
              f"pg_recvlogical on CPU {ELSEWHERE_CPU}. Load average at the start: "
              + ", ".join(f"{x:.2f}" for x in result["load_average"]) + ".", ""]
    lines += table(("run", "layout", "arm", "TPS", "confirmed the last commit after",
                    "decoder CPU ms / 1k txn", "broker CPU ms / 1k txn"),
                   [(i + 1, r["layout"], r["arm"], f"{r['tps']:,.1f}",
                     f"{r['confirmed_last_commit_after_s']:.2f} s" if r["arm"] != "none" else "",
                     f"{r['decoder_cpu_ms_per_1k_txn']:.1f}" if r["arm"] != "none" else "",
                     f"{r['broker_cpu_ms_per_1k_txn']:.1f}")
                    for i, r in enumerate(runs)])
    lines += ["", "Means of each arm; CPU as a share of what the CPUs pgbench runs on spend on a "
              "transaction without decoding (a database host with Kafka elsewhere pays only the "
              "decoder's). Goal in the pinned layout: TPS / none at least 0.95.", ""]
    lines += table(("layout", "arm", "TPS / none", "TPS / pgoutput", "decoder CPU share",
                    "broker CPU share"),
                   [(layout, arm, f"**{s['ratio_to_none'][arm]:.3f}**",
                     f"**{s['ratio_to_pgoutput'][arm]:.3f}**" if arm in WORKER_ARMS else "",
                     f"{100 * s['decoder_cpu_share'][arm]:.1f}%",
                     f"{100 * s['broker_cpu_share'][arm]:.1f}%")
                    for layout, s in result["layouts"].items() for arm in ARMS[1:]])
    print(write_results(NAME, result, "\n".join(lines)))


if __name__ == "__main__":
    main()
