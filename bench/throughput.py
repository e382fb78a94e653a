"""Decoding and streaming throughput of bottledwater against PostgreSQL's own decoders, on the
same WAL in the same run, reported as ratios (absolute rates are printed for context only).

1. Plugin decoding rate: one 1M-row transaction, and 200k rows in transactions of 1-10 rows over
   three tables, each decoded through pg_logical_slot_peek_*_changes by pgoutput (the raw rate
   Debezium and logical replication start from), test_decoding, and bottledwater (json, avro).
   Every decoder reads the same WAL twice, interleaved, and its better pass counts.
2. End to end, in the json and the avro format, on both workloads: the worker streaming to Kafka
   until its slot confirms the last commit (it confirms only what Kafka acknowledged), from a
   standing start after the commits (the same work as pgoutput decoding that WAL, which is
   measured on it right after), and for the 1M-row transaction also live (decoding while the
   rows are written, timed from the commit). The reference is the mean of pgoutput's passes.
3. The debezium envelope's cost: its rate over the row envelope's in the same format (JSON and
   Avro), both in plugin decoding and end to end (the worker's arms run one after the other for
   each workload).
4. The record headers' cost (bottledwater.message_headers): end to end, json, on over off.

--delivery runs only the end-to-end part, in json, once per delivery mode and twice over,
interleaved (at_least_once, exactly_once, at_least_once, exactly_once), and reports each mode's
better pass and exactly_once over at_least_once: under exactly_once the slot confirms only what a
committed Kafka transaction holds, so the same stopwatch times it.
"""

import argparse
import os
import time

from _common import (connect, create_topics, dev_env, fresh_database, header,
                     kafka_delete_topics_with_prefix, machine, now_utc, slot_confirmed, table,
                     thread_cpu_seconds, wait_for, write_results, write_small_transactions)

DECODERS = {
    # name: (plugin, SQL function, options)
    "pgoutput": ("pgoutput", "pg_logical_slot_peek_binary_changes",
                 ["proto_version", "1", "publication_names", "bench_pub"]),
    "test_decoding": ("test_decoding", "pg_logical_slot_peek_changes", []),
    "bottledwater_json": ("bottledwater", "pg_logical_slot_peek_changes", ["format", "json"]),
    "bottledwater_avro": ("bottledwater", "pg_logical_slot_peek_binary_changes", ["format", "avro"]),
    # The debezium envelope (Kafka Connect JSON, with and without the schema in every message).
    "bottledwater_json_debezium": ("bottledwater", "pg_logical_slot_peek_changes",
                                   ["format", "json", "envelope", "debezium"]),
    "bottledwater_json_debezium_no_schemas": ("bottledwater", "pg_logical_slot_peek_changes",
                                              ["format", "json", "envelope", "debezium",
                                               "json_schemas", "false"]),
    # In Avro: Connect's schemas as an AvroConverter registers them.
    "bottledwater_avro_debezium": ("bottledwater", "pg_logical_slot_peek_binary_changes",
                                   ["format", "avro", "envelope", "debezium"]),
}
# Worker arms of the end-to-end run: (output_format, envelope), interleaved per workload.
# The worker's arms by default: label -> settings (over WORKER_DEFAULTS).
WORKER_ARMS = [("json", {"output_format": "json"}), ("avro", {"output_format": "avro"}),
               ("json_debezium", {"output_format": "json", "envelope": "debezium"}),
               ("avro_debezium", {"output_format": "avro", "envelope": "debezium"}),
               ("json_headers", {"output_format": "json", "message_headers": "on"})]
WORKER_DEFAULTS = {"envelope": "row", "delivery": "at_least_once", "message_headers": "off"}
# The envelope's cost: debezium's rate over the row envelope's in the same format.
ENVELOPE_RATIOS = {"bottledwater_json_debezium": "bottledwater_json",
                   "bottledwater_json_debezium_no_schemas": "bottledwater_json",
                   "bottledwater_worker_json_debezium_catch_up": "bottledwater_worker_json_catch_up",
                   "bottledwater_worker_json_debezium_live": "bottledwater_worker_json_live",
                   "bottledwater_avro_debezium": "bottledwater_avro",
                   "bottledwater_worker_avro_debezium_catch_up": "bottledwater_worker_avro_catch_up",
                   "bottledwater_worker_avro_debezium_live": "bottledwater_worker_avro_live"}
