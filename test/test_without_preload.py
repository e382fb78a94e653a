"""The extension on a server that does not preload it: the output plugin still works (it is loaded
on demand), and everything that needs the worker refuses with a hint naming the missing setting.
A throwaway PostgreSQL cluster of its own, since the dev cluster preloads bottledwater."""

import shutil
import tempfile
from pathlib import Path

import psycopg
import pytest

from conftest import as_postgres, free_port, has_setting


@pytest.fixture(scope="module")
def unpreloaded(dev_env):
    """A cluster of the dev environment's PostgreSQL, without bottledwater preloaded."""
    pg_bin = Path(dev_env["BW_PG_BIN"])
    root = Path(tempfile.mkdtemp(prefix="bw-nopreload-"))
    shutil.chown(root, "postgres")
    data, port = root / "data", free_port()
    as_postgres(pg_bin / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(f"port = {port}\nlisten_addresses = '127.0.0.1'\n"
                   f"unix_socket_directories = '{root}'\nwal_level = logical\n")
        if has_setting(pg_bin, "output_plugin_libraries"):
            conf.write("output_plugin_libraries = 'pgoutput, test_decoding, bottledwater'\n")
    as_postgres(pg_bin / "pg_ctl", "-D", data, "-l", root / "log", "-w", "start")
    try:
        conn = psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres",
                               autocommit=True)
        conn.execute("CREATE EXTENSION bottledwater")
        yield conn
        conn.close()
    finally:
        as_postgres(pg_bin / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root)


@pytest.mark.parametrize("call", ["bw_start('postgres')", "bw_stop('postgres')",
                                  "bw_drop_slot('postgres')"])
def test_worker_functions_refuse_with_a_hint(unpreloaded, call):
    with pytest.raises(psycopg.Error) as raised:
        unpreloaded.execute(f"SELECT {call}")
    assert "shared_preload_libraries" in (raised.value.diag.message_hint or "")


def test_the_output_plugin_works_without_preloading(unpreloaded):
    unpreloaded.execute("CREATE TABLE t (id int PRIMARY KEY)")
    unpreloaded.execute("SELECT pg_create_logical_replication_slot('nopreload', 'bottledwater')")
    try:
        unpreloaded.execute("INSERT INTO t VALUES (1)")
        rows = [row[0] for row in unpreloaded.execute(
            "SELECT data FROM pg_logical_slot_get_changes('nopreload', NULL, NULL, 'format', "
            "'json', 'include_transaction_details', 'false')")]
        assert rows == ['{"op": "begin"}',
                        '{"op": "insert", "table": "public.t", "key": {"id": {"int": 1}}, '
                        '"value": {"id": {"int": 1}}}',
                        '{"op": "commit"}']
    finally:
        unpreloaded.execute("SELECT pg_drop_replication_slot('nopreload')")
