"""The decoding cost of a publication row filter: bottledwater's rows/s decoding one table's WAL
through a publication without a filter, and through one whose filter every row passes (so both
send the same messages and the difference is evaluating the filter), plus, for context, one
that half the rows pass. The arms decode the same WAL through one slot, interleaved, several
rounds each; the ratio of their medians is the figure (absolute rates only give context).
"""

import argparse
import statistics
import time

from _common import dev_env, fresh_database, header, machine, now_utc, table, write_results

DB = "bench_row_filter"
ARMS = {
    # name: the publication's table clause
    "no filter": "TABLE f",
    "filter, every row passes": "TABLE f WHERE (n >= 0 AND t IS NOT NULL)",
    "filter, half the rows pass": "TABLE f WHERE (n % 2 = 0 AND t IS NOT NULL)",
}


def prepare(env, rows):
    conn = fresh_database(env, DB)
    conn.execute("CREATE TABLE f (id bigint PRIMARY KEY, n int, t text, at timestamptz, "
                 "amount numeric(12,2))")
    for i, clause in enumerate(ARMS.values()):
        conn.execute(f"CREATE PUBLICATION arm_{i} FOR {clause} WITH (publish = 'insert')")
    conn.execute("SELECT pg_create_logical_replication_slot('row_filter', 'bottledwater')")
    conn.execute(f"INSERT INTO f SELECT i, i % 1000, 'row ' || i, now(), i / 100.0 "
                 f"FROM generate_series(1, {rows}) i")
    return conn


def decode_seconds(conn, publication):
    start = time.perf_counter()
    conn.execute("SELECT count(*) FROM pg_logical_slot_peek_binary_changes('row_filter', NULL, "
                 "NULL, 'format', 'avro', 'publication_names', %s)", (publication,)).fetchone()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50k rows instead of 200k")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = 50_000 if args.quick else 200_000
    env = dev_env()
    conn = prepare(env, rows)
    rates = {name: [] for name in ARMS}
    for _ in range(args.rounds):  # interleaved, so a busy moment of the machine hits every arm
        for i, name in enumerate(ARMS):
            rates[name].append(rows / decode_seconds(conn, f"arm_{i}"))
    median = {name: statistics.median(r) for name, r in rates.items()}
    base = median["no filter"]
    result = {"when": now_utc(), "quick": args.quick, "rows": rows, "rounds": args.rounds,
              "machine": machine(conn), "rows_per_second": rates,
              "ratio_to_no_filter": {name: m / base for name, m in median.items()}}
    conn.execute("SELECT pg_drop_replication_slot('row_filter')")
    conn.close()
    lines = header("Row filter decoding cost", result)
    lines += [f"{rows} rows in one transaction, decoded (Avro) {args.rounds} times per arm, "
              "interleaved; rows/s are rows in the WAL per second of decoding.", ""]
    lines += table(["arm", "median rows/s", "ratio to no filter", "rounds (rows/s)"],
                   [[name, f"{median[name]:,.0f}", f"{median[name] / base:.2f}",
                     ", ".join(f"{r:,.0f}" for r in rates[name])] for name in ARMS])
    print(write_results("row_filter", result, "\n".join(lines)))


if __name__ == "__main__":
    main()