# The record headers' cost: message_headers on over off, json.
HEADER_RATIOS = {"bottledwater_worker_json_headers_catch_up": "bottledwater_worker_json_catch_up",
                 "bottledwater_worker_json_headers_live": "bottledwater_worker_json_live"}
FEATURE_RATIOS = [("Debezium envelope over the row envelope", ENVELOPE_RATIOS),
                  ("message_headers on over off", HEADER_RATIOS)]


def create_tables(conn, count):
    for i in range(count):
        conn.execute(f"CREATE TABLE bench_{i} (id bigint PRIMARY KEY, n int, t text, "
                     "at timestamptz, amount numeric(12,2))")
    conn.execute("CREATE PUBLICATION bench_pub FOR ALL TABLES")


def one_big_transaction(conn, rows):
    conn.execute(f"INSERT INTO bench_0 SELECT i, i % 1000, 'row ' || i, now(), i / 100.0 "
                 f"FROM generate_series(1, {rows}) i")


def small_transactions(conn, rows):
    write_small_transactions(conn, rows, tables=3, first_id=10_000_000)


def decode_rates(conn, workload, rows, passes=2):
    """rows/s per decoder over the WAL written by `workload`, best of `passes` interleaved."""
    for name, (plugin, _, _) in DECODERS.items():
        conn.execute("SELECT pg_create_logical_replication_slot(%s, %s)", (f"b_{name}", plugin))
    workload(conn, rows)
    best = {name: 0.0 for name in DECODERS}
    for _ in range(passes):
        for name, (_, function, options) in DECODERS.items():
            args = ", ".join(["%s"] * len(options))
            sql = f"SELECT count(*) FROM {function}(%s, NULL, NULL{', ' + args if args else ''})"
            start = time.perf_counter()
            conn.execute(sql, [f"b_{name}", *options]).fetchone()
            best[name] = max(best[name], rows / (time.perf_counter() - start))
    for name in DECODERS:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (f"b_{name}",))
    return best


