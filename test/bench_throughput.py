"""End-to-end throughput of a 1M-row insert through the worker (insert start → last message
acknowledged by Kafka), next to pg_logical_slot_get_binary_changes with pgoutput decoding the same
transaction, measured in one run on the dev environment.

Run: source .dev-env/env.sh && /var/cache/bottledwater/venv/bin/python test/bench_throughput.py [rows]
"""

import os
import sys
import time
import uuid

import psycopg

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000


def connect(dbname):
    return psycopg.connect(host=os.environ["PGHOST"], port=os.environ["PGPORT"],
                           user=os.environ["PGUSER"], dbname=dbname, autocommit=True)


def main():
    tag = uuid.uuid4().hex[:8]
    name = f"bw_bench_{tag}"
    admin = connect(os.environ["PGDATABASE"])
    admin.execute(f"CREATE DATABASE {name}")
    for setting, value in (("output_format", "json"), ("slot_name", f"bwb_{tag}"),
                           ("topic_prefix", f"bench_{tag}.")):
        admin.execute(f"ALTER DATABASE {name} SET bottledwater.{setting} = '{value}'")
    db = connect(name)
    try:
        db.execute("CREATE EXTENSION bottledwater")
        db.execute("CREATE TABLE t (id int primary key, v text, n numeric, at timestamptz)")
        db.execute("CREATE PUBLICATION bench FOR TABLE t")
        db.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (f"pgo_{tag}",))
        db.execute("SELECT bw_start(%s)", (name,))

        start = time.monotonic()
        db.execute("INSERT INTO t SELECT g, 'row ' || g, g * 1.5, now() "
                   "FROM generate_series(1, %s) g", (ROWS,))
        inserted = time.monotonic()
        while True:
            acked = db.execute("SELECT messages_acknowledged FROM bw_status() "
                               "WHERE database = %s", (name,)).fetchone()[0]
            if acked >= ROWS:
                break
            time.sleep(0.05)
        done = time.monotonic()

        pgo_start = time.monotonic()
        changes = db.execute(
            "SELECT count(*) FROM pg_logical_slot_get_binary_changes(%s, NULL, NULL, "
            "'proto_version', '1', 'publication_names', 'bench')", (f"pgo_{tag}",)).fetchone()[0]
        pgo = time.monotonic() - pgo_start

        print(f"rows: {ROWS}")
        print(f"INSERT: {inserted - start:.2f}s")
        print(f"bottledwater, insert start to last Kafka acknowledgement: {done - start:.2f}s "
              f"= {ROWS / (done - start):,.0f} rows/s "
              f"(after the insert committed: {done - inserted:.2f}s = "
              f"{ROWS / (done - inserted):,.0f} rows/s)")
        print(f"pgoutput via pg_logical_slot_get_binary_changes: {pgo:.2f}s for {changes} "
              f"messages = {ROWS / pgo:,.0f} rows/s")
    finally:
        db.execute("SELECT bw_stop(%s)", (name,))
        db.close()
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
        admin.close()


if __name__ == "__main__":
    main()
