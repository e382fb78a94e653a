"""Shared helpers of the benchmarks that drive the worker (snapshot, overhead, latency, memory):
the dev environment, a fresh database with a slot and topic prefix of its own, bw_status, Kafka
message counts, machine description and result files."""

import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DEV_ENV = REPO / "scripts" / "dev-env"
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def now_utc():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def dev_env():
    """The variables of the running dev environment (BW_DEV_DIR, as scripts/dev-env, or .dev-env)."""
    state = os.environ.get("BW_DEV_DIR", str(REPO / ".dev-env"))
    out = subprocess.run(
        ["bash", "-c", f'set -a; source "{state}/env.sh"; env -0'],
        check=True, capture_output=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def connect(env, dbname, **kwargs):
    return psycopg.connect(host=env["PGHOST"], port=env["PGPORT"], user=env["PGUSER"],
                           dbname=dbname, autocommit=True, **kwargs)


def fresh_database(env, name):
    """Database `name` created anew (its slots dropped first), with the extension."""
    with connect(env, env["PGDATABASE"]) as admin:
        for slot, in admin.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE database = %s", (name,)):
            admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    conn = connect(env, name)
    conn.execute("CREATE EXTENSION bottledwater")
    return conn


def wait_for(predicate, timeout, what, interval=0.02):
    """Polls `predicate` until it returns something true, which is returned; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def status(conn, dbname):
    """bw_status()'s row of `dbname` (the running worker's first) as {column: value}."""
    cur = conn.execute("SELECT * FROM bw_status() WHERE database = %s ORDER BY pid IS NULL "
                       "LIMIT 1", (dbname,))
    row = cur.fetchone()
    return dict(zip((c.name for c in cur.description), row)) if row else None


def cpu_seconds(pid):
    """User + system CPU seconds a process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid):
    """CPU seconds the live threads of a process have used so far, to the nanosecond (the
    scheduler's count; /proc/<pid>/stat counts clock ticks, too coarse for a run of a second)."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError):  # a thread that has just exited
            total += int(stat.read_text().split()[0])
    return total / 1e9


def kafka_broker_pid(env):
    return int(Path(env["BW_KAFKA_PIDFILE"]).read_text())


def current_lsn(conn):
    return conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]


def slot_confirmed(conn, slot_name, lsn):
    """True once the replication slot's confirmed position has reached `lsn`."""
    return conn.execute("SELECT confirmed_flush_lsn >= %s FROM pg_replication_slots "
                        "WHERE slot_name = %s", (lsn, slot_name)).fetchone() == (True,)


def caught_up(conn, dbname, lsn):
    """True once the worker of `dbname` confirmed `lsn` (it confirms only what Kafka acknowledged)."""
    return conn.execute("SELECT confirmed_lsn >= %s FROM bw_status() WHERE database = %s "
                        "AND pid IS NOT NULL", (lsn, dbname)).fetchone() == (True,)


class BenchDatabase(contextlib.AbstractContextManager):
    """A fresh database `name` whose worker has a slot of its own (named after the database) and a
    topic prefix unique to this run, so neither collides with other benchmarks, tests or runs.
    On exit, even after a failure: bw_stop, bw_drop_slot, the topics are deleted."""

    def __init__(self, env, name, settings=None):
        self.env, self.name = env, name
        self.slot = name
        self.prefix = f"{name}_{int(time.time())}."
        self.admin = connect(env, env["PGDATABASE"])
        for slot, in self.admin.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE database = %s OR slot_name = %s",
                (name, self.slot)).fetchall():
            self.admin.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        self.admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.admin.execute(f"CREATE DATABASE {name}")
        for setting, value in {"slot_name": self.slot, "topic_prefix": self.prefix,
                               **(settings or {})}.items():
            self.admin.execute(f"ALTER DATABASE {name} SET bottledwater.{setting} = '{value}'")
        self.conn = connect(env, name)
        self.conn.execute("CREATE EXTENSION bottledwater")

    def topic(self, table):
        return self.prefix + table

    def set_prefix(self, prefix):
        """Takes effect at the worker's next start."""
        self.prefix = prefix
        self.admin.execute(f"ALTER DATABASE {self.name} SET bottledwater.topic_prefix = '{prefix}'")

    def start(self):
        return self.conn.execute("SELECT bw_start(%s)", (self.name,)).fetchone()[0]

    def stop(self):
        self.conn.execute("SELECT bw_stop(%s)", (self.name,))
        wait_for(lambda: (status(self.conn, self.name) or {}).get("pid") is None, 60,
                 f"the worker of {self.name} to stop")

    def status(self):
        return status(self.conn, self.name)

    def wait_streaming(self, timeout=120):
        def check():
            s = self.status()
            if s and s["state"] == "error":
                raise RuntimeError(f"worker of {self.name} failed: {s['last_error']}")
            return s if s and s["state"] == "streaming" else None
        return wait_for(check, timeout, f"the worker of {self.name} to stream")

    def wait_caught_up(self, lsn, timeout=600):
        wait_for(lambda: caught_up(self.conn, self.name, lsn), timeout,
                 f"the worker of {self.name} to confirm {lsn}")

    def drop_slot(self):
        self.conn.execute("SELECT bw_drop_slot(%s)", (self.name,)).fetchall()

    def delete_topics(self):
        kafka_delete_topics_with_prefix(self.env["BW_KAFKA_BOOTSTRAP"], self.name + "_")

    def _reconnect(self):
        """After a server crash-restart (e.g. a worker killed by a fault test sharing the
        cluster) the connections are gone: reopen them, waiting for recovery, for the cleanup."""
        def attempt():
            try:
                if self.admin.closed or self.admin.broken:
                    self.admin = connect(self.env, self.env["PGDATABASE"])
                if self.conn.closed or self.conn.broken:
                    self.conn = connect(self.env, self.name)
                self.conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                return False
        wait_for(attempt, 60, "PostgreSQL to accept connections again", interval=1.0)

    def close(self):
        errors = []
        try:
            self._reconnect()
        except Exception as e:
            errors.append(f"reconnect: {e}")
        for step in (self.stop, self.drop_slot, self.delete_topics):
            try:
                step()
            except Exception as e:  # report every cleanup failure, and still run the rest
                errors.append(f"{step.__name__}: {e}")
        self.conn.close()
        try:
            self.admin.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        except Exception as e:
            errors.append(f"drop database: {e}")
        self.admin.close()
        for e in errors:
            print(f"cleanup of {self.name}: {e}")

    def __exit__(self, *exc):
        self.close()


