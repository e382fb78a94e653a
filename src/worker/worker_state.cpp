// Shared memory for the workers' state (see worker_state.h): sizing, creation and lookup.
#include "worker/worker_state.h"

extern "C" {
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
}

#include <initializer_list>

#include "worker/settings.h"

namespace bw {

WorkerStates* worker_states = nullptr;

namespace {

constexpr const char* kTranche = "bottledwater";

shmem_request_hook_type previous_shmem_request = nullptr;
shmem_startup_hook_type previous_shmem_startup = nullptr;

Size states_size() {
    return add_size(offsetof(WorkerStates, workers),
                    mul_size(setting_max_workers, sizeof(WorkerState)));
}

void request_shmem() {
    if (previous_shmem_request) previous_shmem_request();
    RequestAddinShmemSpace(states_size());
    RequestNamedLWLockTranche(kTranche, 1);
}

void startup_shmem() {
    if (previous_shmem_startup) previous_shmem_startup();
    bool found;
    LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
    worker_states = static_cast<WorkerStates*>(ShmemInitStruct(kTranche, states_size(), &found));
    if (!found) {
        memset(worker_states, 0, states_size());
        worker_states->lock = &(GetNamedLWLockTranche(kTranche))->lock;
        worker_states->count = setting_max_workers;
    }
    LWLockRelease(AddinShmemInitLock);
}

}  // namespace

const char* worker_phase_name(WorkerPhase phase) {
    switch (phase) {
        case WorkerPhase::Starting: return "starting";
        case WorkerPhase::Snapshot: return "snapshot";
        case WorkerPhase::Streaming: return "streaming";
        case WorkerPhase::Backoff: return "backoff";
        case WorkerPhase::Restarting: return "restarting";
        case WorkerPhase::Error: return "error";
        case WorkerPhase::Stopped: return "stopped";
    }
    return "unknown";
}

void install_shmem_hooks() {
    previous_shmem_request = shmem_request_hook;
    shmem_request_hook = request_shmem;
    previous_shmem_startup = shmem_startup_hook;
    shmem_startup_hook = startup_shmem;
}

void require_preloaded() {
    if (worker_states == nullptr)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("bottledwater is not loaded at server start"),
                        errhint("Add shared_preload_libraries = 'bottledwater' to "
                                "postgresql.conf and restart the server.")));
}

WorkerState* find_worker_state(const char* dbname) {
    for (int i = 0; i < worker_states->count; i++) {
        WorkerState* state = &worker_states->workers[i];
        if (state->in_use && strcmp(state->dbname, dbname) == 0) return state;
    }
    return nullptr;
}

// A free entry, else the one of a database whose worker has stopped (bw_status forgets it),
// else one whose worker cannot run, else one whose worker failed and waits for its restart (it
// takes a new entry when it returns).
WorkerState* claim_free_worker_state(const char* dbname) {
    WorkerState* chosen = nullptr;
    for (int i = 0; i < worker_states->count && chosen == nullptr; i++) {
        if (!worker_states->workers[i].in_use) chosen = &worker_states->workers[i];
    }
    for (const WorkerPhase reusable :
         {WorkerPhase::Stopped, WorkerPhase::Error, WorkerPhase::Restarting}) {
        for (int i = 0; i < worker_states->count && chosen == nullptr; i++) {
            WorkerState* state = &worker_states->workers[i];
            if (state->pid == 0 && state->phase == reusable) chosen = state;
        }
    }
    if (chosen == nullptr) return nullptr;
    memset(chosen, 0, sizeof *chosen);
    chosen->in_use = true;
    strlcpy(chosen->dbname, dbname, sizeof chosen->dbname);
    chosen->phase = WorkerPhase::Starting;
    return chosen;
}

bool claim_topic_prefix(WorkerState* self, const char* prefix, char* rival_dbname) {
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    for (int i = 0; i < worker_states->count; i++) {
        const WorkerState* other = &worker_states->workers[i];
        if (other == self || !other->in_use || other->pid == 0) continue;
        if (strcmp(other->topic_prefix, prefix) != 0) continue;
        strlcpy(rival_dbname, other->dbname, NAMEDATALEN);
        LWLockRelease(worker_states->lock);
        return false;
    }
    strlcpy(self->topic_prefix, prefix, sizeof self->topic_prefix);
    LWLockRelease(worker_states->lock);
    return true;
}

void report_worker_error(WorkerState* state, const char* message, const char* hint) {
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    strlcpy(state->last_error, message, sizeof state->last_error);
    strlcpy(state->last_error_hint, hint ? hint : "", sizeof state->last_error_hint);
    state->last_error_time = GetCurrentTimestamp();
    state->last_error_cleared_time = 0;
    LWLockRelease(worker_states->lock);
}

void clear_worker_error(WorkerState* state) {
    // Read unlocked first: only the worker itself writes its error while it runs, and it calls
    // this after every pass.
    if (state->last_error[0] == '\0' || state->last_error_cleared_time != 0) return;
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    if (state->last_error[0] != '\0' && state->last_error_cleared_time == 0)
        state->last_error_cleared_time = GetCurrentTimestamp();
    LWLockRelease(worker_states->lock);
}

void set_worker_phase(WorkerState* state, WorkerPhase phase) {
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    state->phase = phase;
    LWLockRelease(worker_states->lock);
}

}  // namespace bw
