// SQL functions that drive the workers: bw_start, bw_stop and bw_status. They check what they can
// in the calling session (preload, output_plugin_libraries, the database) before anything starts,
// then talk to the worker only through shared memory and signals.
extern "C" {
#include "postgres.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"
}

#include <csignal>

#include "sql/database_access.h"
#include "worker/autostart.h"
#include "worker/launcher.h"
#include "worker/slot_retention.h"
#include "worker/worker_state.h"

namespace bw {

namespace {

// A new slot waits for transactions already running to finish, so starting can take a while.
constexpr int kStartTimeoutMs = 60000;
constexpr int kStopTimeoutMs = 60000;
constexpr int kWaitStepMs = 50;

void require_output_plugin_allowed() {
    const char* value = GetConfigOption("output_plugin_libraries", true, false);
    // A server without the setting accepts every output plugin.
    if (value == nullptr) return;
    char* copy = pstrdup(value);
    List* names = NIL;
    bool listed = false;
    if (SplitIdentifierString(copy, ',', &names)) {
        ListCell* cell;
        foreach (cell, names) {
            if (strcmp(static_cast<char*>(lfirst(cell)), "bottledwater") == 0) listed = true;
        }
    }
    if (!listed)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("output plugin bottledwater is not allowed by "
                               "output_plugin_libraries (\"%s\")",
                               value),
                        errhint("Add this line to postgresql.conf and reload: "
                                "output_plugin_libraries = '%s%sbottledwater'",
                                value, value[0] ? ", " : "")));
}

void wait_a_little() {
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, kWaitStepMs,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    CHECK_FOR_INTERRUPTS();
}

struct Observed {
    pid_t pid;
    WorkerPhase phase;
    bool stop_requested;
    char last_error[sizeof(WorkerState::last_error)];
    char last_error_hint[sizeof(WorkerState::last_error_hint)];
};

Observed observe(const char* dbname) {
    Observed seen = {0, WorkerPhase::Stopped, false, "", ""};
    LWLockAcquire(worker_states->lock, LW_SHARED);
    WorkerState* state = find_worker_state(dbname);
    if (state != nullptr) {
        seen.pid = state->pid;
        seen.phase = state->phase;
        seen.stop_requested = state->stop_requested;
        strlcpy(seen.last_error, state->last_error, sizeof seen.last_error);
        strlcpy(seen.last_error_hint, state->last_error_hint, sizeof seen.last_error_hint);
    }
    LWLockRelease(worker_states->lock);
    return seen;
}

// Waits until the worker has its slot (so nothing committed from now on is missed) or fails.
pid_t wait_until_running(const char* dbname, BackgroundWorkerHandle* handle) {
    pid_t pid = 0;
    if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_POSTMASTER_DIED)
        ereport(ERROR, (errmsg("bottledwater: the postmaster died while the worker started")));
    for (int waited = 0; waited < kStartTimeoutMs; waited += kWaitStepMs) {
        const Observed seen = observe(dbname);
        if (seen.phase == WorkerPhase::Snapshot || seen.phase == WorkerPhase::Streaming ||
            seen.phase == WorkerPhase::Backoff)
            return seen.pid;
        if (seen.stop_requested)
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("bottledwater: the worker of database \"%s\" was stopped by "
                                   "bw_stop before it streamed",
                                   dbname)));
        pid_t current;
        const BgwHandleStatus status = GetBackgroundWorkerPid(handle, &current);
        if (status == BGWH_STOPPED) {
            // Another worker may have won the start; otherwise this one gave up for good, and
            // without its autostart entry a restart of it leaves at once.
            if (seen.pid != 0) return seen.pid;
            LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
            autostart_remove(dbname);
            WorkerState* state = find_worker_state(dbname);
            if (state != nullptr && state->pid == 0) state->phase = WorkerPhase::Error;
            LWLockRelease(worker_states->lock);
            ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                            errmsg("bottledwater: the worker of database \"%s\" could not start: "
                                   "%s",
                                   dbname, seen.last_error[0] ? seen.last_error : "see the log"),
                            seen.last_error_hint[0] ? errhint("%s", seen.last_error_hint) : 0));
        }
        if (seen.phase == WorkerPhase::Restarting) {
            ereport(WARNING, (errmsg("bottledwater: the worker of database \"%s\" failed: %s",
                                     dbname, seen.last_error),
                              errhint("It is restarted every few seconds; see bw_status().")));
            return seen.pid != 0 ? seen.pid : pid;
        }
        wait_a_little();
    }
    ereport(NOTICE,
            (errmsg("bottledwater: the worker of database \"%s\" is still starting", dbname),
             errhint("A new slot waits for running transactions to finish; see "
                     "bw_status().")));
    return pid;
}

}  // namespace

}  // namespace bw

