"""A PostgreSQL cluster of a test's own, for server settings the shared dev cluster cannot have
(no preloading, another library preloaded first). Runs as postgres in a temporary directory,
on a free loopback port, and is removed after."""

import contextlib
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def as_postgres(*command):
    subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True,
                   capture_output=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    def __init__(self, root, port):
        self.root, self.data, self.port = root, root / "data", port

    def connect(self, dbname="postgres"):
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname,
                               autocommit=True)


@contextlib.contextmanager
def throwaway_cluster(prefix, settings):
    """A started cluster whose postgresql.conf ends with `settings` (lines of text)."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    shutil.chown(root, "postgres")
    cluster = Cluster(root, free_port())
    as_postgres(PG_BIN / "initdb", "-D", cluster.data, "-A", "trust", "-U", "postgres")
    with open(cluster.data / "postgresql.conf", "a") as conf:
        conf.write(f"port = {cluster.port}\nlisten_addresses = '127.0.0.1'\n"
                   f"unix_socket_directories = '{root}'\n{settings}\n")
    as_postgres(PG_BIN / "pg_ctl", "-D", cluster.data, "-l", root / "log", "-w", "start")
    try:
        yield cluster
    finally:
        as_postgres(PG_BIN / "pg_ctl", "-D", cluster.data, "-m", "immediate", "stop")
        shutil.rmtree(root)
