"""A PostgreSQL cluster of a test's own, for server settings the shared dev cluster cannot have
(no preloading, another library preloaded first). Runs as postgres in a temporary directory,
on a free loopback port, and is removed after."""

import contextlib
import shutil
import tempfile
from pathlib import Path

import psycopg

from conftest import as_postgres, free_port, has_setting


class Cluster:
    def __init__(self, root, port):
        self.root, self.data, self.port = root, root / "data", port

    def connect(self, dbname="postgres"):
        return psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=dbname,
                               autocommit=True)


@contextlib.contextmanager
def throwaway_cluster(pg_bin, prefix, settings):
    """A started cluster of the server in `pg_bin` whose postgresql.conf ends with `settings`
    (lines of text), with bottledwater in output_plugin_libraries where the server has that."""
    pg_bin = Path(pg_bin)
    root = Path(tempfile.mkdtemp(prefix=prefix))
    shutil.chown(root, "postgres")
    cluster = Cluster(root, free_port())
    as_postgres(pg_bin / "initdb", "-D", cluster.data, "-A", "trust", "-U", "postgres")
    with open(cluster.data / "postgresql.conf", "a") as conf:
        conf.write(f"port = {cluster.port}\nlisten_addresses = '127.0.0.1'\n"
                   f"unix_socket_directories = '{root}'\n")
        if has_setting(pg_bin, "output_plugin_libraries"):
            conf.write("output_plugin_libraries = 'pgoutput, test_decoding, bottledwater'\n")
        conf.write(f"{settings}\n")
    as_postgres(pg_bin / "pg_ctl", "-D", cluster.data, "-l", root / "log", "-w", "start")
    try:
        yield cluster
    finally:
        as_postgres(pg_bin / "pg_ctl", "-D", cluster.data, "-m", "immediate", "stop")
        shutil.rmtree(root)
