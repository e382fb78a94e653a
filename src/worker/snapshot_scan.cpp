// The initial snapshot (see snapshot_scan.h). Tables are listed with SPI and at once locked in
// ACCESS SHARE mode until the snapshot's transaction ends, as pg_dump does: a table that DDL
// rewrote after the snapshot was taken would be read through a new file whose rows the snapshot
// cannot see, so with the locks held an ALTER TABLE or DROP TABLE waits for the snapshot to end.
// One window stays, between taking the snapshot and taking the lock: a table rewritten in it is
// detected (its file is not the one the snapshot lists) and the snapshot is begun again, and a
// table dropped in it is left out. Each table is then scanned with a sequential heap scan; rows
// are detoasted first, because the encoder reads an on-disk TOAST pointer as "unchanged by this
// UPDATE". The row read last is held back until the next read (SnapshotMarks decides each row's
// mark one row late): it stays in a slot of its own, which keeps its buffer pinned, so holding
// it copies no row; its table stays open until it is sent.
#include "worker/snapshot_scan.h"

extern "C" {
#include "access/heaptoast.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include <memory>
#include <optional>

#include "decode/capture_set.h"
#include "decode/change_encoder.h"
#include "decode/output_plugin.h"
#include "decode/stream_target.h"
#include "decode/table_schema.h"
#include "pg_boundary.h"
#include "snapshot/snapshot_marks.h"
#include "worker/worker_lifecycle.h"
#include "worker/worker_envelope.h"

namespace bw {

namespace {

constexpr int64 kProgressEveryRows = 1000;

// Leaf tables only: changes of a partitioned table are decoded on its partitions. The file
// (relfilenode) is the one the snapshot sees, to tell a table rewritten since. Every operator is
// schema-qualified: this runs as superuser in a database others may own. In the order of
// "schema.table" compared as bytes, as Debezium orders its snapshot's tables (its marks of the
// first and last rows depend on it).
constexpr const char* kListTables =
    "SELECT c.oid, pg_catalog.int8(greatest(c.reltuples, 0)), c.relfilenode, "
    "pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
    "WHERE c.relkind OPERATOR(pg_catalog.=) 'r' AND c.relpersistence OPERATOR(pg_catalog.=) 'p' "
    "AND n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog' "
    "AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
    "AND n.nspname OPERATOR(pg_catalog.!~) '^pg_toast' "
    "ORDER BY pg_catalog.concat(n.nspname, '.', c.relname) COLLATE pg_catalog.\"C\"";

struct TableToScan {
    Oid relid;
    int64 estimated_rows;
    Oid snapshot_file;
    char* name;  // quoted schema.table, for messages
};

List* tables_to_scan() {
    MemoryContext caller = CurrentMemoryContext;
    List* tables = NIL;
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "bottledwater: SPI_connect failed");
    if (SPI_execute(kListTables, true, 0) != SPI_OK_SELECT)
        elog(ERROR, "bottledwater: could not list the tables to snapshot");
    for (uint64 i = 0; i < SPI_processed; i++) {
        bool isnull;
        HeapTuple row = SPI_tuptable->vals[i];
        TableToScan* table =
            static_cast<TableToScan*>(MemoryContextAlloc(caller, sizeof(TableToScan)));
        table->relid = DatumGetObjectId(SPI_getbinval(row, SPI_tuptable->tupdesc, 1, &isnull));
        table->estimated_rows =
            DatumGetInt64(SPI_getbinval(row, SPI_tuptable->tupdesc, 2, &isnull));
        table->snapshot_file =
            DatumGetObjectId(SPI_getbinval(row, SPI_tuptable->tupdesc, 3, &isnull));
        table->name = MemoryContextStrdup(caller, SPI_getvalue(row, SPI_tuptable->tupdesc, 4));
        MemoryContext old = MemoryContextSwitchTo(caller);
        tables = lappend(tables, table);
        MemoryContextSwitchTo(old);
    }
    SPI_finish();
    return tables;
}

// Locks every listed table until the transaction ends and returns those still there. Taking a
// lock processes pending invalidations, so the relcache shows the table as it is now.
List* lock_tables(List* tables) {
    List* locked = NIL;
    ListCell* cell;
    foreach (cell, tables) {
        TableToScan* table = static_cast<TableToScan*>(lfirst(cell));
        Relation relation = try_table_open(table->relid, AccessShareLock);
        if (relation == nullptr) {
            ereport(LOG, (errmsg("bottledwater: table %s was dropped after the snapshot was "
                                 "taken; it is left out of the snapshot",
                                 table->name)));
            continue;
        }
        bool rewritten = relation->rd_rel->relfilenode != table->snapshot_file;
        table_close(relation, NoLock);
        if (rewritten)
            ereport(ERROR,
                    (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                     errmsg("bottledwater: table %s was rewritten after the snapshot was taken",
                            table->name),
                     errdetail("Its rows are now in a file the snapshot cannot see."),
                     errhint("None needed: the worker restarts and takes a new snapshot.")));
        locked = lappend(locked, table);
    }
    return locked;
}

// A table being scanned, or whose last row read is still held back.
struct ScannedTable {
    Relation relation;
    StreamTarget target;
    TableSchema* schema;
    // The row held back stays in one while the next is read into the other.
    TupleTableSlot* slots[2];
};

// The row read last, not sent yet.
struct HeldRow {
    ScannedTable* table = nullptr;  // none held
    // The header alone: the data stays in the buffer its slot pins, or in `context` where
    // detoasting or a partition's conversion made a new tuple.
    HeapTupleData tuple;
    MemoryContext context = nullptr;  // what reading the row allocated
};

void close_scanned_table(ScannedTable* table) {
    ExecDropSingleTupleTableSlot(table->slots[0]);
    ExecDropSingleTupleTableSlot(table->slots[1]);
    close_stream_target(table->target);
    table_close(table->relation, NoLock);
    pfree(table);
}

// What every snapshot row is encoded with.
struct SnapshotEncoding {
    ChangeEncoder* encoder;
    TransactionInfo* txn;
    XLogRecPtr consistent_lsn;
    KafkaChangeSink* sink;
};

// Sends the held row with its mark, and closes its table unless it is still being scanned.
void send_held(HeldRow& held, SnapshotMark mark, const ScannedTable* scanning,
               const SnapshotEncoding& to) {
    to.txn->snapshot_mark = mark;
    MemoryContext old = MemoryContextSwitchTo(held.context);
    guard_cpp("encoding a snapshot row", [&] {
        to.encoder->encode(ChangeOp::Insert, held.table->target.relation, *held.table->schema,
                           nullptr, &held.tuple, *to.txn, to.consistent_lsn, *to.sink);
    });
    MemoryContextSwitchTo(old);
    MemoryContextReset(held.context);
    if (held.table != scanning) close_scanned_table(held.table);
    held.table = nullptr;
}

void publish(WorkerState* state, int64 tables_done, int64 tables_total, int64 rows_done,
             int64 rows_total) {
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    state->snapshot_tables_done = tables_done;
    state->snapshot_tables_total = tables_total;
    state->snapshot_rows_done = rows_done;
    state->snapshot_rows_total = rows_total;
    LWLockRelease(worker_states->lock);
}

}  // namespace

void scan_snapshot(KafkaChangeSink& sink, WorkerState* state, bool allow_unkeyed,
                   const char* publication, XLogRecPtr consistent_lsn) {
    List* tables = lock_tables(tables_to_scan());
    int64 rows_total = 0;
    ListCell* cell;
    foreach (cell, tables) rows_total += static_cast<TableToScan*>(lfirst(cell))->estimated_rows;
    const int64 tables_total = list_length(tables);
    int64 tables_done = 0;
    int64 rows_done = 0;
    publish(state, 0, tables_total, 0, rows_total);

    MemoryContext scan_context = AllocSetContextCreate(
        CurrentMemoryContext, "bottledwater snapshot", ALLOCSET_DEFAULT_SIZES);
    // One for the row held back, one for the row being read.
    MemoryContext row_contexts[2] = {
        AllocSetContextCreate(scan_context, "bottledwater snapshot row", ALLOCSET_DEFAULT_SIZES),
        AllocSetContextCreate(scan_context, "bottledwater snapshot row", ALLOCSET_DEFAULT_SIZES)};
    int next_context = 0;
    // Heap objects, deleted below; an ERROR ends the process, which frees them with it.
    SchemaCache* schemas = nullptr;
    ChangeEncoder* encoder = nullptr;
    ChangeEnvelope* envelope = nullptr;
    CaptureSet* capture = nullptr;
    guard_cpp("preparing the snapshot", [&] {
        envelope = make_worker_envelope().release();
        schemas = new SchemaCache(scan_context, *envelope, worker_type_mapping());
        encoder = new ChangeEncoder(*envelope);
        std::vector<std::string> names;
        split_publication_names(publication, &names);  // the GUC's check hook parsed it
        capture = new CaptureSet(std::move(names), scan_context);
    });

    TransactionInfo txn;
    txn.commit_lsn = consistent_lsn;
    txn.end_lsn = consistent_lsn;
    txn.commit_time_micros = unix_micros(GetCurrentTimestamp());
    txn.snapshot = true;
    guard_cpp("starting the snapshot", [&] { sink.begin_transaction(txn); });
    const SnapshotEncoding encoding{encoder, &txn, consistent_lsn, &sink};
    SnapshotMarks marks;
    HeldRow held;

    foreach (cell, tables) {
        // Locked by lock_tables() until the transaction ends.
        Relation relation = table_open(static_cast<TableToScan*>(lfirst(cell))->relid, NoLock);
        const TableCapture* lookup = nullptr;
        // XXX the catalog caches read the catalog as it is now, not as of the snapshot: a
        // publication changed between the slot's consistent point and this scan decides the
        // table's membership, columns and filter here as changed, while the stream applies the
        // change at its place in the WAL (see README).
        guard_cpp("looking up the capture set", [&] { lookup = &capture->lookup(relation); });
        const TableCapture& captured = *lookup;
        if (!captured.member) {
            table_close(relation, NoLock);
            tables_done++;
            continue;
        }
        // A partition is dumped as the table its changes are streamed as, in its topic.
        StreamTarget target = open_stream_target(relation, captured.stream_as);
        TableSchema* table = nullptr;
        guard_cpp("describing a table",
                  [&] { table = &schemas->lookup(target.relation, captured.columns); });
        if (!table->keyed && !allow_unkeyed) {
            log_unkeyed_table(*table, "it is left out of the snapshot");
            close_stream_target(target);
            table_close(relation, NoLock);
            tables_done++;
            continue;
        }
        guard_cpp("announcing a table", [&] { sink.table_schema(table->description); });

        ScannedTable* scanned =
            static_cast<ScannedTable*>(MemoryContextAlloc(scan_context, sizeof(ScannedTable)));
        *scanned = ScannedTable{relation, target, table,
                                {table_slot_create(relation, nullptr),
                                 table_slot_create(relation, nullptr)}};
        marks.begin_table();
        TableScanDesc scan = table_beginscan(relation, GetActiveSnapshot(), 0, nullptr);
        int next_slot = 0;
        while (table_scan_getnextslot(scan, ForwardScanDirection, scanned->slots[next_slot])) {
            MemoryContext context = row_contexts[next_context];
            MemoryContext old = MemoryContextSwitchTo(context);
            HeapTuple tuple = snapshot_row(target, relation, scanned->slots[next_slot]);
            const bool captured_row = filter_snapshot_row(captured.row_filter, tuple);
            MemoryContextSwitchTo(old);
            if (captured_row) {
                if (const std::optional<SnapshotMark> mark = marks.row_read())
                    send_held(held, *mark, scanned, encoding);
                held.table = scanned;
                held.tuple = *tuple;
                held.context = context;
                next_slot ^= 1;
                next_context ^= 1;
            } else {
                MemoryContextReset(context);
            }
            if (++rows_done % kProgressEveryRows == 0)
                publish(state, tables_done, tables_total, rows_done, Max(rows_total, rows_done));
            CHECK_FOR_INTERRUPTS();
            // The slot is still ephemeral: it goes with the process, and so does this scan.
            if (stop_requested()) leave_after_sigterm("the next start takes the snapshot again");
        }
        table_endscan(scan);
        marks.end_table();
        if (held.table != scanned) close_scanned_table(scanned);
        tables_done++;
        publish(state, tables_done, tables_total, rows_done, Max(rows_total, rows_done));
    }
    if (const std::optional<SnapshotMark> mark = marks.end())
        send_held(held, *mark, nullptr, encoding);
    guard_cpp("ending the snapshot", [&] { sink.commit_transaction(txn); });
    publish(state, tables_done, tables_total, rows_done, rows_done);
    guard_cpp("freeing the snapshot's encoder", [&] {
        delete encoder;
        delete capture;
        delete schemas;
        delete envelope;
    });
    MemoryContextDelete(scan_context);
}

}  // namespace bw