def write_small_transactions(conn, rows, tables, first_id):
    """`rows` rows in transactions of 1-10 rows (sizes in a fixed pseudo-random order), into
    bench_0 .. bench_<tables - 1> in turn (id bigint PRIMARY KEY, n int, t text, at timestamptz,
    amount numeric), ids from `first_id` on. A procedure commits inside its loop, so the client's
    round trips are not what is measured."""
    conn.execute("""
        CREATE OR REPLACE PROCEDURE small_transactions(total int, tables int, first_id bigint)
        LANGUAGE plpgsql AS $$
        DECLARE done bigint := 0; size int; t int := 0;
        BEGIN
            WHILE done < total LOOP
                size := least(1 + (done * 7919) % 10, total - done);
                EXECUTE format('INSERT INTO bench_%s SELECT i, i %% 1000, ''row '' || i, now(), '
                               'i / 100.0 FROM generate_series($1, $2) i', t % tables)
                    USING first_id + done, first_id + done + size - 1;
                COMMIT;
                done := done + size; t := t + 1;
            END LOOP;
        END $$""")
    conn.execute(f"CALL small_transactions({int(rows)}, {int(tables)}, {int(first_id)})")


# --- Kafka -----------------------------------------------------------------------------------

def watermark_consumer(bootstrap):
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "bw-bench-watermarks",
                     "enable.auto.commit": False, "log_level": 0})


def topic_messages(consumer, topic, timeout=5.0):
    """Messages in `topic` (high - low watermark over its partitions); 0 if it does not exist."""
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        return 0
    total = 0
    for p in meta.partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
        total += high - low
    return total


def create_topics(bootstrap, topics):
    """Creates single-partition topics before a measurement, so that Kafka's creation of a topic
    on its first message (about a second each) is not part of what is timed."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
        future.result()


def kafka_delete_topics_with_prefix(bootstrap, prefix):
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    topics = [t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)]
    if topics:
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            try:
                future.result()
            except KafkaException:
                pass


# --- results ---------------------------------------------------------------------------------

def machine(conn):
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pgbench = subprocess.run([str(PG_BIN / "pgbench"), "--version"], capture_output=True,
                             text=True).stdout.strip()
    import confluent_kafka
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": conn.execute("SHOW server_version").fetchone()[0],
        "bottledwater": conn.execute("SELECT bw_version()").fetchone()[0],
        "librdkafka_client": confluent_kafka.libversion()[0],
        "pgbench": pgbench,
    }


def write_results(name, result, markdown):
    """bench/results/<timestamp>-<name>.json and .md; returns the Markdown."""
    RESULTS.mkdir(exist_ok=True)
    stamp = result["when"].replace(":", "").replace("+0000", "Z")
    (RESULTS / f"{stamp}-{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (RESULTS / f"{stamp}-{name}.md").write_text(markdown + "\n")
    return markdown


def header(title, result):
    lines = [f"# {title}, {result['when']}{' (--quick)' if result.get('quick') else ''}", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in result["machine"].items()), ""]
    return lines


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines
