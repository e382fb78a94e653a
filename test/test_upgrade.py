"""Upgrading bottledwater in place under a streaming worker, as a user does: `make install` of a
new library while the server runs, ALTER EXTENSION bottledwater UPDATE from the oldest version,
then a restart that loads the new library. The worker resumes from its slot and nothing is lost.
(The SQL objects an update leaves are compared with a fresh install by pg_regress, sql/upgrade.sql.)
"""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import DEV_ENV, REPO
from test_worker_faults import (Writer, fault_db, final_state_in_kafka, reconnect,  # noqa: F401
                                table_state, wait_streaming, worker_row)


def mapped_library(pid):
    """The bottledwater.so the process has mapped, as /proc shows it ('... (deleted)' once the
    file was replaced on disk)."""
    with open(f"/proc/{pid}/maps") as maps:
        paths = {line.split(None, 5)[5].strip() for line in maps
                 if len(line.split(None, 5)) == 6 and "bottledwater.so" in line}
    assert len(paths) == 1, paths
    return paths.pop()


def oldest_version():
    """The oldest version this tree has an install script for (sql/bottledwater--X.sql)."""
    scripts = (REPO / "sql").glob("bottledwater--*.sql")
    versions = [p.stem.split("--")[1] for p in scripts if p.stem.count("--") == 1]
    return min(versions, key=lambda v: tuple(map(int, v.split("."))))


def reinstall_library(pkglibdir):
    """What `make install` does to the library: a new file in its place (install(1) unlinks the
    old one), while the running server keeps the old one mapped."""
    installed = Path(pkglibdir) / "bottledwater.so"
    with tempfile.TemporaryDirectory() as scratch:
        build = Path(scratch) / "bottledwater.so"
        shutil.copy2(installed, build)
        subprocess.run(["install", "-m", "755", build, installed], check=True)
    return installed


@pytest.mark.parametrize("fault_db", [oldest_version()], indirect=True)
def test_a_streaming_worker_survives_a_library_upgrade(fault_db, dev_env, consumer_factory):
    connect, name = fault_db["connect"], fault_db["name"]
    pkglibdir = subprocess.run([Path(dev_env["BW_PG_BIN"]) / "pg_config", "--pkglibdir"],
                               check=True, capture_output=True, text=True).stdout.strip()
    # Small transactions before, during and (if the machine is quick) after the restart.
    writer = Writer(connect, 6000)
    writer.start()
    while writer.done < 1000:
        time.sleep(0.05)
    old_pid = worker_row(connect(), name)[1]

    installed = reinstall_library(pkglibdir)
    assert mapped_library(old_pid) == f"{installed} (deleted)"
    # The SQL surface is updated while the old library streams.
    conn = connect()
    conn.execute("ALTER EXTENSION bottledwater UPDATE")
    version, default = conn.execute(
        "SELECT e.extversion, a.default_version FROM pg_extension e "
        "JOIN pg_available_extensions a ON a.name = e.extname "
        "WHERE e.extname = 'bottledwater'").fetchone()
    assert version == default != oldest_version()
    conn.close()
    assert worker_row(connect(), name)[1] == old_pid

    # The restart loads the new library; the worker comes back by itself and resumes from its slot.
    subprocess.run([DEV_ENV, "restart-pg"], check=True)
    new_pid = wait_streaming(connect, name, not_pid=old_pid)
    assert mapped_library(new_pid) == str(installed)
    writer.join(timeout=300)
    assert not writer.is_alive()
    # The new library streams what comes after the restart, too.
    reconnect(connect).execute("UPDATE t SET v = v + 10 WHERE id <= 100")
    final_state_in_kafka(consumer_factory, fault_db["prefix"] + "t", table_state(connect))
