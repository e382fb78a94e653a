"""The first snapshot's rows under the debezium envelope carry Debezium's source.snapshot marks,
which the scan decides one row late (every case of the rule: test/unit/snapshot_marks_test.cpp):
"first" on the first table's first row, "first_in_data_collection" and
"last_in_data_collection" on each other table's first and last, "true" between, and "last" on
the very last row sent, here a single-row table's, since the last table is empty. Each row is
held back while the next is read, so the values must arrive whole: a table of many pages, a
TOASTed value, a partition's rows (converted to the root's column order). The bw.* headers say
"snapshot" as before, and a row streamed afterwards is "false"."""

import hashlib
import json
import time

from test_worker import bw_db, status, wait_for  # noqa: F401  (fixture)

MANY = 3000


def md5(n):
    return hashlib.md5(str(n).encode()).hexdigest()


def header(message, name):
    return dict(message.headers() or []).get(name, b"").decode()


def read_events(consumer, count, timeout=120.0):
    """The first `count` events per topic (the table's name), in each topic's order."""
    got = {}
    deadline = time.monotonic() + timeout
    while sum(len(m) for m in got.values()) < count:
        assert time.monotonic() < deadline, {t: len(m) for t, m in got.items()}
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        got.setdefault(msg.topic().rsplit(".", 1)[1], []).append(msg)
    return got


def test_first_snapshot_rows_carry_debeziums_marks(bw_db, pg, consumer_factory):  # noqa: F811
    db, name = bw_db["conn"], bw_db["name"]
    for setting, value in (("envelope", "debezium"), ("json_schemas", "off"),
                           ("message_headers", "on")):
        pg.execute(f"ALTER DATABASE {name} SET bottledwater.{setting} = '{value}'")
    # Scanned in name order: a_many, b_parted_1 (as b_parted), c_one, d_empty.
    db.execute("CREATE TABLE a_many (id int PRIMARY KEY, t text NOT NULL)")
    db.execute("ALTER TABLE a_many ALTER COLUMN t SET STORAGE EXTERNAL")
    db.execute(f"INSERT INTO a_many SELECT g, repeat(md5(g::text), 4) "
               f"FROM generate_series(1, {MANY}) g")
    db.execute(f"INSERT INTO a_many SELECT {MANY + 1}, string_agg(md5(g::text), '' ORDER BY g) "
               f"FROM generate_series(1, 2000) g")
    db.execute("CREATE TABLE b_parted (id int PRIMARY KEY, v text) PARTITION BY RANGE (id)")
    db.execute("CREATE TABLE b_parted_1 (v text, id int NOT NULL)")
    db.execute("ALTER TABLE b_parted ATTACH PARTITION b_parted_1 FOR VALUES FROM (0) TO (100)")
    db.execute("INSERT INTO b_parted VALUES (1, 'one'), (2, 'two')")
    db.execute("CREATE TABLE c_one (id int PRIMARY KEY)")
    db.execute("INSERT INTO c_one VALUES (1)")
    db.execute("CREATE TABLE d_empty (id int PRIMARY KEY)")
    logical = bw_db["prefix"].rstrip(".")
    consumer = consumer_factory([f"{logical}.public.{t}"
                                 for t in ("a_many", "b_parted", "c_one", "d_empty")])
    db.execute("SELECT bw_start(%s)", (name,))
    wait_for(lambda: status(db, name)["state"] == "streaming", 120, "streaming")
    db.execute("INSERT INTO d_empty VALUES (7)")

    got = read_events(consumer, MANY + 1 + 2 + 1 + 1)
    events = {table: [json.loads(m.value()) for m in messages]
              for table, messages in got.items()}
    marks = {table: [e["source"]["snapshot"] for e in evs] for table, evs in events.items()}
    assert marks == {
        "a_many": ["first"] + ["true"] * (MANY - 1) + ["last_in_data_collection"],
        "b_parted": ["first_in_data_collection", "last_in_data_collection"],
        "c_one": ["last"],
        "d_empty": ["false"],
    }
    assert [e["after"] for e in events["a_many"]] == (
        [{"id": n, "t": md5(n) * 4} for n in range(1, MANY + 1)] +
        [{"id": MANY + 1, "t": "".join(md5(g) for g in range(1, 2001))}])
    assert [e["after"] for e in events["b_parted"]] == [{"id": 1, "v": "one"},
                                                      {"id": 2, "v": "two"}]
    snapshot_rows = [m for t in ("a_many", "b_parted", "c_one") for m in got[t]]
    assert {json.loads(m.value())["op"] for m in snapshot_rows} == {"r"}
    assert {header(m, "bw.op") for m in snapshot_rows} == {"snapshot"}
    assert (events["d_empty"][0]["op"], header(got["d_empty"][0], "bw.op")) == ("c", "insert")