using namespace bw;

extern "C" {

PG_FUNCTION_INFO_V1(bw_start);
Datum bw_start(PG_FUNCTION_ARGS) {
    const char* dbname = NameStr(*PG_GETARG_NAME(0));
    require_preloaded();
    require_output_plugin_allowed();
    require_database_access(dbname);

    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    WorkerState* state = find_worker_state(dbname);
    if (state != nullptr && state->pid != 0) {
        const pid_t pid = state->pid;
        LWLockRelease(worker_states->lock);
        ereport(NOTICE, (errmsg("bottledwater: database \"%s\" is already streamed by pid %d",
                                dbname, static_cast<int>(pid))));
        PG_RETURN_INT32(pid);
    }
    if (state == nullptr) state = claim_free_worker_state(dbname);
    if (state == nullptr) {
        LWLockRelease(worker_states->lock);
        ereport(ERROR,
                (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                 errmsg("bottledwater: all %d worker entries are in use", worker_states->count),
                 errhint("Stop a worker or raise bottledwater.max_workers (restart).")));
    }
    // A new attempt: what bw_start waits for is this worker's outcome, not a previous one's.
    state->phase = WorkerPhase::Starting;
    state->stop_requested = false;
    state->last_error[0] = '\0';
    state->last_error_hint[0] = '\0';
    state->last_error_time = 0;
    state->last_error_cleared_time = 0;
    autostart_add(dbname);
    LWLockRelease(worker_states->lock);

    BackgroundWorkerHandle* handle;
    if (!launch_worker(dbname, MissingSlot::Create, MyProcPid, &handle))
        ereport(ERROR, (errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
                        errmsg("bottledwater: no background worker slot is free"),
                        errhint("Raise max_worker_processes (restart); the worker of \"%s\" "
                                "will start at the next server start.",
                                dbname)));
    PG_RETURN_INT32(wait_until_running(dbname, handle));
}

PG_FUNCTION_INFO_V1(bw_stop);
Datum bw_stop(PG_FUNCTION_ARGS) {
    const char* dbname = NameStr(*PG_GETARG_NAME(0));
    require_preloaded();
    require_database_access_if_exists(dbname);

    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    autostart_remove(dbname);
    WorkerState* state = find_worker_state(dbname);
    const pid_t pid = state != nullptr ? state->pid : 0;
    // Without the autostart entry, a worker the postmaster is about to start (again) leaves at
    // once; the state says so now rather than what its last process left behind.
    const bool was_pending = state != nullptr && pid == 0 &&
                             (state->phase == WorkerPhase::Restarting ||
                              state->phase == WorkerPhase::Starting);
    if (state != nullptr) {
        state->stop_requested = true;
        if (was_pending) state->phase = WorkerPhase::Stopped;
    }
    LWLockRelease(worker_states->lock);
    if (was_pending) {
        ereport(NOTICE, (errmsg("bottledwater: the worker of database \"%s\" was waiting to "
                                "start; it will not start",
                                dbname)));
        PG_RETURN_BOOL(true);
    }
    if (pid == 0) {
        ereport(NOTICE, (errmsg("bottledwater: no worker is running for database \"%s\"", dbname)));
        PG_RETURN_BOOL(false);
    }
    if (kill(pid, SIGTERM) != 0 && errno != ESRCH)
        ereport(ERROR,
                (errmsg("bottledwater: could not signal worker %d: %m", static_cast<int>(pid))));
    for (int waited = 0; waited < kStopTimeoutMs; waited += kWaitStepMs) {
        if (observe(dbname).pid != pid) PG_RETURN_BOOL(true);
        wait_a_little();
    }
    ereport(WARNING, (errmsg("bottledwater: worker %d has not exited yet", static_cast<int>(pid))));
    PG_RETURN_BOOL(false);
}

// bw_status's columns as 0.2.0 declares them, and which of them 0.1.0 declared, in its order.
constexpr int kStatusColumns = 20;
constexpr int kStatusColumns010 = 16;
constexpr int kStatusColumnsOf010[kStatusColumns010] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
                                                        13, 14, 15, 16, 18};