def worker_end_to_end(env, workloads, arms):
    """rows/s of the worker from commit to Kafka's acknowledgement (its slot confirms only what
    Kafka acknowledged), in each output format, per workload ({title: (function, rows)}):
    catching up on committed work from a standing start, which reads the same WAL pgoutput then
    reads for the reference rate; and for one big transaction also live, decoding while it is
    written, timed from the commit. `arms`: (label, settings) run in
    turn for each workload; a label run twice keeps its better rate. Returns those rates, and
    the same runs' rows per CPU-second: of the worker (every thread, from its start) catching
    up, and of the backend running pgoutput's pass."""
    conn = fresh_database(env, "bench_e2e")
    create_tables(conn, 3)
    stamp = int(time.time())
    # Slot names are cluster-wide: give this database its own.
    conn.execute("ALTER DATABASE bench_e2e SET bottledwater.slot_name = 'bench_e2e'")
    streaming = ("SELECT count(*) = 1 FROM bw_status() WHERE database = 'bench_e2e' "
                 "AND state = 'streaming'")

    def start_worker():
        conn.execute("SELECT bw_start('bench_e2e')")
        wait_for(lambda: conn.execute(streaming).fetchone()[0], 60, "the worker to stream")

    def stop_worker_with_restart_point_here():
        """A slot restarts decoding from its restart_lsn, which moves only at the running-xacts
        records PostgreSQL logs every 15 s or at a checkpoint: log one and let the worker pass
        it, so that its next start reads the same WAL as a slot created now."""
        here = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        conn.execute("CHECKPOINT")
        wait_for(lambda: conn.execute("SELECT restart_lsn >= %s FROM pg_replication_slots "
                                      "WHERE slot_name = 'bench_e2e'", (here,)).fetchone()[0],
                 60, "the worker's restart point to pass the checkpoint")
        conn.execute("SELECT bw_stop('bench_e2e')")

    def wait_acknowledged(lsn):
        wait_for(lambda: slot_confirmed(conn, "bench_e2e", lsn), 600,
                 "Kafka to acknowledge the transaction")

    rates = {title: {} for title in workloads}
    cpu_rates = {title: {} for title in workloads}
    backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]

    def note(title, name, rate, into=rates):
        into[title][name] = max(rate, into[title].get(name, 0.0))

    def note_cpu(title, name, rate):
        note(title, name, rate, cpu_rates)

    arm_settings = []
    for run, (arm, settings) in enumerate(arms):
        prefix = f"bench_e2e_{stamp}_{run}."
        settings = {**WORKER_DEFAULTS, **settings, "topic_prefix": prefix}
        topic_prefix = prefix + "public." if settings["envelope"] == "debezium" else prefix
        create_topics(env["BW_KAFKA_BOOTSTRAP"], [f"{topic_prefix}bench_{i}" for i in range(3)])
        arm_settings.append((arm, settings))
    for title, (workload, rows) in workloads.items():
        for arm, settings in arm_settings:
            for setting, value in settings.items():
                conn.execute(f"ALTER DATABASE bench_e2e SET bottledwater.{setting} = '{value}'")
            for i in range(3):
                conn.execute(f"TRUNCATE bench_{i}")
            start_worker()  # in this arm's format
            stop_worker_with_restart_point_here()
            conn.execute("SELECT pg_create_logical_replication_slot('b_e2e_pgoutput', 'pgoutput')")
            workload(conn, rows)
            commit_end = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
            start = time.perf_counter()
            start_worker()
            worker = conn.execute("SELECT pid FROM bw_status() WHERE database = 'bench_e2e' "
                                  "AND pid IS NOT NULL").fetchone()[0]
            wait_acknowledged(commit_end)
            note(title, f"bottledwater_worker_{arm}_catch_up", rows / (time.perf_counter() - start))
            # Every thread of the worker since it started: the producer's too.
            note_cpu(title, f"bottledwater_worker_{arm}_catch_up",
                     rows / thread_cpu_seconds(worker))
            backend_cpu = thread_cpu_seconds(backend)
            start = time.perf_counter()
            conn.execute("SELECT count(*) FROM pg_logical_slot_get_binary_changes("
                         "'b_e2e_pgoutput', NULL, NULL, 'proto_version', '1', "
                         "'publication_names', 'bench_pub')").fetchone()
            note(title, f"pgoutput_{arm}_pass", rows / (time.perf_counter() - start))
            note_cpu(title, f"pgoutput_{arm}_pass",
                     rows / (thread_cpu_seconds(backend) - backend_cpu))
            conn.execute("SELECT pg_drop_replication_slot('b_e2e_pgoutput')")
            if workload is one_big_transaction:
                conn.execute("TRUNCATE bench_0")
                workload(conn, rows)  # autocommit: returns once committed
                start = time.perf_counter()
                wait_acknowledged(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])
                note(title, f"bottledwater_worker_{arm}_live", rows / (time.perf_counter() - start))
            conn.execute("SELECT bw_stop('bench_e2e')")
    conn.execute("SELECT bw_drop_slot('bench_e2e')").fetchall()
    conn.close()
    kafka_delete_topics_with_prefix(env["BW_KAFKA_BOOTSTRAP"], f"bench_e2e_{stamp}_")
    # pgoutput first: the reference each ratio is taken against (the mean of its passes).
    for table in (rates, cpu_rates):
        for title, r in table.items():
            passes = [v for k, v in r.items() if k.startswith("pgoutput_")]
            table[title] = {"pgoutput": sum(passes) / len(passes), **r}
    return rates, cpu_rates


