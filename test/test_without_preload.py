"""The extension on a server that does not preload it: the output plugin still works (it is loaded
on demand), and everything that needs the worker refuses with a hint naming the missing setting.
A throwaway PostgreSQL cluster of its own, since the dev cluster preloads bottledwater."""

import psycopg
import pytest

from throwaway_cluster import throwaway_cluster


@pytest.fixture(scope="module")
def unpreloaded(dev_env):
    """A cluster of the dev environment's PostgreSQL, without bottledwater preloaded."""
    with throwaway_cluster(dev_env["BW_PG_BIN"], "bw-nopreload-", "wal_level = logical") as cluster:
        conn = cluster.connect()
        conn.execute("CREATE EXTENSION bottledwater")
        yield conn
        conn.close()


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
