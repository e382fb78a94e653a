// The launcher (see launcher.h). It connects to no database (pg_database is a shared catalog):
// it reads the autostart list, forgets databases dropped since, registers a worker for each
// database that has none, and exits. A worker that crashes is restarted by the
// postmaster itself (bgw_restart_time); the launcher only covers server starts.
#include "worker/launcher.h"

extern "C" {
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
}

#include "worker/autostart.h"
#include "worker/worker_state.h"

namespace bw {

namespace {

// Long enough not to spin on a persistent failure, short enough that replay starts soon.
constexpr int kRestartSeconds = 5;

// A heap scan: without a database the syscache and pg_database's indexes are out of reach (the
// logical replication launcher reads pg_subscription the same way).
bool database_exists(const char* dbname) {
    Relation relation = table_open(DatabaseRelationId, AccessShareLock);
    TableScanDesc scan = table_beginscan_catalog(relation, 0, nullptr);
    bool found = false;
    HeapTuple tuple;
    while (!found && HeapTupleIsValid(tuple = heap_getnext(scan, ForwardScanDirection))) {
        found = strcmp(NameStr(((Form_pg_database)GETSTRUCT(tuple))->datname), dbname) == 0;
    }
    table_endscan(scan);
    table_close(relation, AccessShareLock);
    return found;
}

}  // namespace

void register_launcher() {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = BGW_NEVER_RESTART;
    strlcpy(worker.bgw_library_name, "bottledwater", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "bw_launcher_main", BGW_MAXLEN);
    strlcpy(worker.bgw_name, "bottledwater launcher", BGW_MAXLEN);
    strlcpy(worker.bgw_type, "bottledwater launcher", BGW_MAXLEN);
    RegisterBackgroundWorker(&worker);
}

bool launch_worker(const char* dbname, MissingSlot missing_slot, pid_t notify_pid,
                   BackgroundWorkerHandle** handle) {
    BackgroundWorker worker;
    memset(&worker, 0, sizeof worker);
    worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
    worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
    worker.bgw_restart_time = kRestartSeconds;
    strlcpy(worker.bgw_library_name, "bottledwater", BGW_MAXLEN);
    strlcpy(worker.bgw_function_name, "bw_worker_main", BGW_MAXLEN);
    snprintf(worker.bgw_name, BGW_MAXLEN, "bottledwater worker for database %s", dbname);
    strlcpy(worker.bgw_type, "bottledwater worker", BGW_MAXLEN);
    static_assert(NAMEDATALEN <= BGW_EXTRALEN, "a database name must fit in bgw_extra");
    strlcpy(worker.bgw_extra, dbname, NAMEDATALEN);
    worker.bgw_main_arg = Int32GetDatum(static_cast<int32>(missing_slot));
    worker.bgw_notify_pid = notify_pid;
    return RegisterDynamicBackgroundWorker(&worker, handle);
}

}  // namespace bw

using namespace bw;

extern "C" {

PGDLLEXPORT void bw_launcher_main(Datum) {
    BackgroundWorkerUnblockSignals();
    BackgroundWorkerInitializeConnection(nullptr, nullptr, 0);

    // A worker for a dropped database would fail to connect and be restarted forever.
    StartTransactionCommand();
    PushActiveSnapshot(GetTransactionSnapshot());
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    List* listed = autostart_databases();
    List* databases = NIL;
    ListCell* cell;
    foreach (cell, listed) {
        char* dbname = static_cast<char*>(lfirst(cell));
        if (database_exists(dbname)) {
            // Outlives the transaction, which frees its memory at commit.
            MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
            databases = lappend(databases, pstrdup(dbname));
            MemoryContextSwitchTo(old);
        } else {
            ereport(LOG, (errmsg("bottledwater: database \"%s\" no longer exists; removed from "
                                 "the autostart list",
                                 dbname)));
            autostart_remove(dbname);
        }
    }
    LWLockRelease(worker_states->lock);
    PopActiveSnapshot();
    CommitTransactionCommand();

    foreach (cell, databases) {
        const char* dbname = static_cast<char*>(lfirst(cell));
        // A worker restarted by the postmaster after a crash may have claimed it already; if
        // both start, the second sees the first's claim and leaves.
        LWLockAcquire(worker_states->lock, LW_SHARED);
        WorkerState* state = find_worker_state(dbname);
        const bool running = state != nullptr && state->pid != 0;
        LWLockRelease(worker_states->lock);
        if (running) continue;
        if (!launch_worker(dbname, MissingSlot::Refuse, 0, nullptr))
            ereport(WARNING, (errmsg("bottledwater: no background worker slot free to start the "
                                     "worker of database \"%s\"",
                                     dbname),
                              errhint("Raise max_worker_processes.")));
    }
    proc_exit(0);
}

}  // extern "C"