def delivery_comparison(env, workloads, quick):
    modes = ("at_least_once", "exactly_once")
    arms = [(f"json_{mode}", {"output_format": "json", "delivery": mode})
            for _ in range(2) for mode in modes]
    runs, _ = worker_end_to_end(env, workloads, arms)
    with connect(env, "bench_e2e") as conn:  # left with the extension by the run
        info = machine(conn)
    result = {"when": now_utc(), "quick": quick, "machine": info, "runs": runs}
    lines = header("bottledwater delivery modes, end to end", result)
    lines += ["Each mode ran twice, interleaved with the other (the machine is shared); the "
              "better pass counts. exactly_once: to the Kafka commit that holds the last "
              "transaction.", ""]
    rows = []
    for title, rates in runs.items():
        for kind in ("catch_up", "live"):
            alo = rates.get(f"bottledwater_worker_json_at_least_once_{kind}")
            eos = rates.get(f"bottledwater_worker_json_exactly_once_{kind}")
            if alo and eos:
                rows.append((title, kind, f"{alo:,.0f}", f"{eos:,.0f}", f"{eos / alo:.2f}"))
    lines += table(("workload", "run", "at_least_once rows/s", "exactly_once rows/s",
                    "exactly_once / at_least_once"), rows)
    return write_results("delivery-throughput", result, "\n".join(lines))


def markdown(result):
    lines = [f"# bottledwater benchmark, {result['when']}", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in result["machine"].items()), "",
             "Load average at the start: "
             + ", ".join(f"{x:.2f}" for x in result.get("load_average", ())), ""]
    for title, rates in {**result["runs"], **result.get("cpu", {})}.items():
        base = rates["pgoutput"]
        unit = "rows per CPU-second" if title.endswith("CPU-second") else "rows/s"
        lines += [f"## {title}", "", f"| decoder | {unit} | ratio to pgoutput |",
                  "| --- | --- | --- |"]
        lines += [f"| {name} | {rate:,.0f} | {rate / base:.2f} |" for name, rate in rates.items()]
        for feature, ratios in FEATURE_RATIOS:
            found = [(name, rates[name] / rates[without]) for name, without in ratios.items()
                     if name in rates and without in rates]
            if found:
                lines += ["", f"{feature} (same format, same run): "
                          + ", ".join(f"{name} {ratio:.2f}" for name, ratio in found)]
        if title.endswith("rows per CPU-second"):
            lines += ["", "CPU time, not the clock: on a machine whose CPUs are shared (with the "
                      "Kafka broker, with other work), the clock counts time spent waiting for a "
                      "CPU; CPU time counts the work each decoder did."]
        elif title.startswith("end to end"):
            lines += ["", "pgoutput_<format>_pass: pg_logical_slot_get_binary_changes over the WAL "
                      "the worker's standing-start (catch_up) run of that format had just sent; "
                      "pgoutput: their mean, the reference. live: decoded while written, timed "
                      "from the commit."]
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows")
    parser.add_argument("--no-worker", action="store_true", help="skip the end-to-end run")
    parser.add_argument("--delivery", action="store_true",
                        help="end to end only, exactly_once against at_least_once (see above)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    big, small = 1_000_000 // scale, 200_000 // scale
    env = dev_env()
    load = os.getloadavg()
    workloads = {f"one transaction of {big:,} rows": (one_big_transaction, big),
                 f"{small:,} rows in transactions of 1-10 rows": (small_transactions, small)}
    if args.delivery:
        print(delivery_comparison(env, workloads, args.quick))
        return

    runs, cpu = {}, {}
    conn = fresh_database(env, "bench_decode")
    create_tables(conn, 3)
    runs[f"decoding: one transaction of {big:,} rows"] = decode_rates(conn, one_big_transaction, big)
    runs[f"decoding: {small:,} rows in transactions of 1-10 rows"] = decode_rates(
        conn, small_transactions, small)
    info = machine(conn)
    conn.close()
    if not args.no_worker:
        rates, cpu_rates = worker_end_to_end(env, workloads, WORKER_ARMS)
        runs.update({f"end to end, {title}, to Kafka acknowledgement": r
                     for title, r in rates.items()})
        cpu = {f"end to end, {title}, rows per CPU-second": r for title, r in cpu_rates.items()}

    result = {"when": now_utc(), "quick": args.quick, "load_average": load, "machine": info,
              "runs": runs, "cpu": cpu}
    print(write_results("throughput", result, markdown(result)))


if __name__ == "__main__":
    main()
