// bw_snapshot and bw_snapshot_cancel: queue tables for an incremental snapshot by the worker of
// the current database, or cancel them. The queue is the extension's table bw_snapshot_progress
// (bw_snapshots() shows it); the worker is told when the calling transaction commits, so it
// never reads the queue before the request is visible, and never has to poll it.
extern "C" {
#include "postgres.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
}

#include "worker/chunk_reader.h"
#include "worker/incremental_snapshot.h"
#include "worker/worker_state.h"

namespace bw {

namespace {

bool wake_at_commit = false;

char* qualified_name(Oid relid) {
    return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
                                      get_rel_name(relid));
}

// After the commit: the worker of this database reads its queue again.
void wake_worker(XactEvent event, void*) {
    if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT) return;
    const bool wake = wake_at_commit && event == XACT_EVENT_COMMIT;
    wake_at_commit = false;
    if (!wake || worker_states == nullptr) return;
    char* dbname = get_database_name(MyDatabaseId);
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    WorkerState* state = find_worker_state(dbname);
    pid_t pid = 0;
    if (state != nullptr) {
        state->snapshot_requests++;
        pid = state->pid;
    }
    LWLockRelease(worker_states->lock);
    PGPROC* proc = pid != 0 ? BackendPidGetProc(pid) : nullptr;
    if (proc != nullptr) SetLatch(&proc->procLatch);
}

void wake_worker_at_commit() {
    static bool registered = false;
    if (!registered) {
        RegisterXactCallback(wake_worker, nullptr);
        registered = true;
    }
    wake_at_commit = true;
}

void require_current_database(const char* dbname) {
    const char* current = get_database_name(MyDatabaseId);
    if (strcmp(dbname, current) != 0)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("bottledwater: snapshots of database \"%s\" are asked for in that "
                        "database, not in \"%s\"",
                        dbname, current),
                 errhint("Connect to database \"%s\" and call the function there.", dbname)));
}

// The tables asked for, partitioned ones as their partitions (whose rows are read), as OIDs.
List* leaf_tables(ArrayType* tables, StringInfo refused) {
    Datum* items;
    bool* nulls;
    int count;
    deconstruct_array(tables, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT, &items, &nulls,
                      &count);
    List* leaves = NIL;
    for (int i = 0; i < count; i++) {
        if (nulls[i]) continue;
        const Oid relid = DatumGetObjectId(items[i]);
        const char relkind = get_rel_relkind(relid);
        if (relkind == RELKIND_RELATION) {
            leaves = list_append_unique_oid(leaves, relid);
        } else if (relkind == RELKIND_PARTITIONED_TABLE) {
            ListCell* cell;
            foreach (cell, find_all_inheritors(relid, AccessShareLock, nullptr))
                if (get_rel_relkind(lfirst_oid(cell)) == RELKIND_RELATION)
                    leaves = list_append_unique_oid(leaves, lfirst_oid(cell));
        } else if (refused != nullptr) {
            appendStringInfo(refused, "%s%s (not a table)", refused->len ? ", " : "",
                             qualified_name(relid));
        }
    }
    return leaves;
}

// One call per table of the set: the list is kept in the set's memory across calls.
Datum next_table(FunctionCallInfo fcinfo, List* (*compute)(FunctionCallInfo)) {
    FuncCallContext* call;
    if (SRF_IS_FIRSTCALL()) {
        call = SRF_FIRSTCALL_INIT();
        List* relids = compute(fcinfo);
        MemoryContext old = MemoryContextSwitchTo(call->multi_call_memory_ctx);
        call->user_fctx = list_copy(relids);
        MemoryContextSwitchTo(old);
    }
    call = SRF_PERCALL_SETUP();
    List* relids = static_cast<List*>(call->user_fctx);
    if (call->call_cntr < static_cast<uint64>(list_length(relids))) {
        // Read before SRF_RETURN_NEXT counts the call.
        const Datum relid = ObjectIdGetDatum(list_nth_oid(relids, call->call_cntr));
        SRF_RETURN_NEXT(call, relid);
    }
    SRF_RETURN_DONE(call);
}

const char* require_progress_table() {
    const char* table = snapshot_progress_table();
    if (table == nullptr) elog(ERROR, "bottledwater: the extension's progress table is missing");
    return table;
}

