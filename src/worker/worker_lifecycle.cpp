// A worker process's claim on its WorkerState, its SIGTERM and its exits (see worker_lifecycle.h).
#include "worker/worker_lifecycle.h"

extern "C" {
#include "postgres.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/timestamp.h"
}

#include "worker/autostart.h"
#include "worker/settings.h"
#include "worker/slot_retention.h"

namespace bw {

namespace {

volatile sig_atomic_t got_sigterm = false;
volatile sig_atomic_t sigterm_interrupts = false;

WorkerState* my_state = nullptr;
// Set when exiting on purpose with a configuration error, so the exit hook keeps state `error`.
bool exiting_with_config_error = false;

void handle_sigterm(SIGNAL_ARGS) {
    int save_errno = errno;
    got_sigterm = true;
    if (sigterm_interrupts) die(postgres_signal_arg);
    SetLatch(MyLatch);
    errno = save_errno;
}

// bw_stop sets the flag before it signals, so the flag is visible once SIGTERM has arrived.
bool stop_asked_by_bw_stop() {
    return my_state != nullptr && my_state->stop_requested;
}

void on_worker_exit(int code, Datum) {
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    my_state->pid = 0;
    if (my_state->stop_requested || (code == 0 && !exiting_with_config_error))
        my_state->phase = WorkerPhase::Stopped;
    else if (exiting_with_config_error)
        my_state->phase = WorkerPhase::Error;
    else
        my_state->phase = WorkerPhase::Restarting;
    LWLockRelease(worker_states->lock);
}

// Whoever held emit_log_hook before this worker installed remember_error: still called.
emit_log_hook_type previous_emit_log_hook = nullptr;

// An ERROR ends the process before any code of ours runs again: keep its message for bw_status.
// The FATAL of a stop that bw_stop asked for during slot creation is no error.
// No lock: the hook may run while the lock is held by this very process, and a torn read of a
// message is harmless.
void remember_error(ErrorData* edata) {
    if (edata->elevel >= ERROR && edata->message != nullptr &&
        !(edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN && stop_asked_by_bw_stop())) {
        strlcpy(my_state->last_error, edata->message, sizeof my_state->last_error);
        strlcpy(my_state->last_error_hint, edata->hint ? edata->hint : "",
                sizeof my_state->last_error_hint);
        my_state->last_error_time = GetCurrentTimestamp();
        my_state->last_error_cleared_time = 0;
    }
    if (previous_emit_log_hook != nullptr) previous_emit_log_hook(edata);
}

// One worker per database.
WorkerState* claim_state(const char* dbname) {
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    if (!autostart_contains(dbname)) {
        LWLockRelease(worker_states->lock);
        return nullptr;
    }
    WorkerState* state = find_worker_state(dbname);
    if (state != nullptr && state->pid != 0) {
        LWLockRelease(worker_states->lock);
        ereport(LOG, (errmsg("bottledwater: database \"%s\" already has a worker (pid %d)", dbname,
                             static_cast<int>(state->pid))));
        return nullptr;
    }
    if (state == nullptr) state = claim_free_worker_state(dbname);
    if (state == nullptr) {
        LWLockRelease(worker_states->lock);
        ereport(ERROR,
                (errmsg("bottledwater: all %d worker entries are in use", setting_max_workers),
                 errhint("Raise bottledwater.max_workers (needs a restart).")));
    }
    state->pid = MyProcPid;
    state->phase = WorkerPhase::Starting;
    state->stop_requested = false;
    LWLockRelease(worker_states->lock);
    return state;
}

}  // namespace

void install_sigterm_handler() {
    pqsignal(SIGTERM, handle_sigterm);
}

WorkerState* claim_worker_state(const char* dbname) {
    my_state = claim_state(dbname);
    if (my_state == nullptr) return nullptr;
    before_shmem_exit(on_worker_exit, 0);
    previous_emit_log_hook = emit_log_hook;
    emit_log_hook = remember_error;
    return my_state;
}

bool stop_requested() {
    return got_sigterm;
}

void set_sigterm_interrupts(bool on) {
    sigterm_interrupts = on;
}

[[noreturn]] void exit_with_config_error(const char* message, const char* hint) {
    report_worker_error(my_state, message, hint);
    set_worker_phase(my_state, WorkerPhase::Error);
    exiting_with_config_error = true;
    ereport(LOG, (errmsg("bottledwater: worker of database \"%s\" cannot run: %s", my_state->dbname,
                         message),
                  hint ? errhint("%s", hint) : 0));
    proc_exit(0);
}

[[noreturn]] void leave_after_sigterm(const char* next) {
    if (stop_asked_by_bw_stop()) {
        ereport(LOG, (errmsg("bottledwater: worker of database \"%s\" stopped by bw_stop; %s",
                             my_state->dbname, next)));
        proc_exit(0);
    }
    // The checkpointer terminates the holder of a slot whose WAL it is about to remove.
    const char* wal_status =
        slot_retention(my_state->slot_name, GetFlushRecPtr(nullptr)).wal_status;
    if (wal_status != nullptr && strcmp(wal_status, "unreserved") == 0)
        report_worker_error(my_state,
                            "terminated while its slot's WAL was beyond max_slot_wal_keep_size: "
                            "the checkpointer is invalidating the slot",
                            "Raise max_slot_wal_keep_size to let a worker lag further behind.");
    else
        report_worker_error(my_state,
                            "terminated by a SIGTERM that bw_stop did not send "
                            "(pg_terminate_backend, or a server shutdown); it restarts",
                            "bw_stop stops the worker for good.");
    ereport(LOG, (errmsg("bottledwater: worker of database \"%s\" terminated without bw_stop; it "
                         "restarts, and %s",
                         my_state->dbname, next)));
    proc_exit(1);
}

void exit_if_postmaster_died() {
    if (!PostmasterIsAlive()) proc_exit(1);
}

}  // namespace bw