PG_FUNCTION_INFO_V1(bw_status);
Datum bw_status(PG_FUNCTION_ARGS) {
    require_preloaded();
    InitMaterializedSRF(fcinfo, 0);
    ReturnSetInfo* rsinfo = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
    // A new library runs under the old SQL objects between its install and ALTER EXTENSION
    // UPDATE: fill the columns the calling version of bw_status declares.
    const int layout = rsinfo->setDesc->natts;
    if (layout != kStatusColumns && layout != kStatusColumns010)
        ereport(ERROR, (errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
                        errmsg("bottledwater: this bw_status() has %d columns, which library %s "
                               "does not know",
                               layout, BW_VERSION),
                        errhint("ALTER EXTENSION bottledwater UPDATE;")));
    const XLogRecPtr flushed = RecoveryInProgress() ? InvalidXLogRecPtr : GetFlushRecPtr(nullptr);

    // Copied under the lock, emitted after: the tuplestore may allocate and error.
    const int count = worker_states->count;
    WorkerState* copies = static_cast<WorkerState*>(palloc(sizeof(WorkerState) * count));
    LWLockAcquire(worker_states->lock, LW_SHARED);
    memcpy(copies, worker_states->workers, sizeof(WorkerState) * count);
    LWLockRelease(worker_states->lock);

    for (int i = 0; i < count; i++) {
        const WorkerState& w = copies[i];
        if (!w.in_use) continue;
        const SlotRetention retention =
            w.slot_name[0] ? slot_retention(w.slot_name, flushed) : SlotRetention();
        Datum values[kStatusColumns];
        bool nulls[kStatusColumns] = {};
        values[0] = DirectFunctionCall1(namein, CStringGetDatum(w.dbname));
        if (w.slot_name[0])
            values[1] = DirectFunctionCall1(namein, CStringGetDatum(w.slot_name));
        else
            nulls[1] = true;
        values[2] = CStringGetTextDatum(worker_phase_name(w.phase));
        values[3] = Int32GetDatum(w.pid);
        nulls[3] = w.pid == 0;
        values[4] = Int64GetDatum(w.snapshot_tables_done);
        values[5] = Int64GetDatum(w.snapshot_tables_total);
        values[6] = Int64GetDatum(w.snapshot_rows_done);
        values[7] = Int64GetDatum(w.snapshot_rows_total);
        values[8] = LSNGetDatum(w.last_commit_lsn);
        nulls[8] = w.last_commit_lsn == InvalidXLogRecPtr;
        values[9] = LSNGetDatum(w.confirmed_lsn);
        nulls[9] = w.confirmed_lsn == InvalidXLogRecPtr;
        values[10] = Int64GetDatum(static_cast<int64>(flushed - w.confirmed_lsn));
        nulls[10] = w.confirmed_lsn == InvalidXLogRecPtr || flushed < w.confirmed_lsn;
        nulls[11] = retention.wal_status == nullptr;
        if (!nulls[11]) values[11] = CStringGetTextDatum(retention.wal_status);
        values[12] = Int64GetDatum(retention.retained_bytes);
        nulls[12] = retention.retained_bytes < 0;
        values[13] = Int64GetDatum(w.produced);
        values[14] = Int64GetDatum(w.acknowledged);
        values[15] = Int64GetDatum(w.skipped);
        values[16] = CStringGetTextDatum(w.last_error);
        nulls[16] = w.last_error[0] == '\0';
        values[17] = CStringGetTextDatum(w.last_error_hint);
        nulls[17] = w.last_error_hint[0] == '\0';
        values[18] = TimestampTzGetDatum(w.last_error_time);
        nulls[18] = w.last_error_time == 0;
        values[19] = TimestampTzGetDatum(w.last_error_cleared_time);
        nulls[19] = w.last_error_cleared_time == 0;
        if (layout == kStatusColumns) {
            tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
            continue;
        }
        Datum old_values[kStatusColumns010];
        bool old_nulls[kStatusColumns010];
        for (int c = 0; c < kStatusColumns010; c++) {
            old_values[c] = values[kStatusColumnsOf010[c]];
            old_nulls[c] = nulls[kStatusColumnsOf010[c]];
        }
        tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, old_values, old_nulls);
    }
    return (Datum)0;
}

}  // extern "C"