// A table asked for again starts again from its first chunk.
List* queue_tables(FunctionCallInfo fcinfo) {
    require_current_database(NameStr(*PG_GETARG_NAME(0)));
    StringInfoData refused;
    initStringInfo(&refused);
    List* leaves = leaf_tables(PG_GETARG_ARRAYTYPE_P(1), &refused);
    ListCell* cell;
    foreach (cell, leaves) {
        Relation relation = table_open(lfirst_oid(cell), AccessShareLock);
        const char* why = snapshot_refusal(relation);
        if (why != nullptr)
            appendStringInfo(&refused, "%s%s (%s)", refused.len ? ", " : "",
                             qualified_name(lfirst_oid(cell)), why);
        table_close(relation, AccessShareLock);
    }
    if (refused.len > 0)
        ereport(ERROR,
                (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                 errmsg("bottledwater: cannot snapshot incrementally: %s", refused.data),
                 errhint("bw_captured_tables() lists the tables the worker captures "
                         "(bottledwater.publication); an incremental snapshot reads a table "
                         "in the order of its primary key or replica identity index.")));
    SPI_connect();
    const char* table = require_progress_table();
    foreach (cell, leaves) {
        Oid types[2] = {OIDOID, TEXTOID};
        Datum values[2] = {ObjectIdGetDatum(lfirst_oid(cell)),
                           CStringGetTextDatum(qualified_name(lfirst_oid(cell)))};
        if (SPI_execute_with_args(
                psprintf("INSERT INTO %s AS p (relid, table_name) VALUES ($1, $2) "
                         "ON CONFLICT (relid) DO UPDATE SET table_name = excluded.table_name, "
                         "state = 'queued', rows_sent = 0, chunks = 0, chunk_position = NULL, "
                         "requested_at = pg_catalog.now(), started_at = NULL, "
                         "finished_at = NULL, error = NULL",
                         table),
                2, types, values, nullptr, false, 0) != SPI_OK_INSERT)
            elog(ERROR, "bottledwater: could not queue a snapshot");
    }
    SPI_finish();
    wake_worker_at_commit();
    return leaves;
}

// Every queued or running snapshot when `tables` is null.
List* cancel_tables(FunctionCallInfo fcinfo) {
    require_current_database(NameStr(*PG_GETARG_NAME(0)));
    const bool every = PG_ARGISNULL(1);
    List* leaves = every ? NIL : leaf_tables(PG_GETARG_ARRAYTYPE_P(1), nullptr);
    Datum* items = static_cast<Datum*>(palloc(sizeof(Datum) * Max(list_length(leaves), 1)));
    int count = 0;
    ListCell* cell;
    foreach (cell, leaves) items[count++] = ObjectIdGetDatum(lfirst_oid(cell));
    Oid types[2] = {BOOLOID, OIDARRAYOID};
    Datum values[2] = {BoolGetDatum(every),
                       PointerGetDatum(construct_array(items, count, OIDOID, sizeof(Oid), true,
                                                       TYPALIGN_INT))};
    MemoryContext caller = CurrentMemoryContext;
    SPI_connect();
    const char* table = require_progress_table();
    if (SPI_execute_with_args(
            psprintf("UPDATE %s SET state = 'cancelled', finished_at = pg_catalog.now() "
                     "WHERE state OPERATOR(pg_catalog.=) ANY ('{queued,running}') "
                     "AND ($1 OR relid OPERATOR(pg_catalog.=) ANY ($2)) RETURNING relid",
                     table),
            2, types, values, nullptr, false, 0) != SPI_OK_UPDATE_RETURNING)
        elog(ERROR, "bottledwater: could not cancel snapshots");
    List* cancelled = NIL;
    MemoryContext spi = MemoryContextSwitchTo(caller);
    for (uint64 i = 0; i < SPI_processed; i++) {
        bool isnull;
        cancelled = lappend_oid(cancelled, DatumGetObjectId(SPI_getbinval(
                                               SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1,
                                               &isnull)));
    }
    MemoryContextSwitchTo(spi);
    SPI_finish();
    wake_worker_at_commit();
    return cancelled;
}

}  // namespace
}  // namespace bw

using namespace bw;

extern "C" {

PG_FUNCTION_INFO_V1(bw_snapshot);
Datum bw_snapshot(PG_FUNCTION_ARGS) {
    return next_table(fcinfo, queue_tables);
}

PG_FUNCTION_INFO_V1(bw_snapshot_cancel);
Datum bw_snapshot_cancel(PG_FUNCTION_ARGS) {
    return next_table(fcinfo, cancel_tables);
}

}  // extern "C"
