"""bottledwater against its peer, the Debezium PostgreSQL connector, side by side in one run: same
machine, same PostgreSQL, same Kafka broker, same rows (id bigint primary key, int, text,
timestamptz, numeric(12,2)), reported as bottledwater's rate over Debezium's.

Debezium runs in Kafka Connect standalone (the broker's Kafka version, JSON converter without
schemas, pgoutput, its own slot and publication, snapshot mode initial), fetched with Maven from
scripts/java/connect/pom.xml (scripts/python/kafka_connect.py). Both are run with their default
producer settings. Messages are counted with the topics' watermark offsets.

1. Snapshot: a table of N rows (1M; 100k with --quick) present before either starts. bottledwater's
   consistent snapshot (its default) from bw_start until bw_status says streaming with every
   snapshot row done and N messages are in its topic; Debezium from the connector's creation (the
   Connect JVM is already up) until N messages are in its topic. One after the other, so neither
   competes with the other for CPU.
2. Streaming, one transaction of N rows, timed from its commit until N more messages are in each
   system's topic:
   - together: both streaming the same transaction at once (as a user running both would);
   - alone: each on its own transaction while the other is idle (Debezium's connector stopped,
     bottledwater stopped), so that neither is slowed by the other on a small machine.
3. Small transactions: S rows (200k; 20k with --quick) in transactions of 1-10 rows, written
   while both are stopped, then each catching up on them alone from a standing start
   (bottledwater from bw_start, Debezium from the connector's resume) until S more messages are
   in its topic: Debezium's cost per event and per transaction, which is what users feel.

If Debezium cannot be fetched or does not run, the error is printed and recorded with whatever
bottledwater figures were measured, and the script exits non-zero; no Debezium figure is invented.
"""

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts" / "python"))
from kafka_connect import (PORT_OFFSET_BENCH, ConnectStandalone, PeerError,  # noqa: E402
                           connect_port, fetch_connect, jar_version, java_version)
from _common import connect, dev_env, write_small_transactions  # noqa: E402
from _common import machine as common_machine  # noqa: E402
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BW_CACHE = Path(os.environ.get("BW_CACHE", "/var/cache/bottledwater"))
DEV_DIR = Path(os.environ.get("BW_DEV_DIR", REPO / ".dev-env"))
DB = "bench_debezium"
CONNECTOR = "bench-debezium"


def log(msg):
    print(f"debezium: {msg}", flush=True)


# --- counting messages ------------------------------------------------------------------------

class Counter:
    """Messages in a topic: the sum of its partitions' high watermarks (nothing is compacted or
    deleted in these fresh topics)."""

    def __init__(self, bootstrap):
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-debezium",
                                  "enable.auto.commit": False, "log_level": 0})

    def count(self, topic):
        try:
            meta = self.consumer.list_topics(topic, timeout=5).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                return 0
            return sum(self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1]
                       for p in meta.partitions)
        except KafkaException:
            return 0

    def last_message(self, topic):
        """The value of the topic's last message (partition 0), as text: proof of what was counted."""
        low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
        if high <= low:
            return None
        self.consumer.assign([TopicPartition(topic, 0, high - 1)])
        try:
            msg = self.consumer.poll(10)
            if msg is None or msg.error() or msg.value() is None:
                return None
            return msg.value().decode(errors="replace")
        finally:
            self.consumer.unassign()

    def close(self):
        self.consumer.close()


def wait_count(counter, topic, target, timeout, what, check=None, interval=0.02):
    """Seconds (from the call) until `topic` holds `target` messages."""
    start = time.perf_counter()
    last_check = 0.0
    while True:
        if counter.count(topic) >= target:
            return time.perf_counter() - start
        now = time.perf_counter()
        if now - start > timeout:
            raise TimeoutError(f"{what}: {counter.count(topic)} of {target} messages in {topic} "
                               f"after {timeout} s")
        if check is not None and now - last_check > 1.0:
            check()
            last_check = now
        time.sleep(interval)


