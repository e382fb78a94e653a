"""Decoding a large transaction keeps the decoding backend's memory bounded: every change is
encoded in a memory context reset after it, so bottledwater's peak must stay close to that of
PostgreSQL's own test_decoding on the same transaction."""

import uuid

ROWS = 1_000_000
# Allowance over test_decoding's peak for our schema cache, encoders and buffers.
MARGIN_KB = 32 * 1024


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def decode_peak(pg_connect, slot, options):
    conn = pg_connect()
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    count = conn.execute(
        f"SELECT count(*) FROM pg_logical_slot_get_changes(%s, NULL, NULL{options})", (slot,)
    ).fetchone()[0]
    return count, peak_rss_kb(pid)


def test_one_million_row_transaction_decodes_in_bounded_memory(pg, pg_connect):
    table = f"big_{uuid.uuid4().hex[:8]}"
    ours, theirs = f"{table}_bw", f"{table}_td"
    pg.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n int, t text, at timestamptz)")
    pg.execute("SELECT pg_create_logical_replication_slot(%s, 'bottledwater')", (ours,))
    pg.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (theirs,))
    try:
        pg.execute(
            f"INSERT INTO {table} SELECT i, i * 7, 'row number ' || i, now() "
            f"FROM generate_series(1, {ROWS}) i"
        )
        our_rows, our_peak = decode_peak(
            pg_connect, ours, ", 'format', 'json', 'include_transaction_details', 'false'")
        their_rows, their_peak = decode_peak(pg_connect, theirs, "")
        print(f"rows: {our_rows} / {their_rows}; peak RSS: bottledwater {our_peak} kB, "
              f"test_decoding {their_peak} kB")
        assert our_rows == ROWS + 2  # begin, the rows, commit
        assert their_rows == ROWS + 2
        assert our_peak <= their_peak + MARGIN_KB
    finally:
        pg.execute("SELECT pg_drop_replication_slot(%s)", (ours,))
        pg.execute("SELECT pg_drop_replication_slot(%s)", (theirs,))
        pg.execute(f"DROP TABLE {table}")
