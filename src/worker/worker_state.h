// Shared memory: one WorkerState per database being streamed, read by bw_status() and bw_start()
// and written by the worker itself. Created only when the library is preloaded.
//
// Concurrency: `lock` (a named LWLock tranche) guards which entries are in use and their
// dbname/pid, so bw_start, the launcher and a restarting worker agree on one worker per database.
// A worker updates its own phase, counters and error under the same lock; bw_status takes it
// shared and may see counters a moment old.
//
// States: starting → (snapshot →) streaming ⇄ backoff. A worker that fails (an ERROR, or a SIGTERM
// that bw_stop did not send) is `restarting` while the postmaster waits bgw_restart_time; one that
// can never run with its configuration or its slot is `error`; bw_stop leads to `stopped`.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "storage/lwlock.h"
}

namespace bw {

enum class WorkerPhase : int { Starting, Snapshot, Streaming, Backoff, Restarting, Error, Stopped };

const char* worker_phase_name(WorkerPhase phase);

struct WorkerState {
    bool in_use;
    char dbname[NAMEDATALEN];
    char slot_name[NAMEDATALEN];
    // bottledwater.topic_prefix of the running worker: two workers may not write the same topics.
    char topic_prefix[128];
    pid_t pid;  // 0 when no process runs for this entry
    WorkerPhase phase;
    // Set by bw_stop before it signals the worker: a SIGTERM without it is not a request to stop.
    bool stop_requested;
    int64 snapshot_tables_done;
    int64 snapshot_tables_total;
    int64 snapshot_rows_done;
    int64 snapshot_rows_total;
    // Bumped by bw_snapshot and bw_snapshot_cancel when they commit: the worker reads its queue
    // of incremental snapshots again only when this moved.
    uint64 snapshot_requests;
    XLogRecPtr last_commit_lsn;
    XLogRecPtr confirmed_lsn;
    int64 produced;
    int64 acknowledged;
    int64 skipped;  // changes given up under on_error = log
    char last_error[512];
    char last_error_hint[256];
    TimestampTz last_error_time;
    // When the worker saw the error's cause gone (0 while it still holds).
    TimestampTz last_error_cleared_time;
};

struct WorkerStates {
    LWLock* lock;
    int count;
    WorkerState workers[FLEXIBLE_ARRAY_MEMBER];
};

// Null unless shared memory was set up at server start (the library is preloaded).
extern WorkerStates* worker_states;

void install_shmem_hooks();

// An error for SQL functions that need the workers, when the library was not preloaded.
void require_preloaded();

// Callers hold worker_states->lock.
WorkerState* find_worker_state(const char* dbname);
WorkerState* claim_free_worker_state(const char* dbname);

// Records `prefix` as the topic prefix `self` writes with, unless another running worker already
// writes with it: then returns false and that worker's database in `rival_dbname`
// (NAMEDATALEN bytes). Both under the lock, so two workers starting at once cannot both win.
bool claim_topic_prefix(WorkerState* self, const char* prefix, char* rival_dbname);
// Records an error (and what to do about it, if known) for bw_status; takes the lock itself.
void report_worker_error(WorkerState* state, const char* message, const char* hint = nullptr);
// Marks the last error as past: the worker has recovered from it. Takes the lock itself.
void clear_worker_error(WorkerState* state);
void set_worker_phase(WorkerState* state, WorkerPhase phase);

}  // namespace bw