def wait_stable(counter, topic, quiet=2.0, timeout=300):
    """The topic's count once it has not moved for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = counter.count(topic), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = counter.count(topic)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return now
    raise TimeoutError(f"{topic} still growing after {timeout} s")


def wait_sql(conn, query, params, what, timeout, check=None):
    deadline = time.monotonic() + timeout
    while not conn.execute(query, params).fetchone()[0]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout} s")
        if check is not None:
            check()
        time.sleep(0.05)


# --- the benchmark ----------------------------------------------------------------------------

def insert_rows(conn, first, rows):
    """One transaction (autocommit: returns once committed)."""
    conn.execute(f"INSERT INTO bench_0 SELECT i, i % 1000, 'row ' || i, now(), i / 100.0 "
                 f"FROM generate_series({first}, {first + rows - 1}) i")


def bw_check(conn):
    # The running worker's row first: rows of earlier workers stay until the server restarts.
    row = conn.execute("SELECT state, last_error FROM bw_status() WHERE database = %s "
                       "ORDER BY pid IS NULL LIMIT 1", (DB,)).fetchone()
    if row and row[0] in ("error", "restarting"):
        raise RuntimeError(f"the bottledwater worker stopped: {row[1]}")


def machine(conn):
    return {**common_machine(conn), "java": java_version()}


def run(env, rows, small_rows, result, tag):
    bw_slot, dbz_slot, pub = f"bw_{tag}", f"dbz_{tag}", f"dbz_pub_{tag}"
    bw_topic, dbz_prefix = f"bwbench_{tag}.bench_0", f"dbzbench_{tag}"
    dbz_topic = f"{dbz_prefix}.public.bench_0"
    result["topics"] = {"bottledwater": bw_topic, "debezium": dbz_topic}
    cleanup = []  # run in reverse, whatever happens
    counter = Counter(env["BW_KAFKA_BOOTSTRAP"])
    cleanup.append(("closing the Kafka consumer", counter.close))
    admin_conn = connect(env, env["PGDATABASE"])
    cleanup.append(("closing the admin connection", admin_conn.close))

    def bw_stop(drop_slot=False):
        with connect(env, DB) as c:
            if c.execute("SELECT 1 FROM pg_extension WHERE extname = 'bottledwater'").fetchone():
                c.execute("SELECT bw_stop(%s)", (DB,))
                if drop_slot:
                    c.execute("SELECT bw_drop_slot(%s)", (DB,))

    def drop_database():
        with connect(env, env["PGDATABASE"]) as c:
            if c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone():
                bw_stop(drop_slot=True)
            for slot, active_pid in c.execute(
                    "SELECT slot_name, active_pid FROM pg_replication_slots WHERE database = %s",
                    (DB,)).fetchall():
                if active_pid:
                    c.execute("SELECT pg_terminate_backend(%s)", (active_pid,))
                    wait_sql(c, "SELECT NOT active FROM pg_replication_slots WHERE slot_name = %s",
                             (slot,), f"slot {slot} still in use", 30)
                c.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            c.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")

    def delete_topics():
        admin = AdminClient({"bootstrap.servers": env["BW_KAFKA_BOOTSTRAP"], "log_level": 0})
        existing = admin.list_topics(timeout=10).topics
        ours = [t for t in existing if t.startswith((f"bwbench_{tag}.", f"dbzbench_{tag}."))]
        for future in admin.delete_topics(ours, operation_timeout=30).values() if ours else []:
            future.result()

    try:
        # A database of its own, with the rows both systems snapshot.
        drop_database()
        admin_conn.execute(f"CREATE DATABASE {DB}")
        cleanup.append((f"dropping database {DB} and its slots", drop_database))
        cleanup.append(("deleting the benchmark's topics", delete_topics))
        conn = connect(env, DB)
        cleanup.append(("closing the benchmark connection", conn.close))
        conn.execute("CREATE EXTENSION bottledwater")
        result["machine"] = machine(conn)
        conn.execute("CREATE TABLE bench_0 (id bigint PRIMARY KEY, n int, t text, "
                     "at timestamptz, amount numeric(12,2))")
        insert_rows(conn, 1, rows)
        conn.execute("VACUUM ANALYZE bench_0")
        conn.execute(f"CREATE PUBLICATION {pub} FOR TABLE bench_0")
        # Slot names are cluster-wide, topics broker-wide: this run's own.
        conn.execute(f"ALTER DATABASE {DB} SET bottledwater.slot_name = '{bw_slot}'")
        conn.execute(f"ALTER DATABASE {DB} SET bottledwater.topic_prefix = 'bwbench_{tag}.'")
        next_id = rows + 1

        # Kafka Connect comes up (idle) while nothing is measured.
        workdir = Path(tempfile.mkdtemp(prefix="bw-debezium-"))
        def keep_log():  # the last run's Connect log stays in .dev-env for a look afterwards
            if (workdir / "connect.log").exists():
                # A broker that went away mid-run (another user of the dev environment stopping
                # Kafka) makes the figures meaningless: say so in the result.
                outages = sum("could not be established" in line for line in
                              (workdir / "connect.log").read_text(errors="replace").splitlines())
                if outages:
                    result.setdefault("warnings", []).append(
                        f"Kafka Connect lost the broker {outages} times during the run: "
                        "the figures are not reliable")
                shutil.copy(workdir / "connect.log", DEV_DIR / "debezium-connect.log")
            shutil.rmtree(workdir, ignore_errors=True)
        cleanup.append(("removing Connect's work dir", keep_log))
        dbz = None
        try:
            libs = fetch_connect()
            result["versions"]["kafka_connect"] = jar_version(libs, "connect-runtime")
            result["versions"]["debezium"] = jar_version(libs, "debezium-connector-postgres")
            dbz = ConnectStandalone(env["BW_KAFKA_BOOTSTRAP"], workdir, libs,
                                    port=connect_port(env, PORT_OFFSET_BENCH))
            cleanup.append(("stopping Kafka Connect", dbz.stop))
            dbz.wait_ready()
        except PeerError as e:
            result["debezium_error"] = str(e)
            dbz = None

        snap = result["snapshot"] = {"rows": rows}
        # bottledwater's snapshot.
        streaming = ("SELECT count(*) = 1 FROM bw_status() WHERE database = %s AND "
                     "state = 'streaming' AND snapshot_rows_done >= snapshot_rows_total")
        start = time.perf_counter()
        conn.execute("SELECT bw_start(%s)", (DB,))
        cleanup.append(("stopping the bottledwater worker", bw_stop))
        wait_count(counter, bw_topic, rows, 900, "bottledwater's snapshot",
                   check=lambda: bw_check(conn))
        wait_sql(conn, streaming, (DB,), "bottledwater did not reach streaming", 300)
        seconds = time.perf_counter() - start
        snap["bottledwater_rows_per_s"] = rows / seconds
        snap["bottledwater_seconds"] = seconds
        log(f"bottledwater snapshot: {rows:,} rows in {seconds:.2f} s")

        if dbz is None:
            raise PeerError(result["debezium_error"])

        connector = {
            "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
            "tasks.max": "1",
            "database.hostname": env["PGHOST"], "database.port": env["PGPORT"],
            "database.user": env["PGUSER"], "database.password": "unused (trust)",
            "database.dbname": DB,
            "topic.prefix": dbz_prefix,
            "plugin.name": "pgoutput",
            "slot.name": dbz_slot,
            "publication.name": pub,
            "publication.autocreate.mode": "disabled",
            "table.include.list": "public.bench_0",
            "snapshot.mode": "initial",
        }
        result["debezium_config"] = connector
        start = time.perf_counter()
        dbz.create_connector(CONNECTOR, connector)
        check = lambda: dbz.check_connector(CONNECTOR)
        seconds = wait_count(counter, dbz_topic, rows, 1800, "Debezium's snapshot", check=check)
        seconds = time.perf_counter() - start
        snap["debezium_rows_per_s"] = rows / seconds
        snap["debezium_seconds"] = seconds
        snap["ratio"] = snap["bottledwater_rows_per_s"] / snap["debezium_rows_per_s"]
        log(f"Debezium snapshot: {rows:,} rows in {seconds:.2f} s")
        # Streaming has begun once Debezium's slot is read.
        slot_active = "SELECT coalesce(bool_or(active), false) FROM pg_replication_slots WHERE slot_name = %s"
        wait_sql(conn, slot_active, (dbz_slot,), "Debezium did not start streaming", 300,
                 check=check)

        # Streaming, both at once, one transaction.
        together = result["streaming_together"] = {"rows": rows}
        bw_base = wait_stable(counter, bw_topic)
        dbz_base = wait_stable(counter, dbz_topic)
        insert_rows(conn, next_id, rows)
        next_id += rows
        start = time.perf_counter()
        done = {}
        deadline = time.monotonic() + 1800
        last_check = 0.0
        while len(done) < 2:
            for name, topic, base in (("bottledwater", bw_topic, bw_base),
                                      ("debezium", dbz_topic, dbz_base)):
                if name not in done and counter.count(topic) >= base + rows:
                    done[name] = time.perf_counter() - start
            if time.monotonic() > deadline:
                raise TimeoutError(f"streaming together: only {sorted(done)} finished in 1800 s")
            if time.monotonic() - last_check > 1.0:
                check()
                bw_check(conn)
                last_check = time.monotonic()
            time.sleep(0.02)
        for name, seconds in done.items():
            together[f"{name}_rows_per_s"] = rows / seconds
            together[f"{name}_seconds"] = seconds
        together["ratio"] = together["bottledwater_rows_per_s"] / together["debezium_rows_per_s"]
        log(f"streaming together: bottledwater {done['bottledwater']:.2f} s, "
            f"Debezium {done['debezium']:.2f} s")

        # Streaming alone: bottledwater with Debezium paused.
        alone = result["streaming_alone"] = {"rows": rows}
        wait_stable(counter, dbz_topic)
        # Stopped, not paused: a paused source task keeps its replication connection open.
        dbz.request("PUT", f"/connectors/{CONNECTOR}/stop")
        slot_idle = "SELECT NOT coalesce(bool_or(active), false) FROM pg_replication_slots WHERE slot_name = %s"
        wait_sql(conn, slot_idle, (dbz_slot,),
                 "Debezium's slot still in use after the connector was stopped", 120, check=check)
        bw_base = wait_stable(counter, bw_topic)
        insert_rows(conn, next_id, rows)
        next_id += rows
        seconds = wait_count(counter, bw_topic, bw_base + rows, 1800, "bottledwater streaming alone",
                             check=lambda: bw_check(conn))
        alone["bottledwater_rows_per_s"] = rows / seconds
        alone["bottledwater_seconds"] = seconds
        log(f"streaming alone: bottledwater {seconds:.2f} s")

        # Then Debezium with bottledwater stopped: it first catches up on that transaction.
        conn.execute("SELECT bw_stop(%s)", (DB,))
        dbz_base = counter.count(dbz_topic)
        dbz.request("PUT", f"/connectors/{CONNECTOR}/resume")
        wait_count(counter, dbz_topic, dbz_base + rows, 1800, "Debezium catching up", check=check)
        wait_sql(conn, slot_active, (dbz_slot,), "Debezium did not resume streaming", 300,
                 check=check)
        dbz_base = wait_stable(counter, dbz_topic)
        insert_rows(conn, next_id, rows)
        next_id += rows
        seconds = wait_count(counter, dbz_topic, dbz_base + rows, 1800, "Debezium streaming alone",
                             check=check)
        alone["debezium_rows_per_s"] = rows / seconds
        alone["debezium_seconds"] = seconds
        alone["ratio"] = alone["bottledwater_rows_per_s"] / alone["debezium_rows_per_s"]
        log(f"streaming alone: Debezium {seconds:.2f} s")
        # Small transactions, each catching up on them alone (both stopped while they are
        # written, so both slots hold the same WAL).
        small = result["small_transactions"] = {"rows": small_rows}
        dbz.request("PUT", f"/connectors/{CONNECTOR}/stop")
        wait_sql(conn, slot_idle, (dbz_slot,),
                 "Debezium's slot still in use after the connector was stopped", 120, check=check)
        bw_base, dbz_base = counter.count(bw_topic), wait_stable(counter, dbz_topic)
        write_small_transactions(conn, small_rows, tables=1, first_id=next_id)
        next_id += small_rows
        start = time.perf_counter()
        conn.execute("SELECT bw_start(%s)", (DB,))
        wait_count(counter, bw_topic, bw_base + small_rows, 1800, "bottledwater catching up",
                   check=lambda: bw_check(conn))
        seconds = time.perf_counter() - start
        small["bottledwater_rows_per_s"] = small_rows / seconds
        small["bottledwater_seconds"] = seconds
        log(f"small transactions: bottledwater {seconds:.2f} s")
        conn.execute("SELECT bw_stop(%s)", (DB,))
        start = time.perf_counter()
        dbz.request("PUT", f"/connectors/{CONNECTOR}/resume")
        wait_count(counter, dbz_topic, dbz_base + small_rows, 1800, "Debezium catching up",
                   check=check)
        seconds = time.perf_counter() - start
        small["debezium_rows_per_s"] = small_rows / seconds
        small["debezium_seconds"] = seconds
        small["ratio"] = small["bottledwater_rows_per_s"] / small["debezium_rows_per_s"]
        log(f"small transactions: Debezium {seconds:.2f} s")
        # What was counted: the last row each system sent.
        result["last_messages"] = {"bottledwater": counter.last_message(bw_topic),
                                   "debezium": counter.last_message(dbz_topic)}
    finally:
        for what, step in reversed(cleanup):
            try:
                step()
            except Exception as e:  # cleanup goes on; the first error is the one that counts
                log(f"cleanup: {what} failed: {e}")


def markdown(result):
    lines = [f"# bottledwater vs Debezium, {result['when']}", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in result.get("machine", {}).items()),
             "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()), "",
             "Environment: " + ", ".join(f"{k} {v}" for k, v in result["environment"].items()),
             "",
             "Load average at the start: "
             + ", ".join(f"{x:.2f}" for x in result.get("load_average", ())), "",
             "Same PostgreSQL, same Kafka broker, same rows; both with default producer settings. "
             "Debezium: Kafka Connect standalone, JSON converter without schemas, pgoutput. "
             "Ratio = bottledwater's rows/s over Debezium's.", ""]
    sections = [
        ("snapshot", "Snapshot of a table of {rows:,} rows (each alone; bottledwater's "
         "consistent snapshot, Debezium's initial)"),
        ("streaming_together", "Streaming one {rows:,}-row transaction, both at once, from commit"),
        ("streaming_alone", "Streaming one {rows:,}-row transaction, each alone, from commit"),
        ("small_transactions", "{rows:,} rows in transactions of 1-10 rows, each catching up "
         "alone from a standing start"),
    ]
    for key, title in sections:
        r = result.get(key)
        if not r:
            continue
        lines += [f"## {title.format(rows=r['rows'])}", "",
                  "| system | seconds | rows/s |", "| --- | --- | --- |"]
        for name in ("bottledwater", "debezium"):
            if f"{name}_rows_per_s" in r:
                lines.append(f"| {name} | {r[f'{name}_seconds']:.2f} | "
                             f"{r[f'{name}_rows_per_s']:,.0f} |")
            else:
                lines.append(f"| {name} | not measured | |")
        lines += ["", f"**Ratio bottledwater / Debezium: {r['ratio']:.2f}**" if "ratio" in r
                  else "**No ratio: Debezium was not measured.**", ""]
    for warning in result.get("warnings", []):
        lines += [f"**Warning: {warning}**", ""]
    if result.get("error"):
        lines += ["## Error", "", "```", result["error"].rstrip(), "```", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100k rows instead of 1M")
    parser.add_argument("--rows", type=int, help="rows per measurement (overrides --quick)")
    parser.add_argument("--small-rows", type=int,
                        help="rows in small transactions (overrides --quick)")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    small_rows = args.small_rows or (20_000 if args.quick else 200_000)
    env = dev_env()
    when = dt.datetime.now(dt.timezone.utc)
    tag = when.strftime("%Y%m%d%H%M%S")
    result = {"when": when.isoformat(timespec="seconds"), "quick": args.quick, "rows": rows,
              "small_transaction_rows": small_rows, "load_average": os.getloadavg(),
              "versions": {}}
    kafka = sorted((BW_CACHE / "kafka" / "libs").glob("kafka-clients-*.jar"))
    if kafka:
        result["versions"]["kafka_broker"] = kafka[0].name[len("kafka-clients-"):-len(".jar")]
    result["environment"] = {"dev_dir": str(DEV_DIR), "postgresql": f"{env['PGHOST']}:{env['PGPORT']}",
                             "kafka": env["BW_KAFKA_BOOTSTRAP"]}
    status = 0
    try:
        run(env, rows, small_rows, result, tag)
    except Exception as e:
        status = 1
        result["error"] = (f"{type(e).__name__}: {e}" if isinstance(e, (PeerError, TimeoutError))
                           else traceback.format_exc())
    if "machine" in result:
        result["versions"]["postgresql"] = result["machine"]["postgresql"]
    RESULTS.mkdir(exist_ok=True)
    stamp = result["when"].replace(":", "").replace("+0000", "Z")
    (RESULTS / f"{stamp}-debezium.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{stamp}-debezium.md").write_text(markdown(result))
    print(markdown(result))
    if status:
        print(f"debezium: error: {result['error']}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
