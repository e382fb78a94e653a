// How a worker process begins and ends: its claim on a database's WorkerState, SIGTERM, the
// exits it chooses (a configuration it can never run with, a stop) and the record bw_status keeps
// of the error that ended it.
//
// SIGTERM: from bw_stop (WorkerState::stop_requested) the worker stops for good; any other
// (pg_terminate_backend, the checkpointer invalidating the slot, a server shutdown) ends this
// process only, with exit code 1, and the postmaster starts it again, as it does PostgreSQL's own
// replication workers. The handler only sets a flag that the worker's loops test, except where
// set_sigterm_interrupts says the waits are PostgreSQL's own.
#pragma once

#include "worker/worker_state.h"

namespace bw {

// Before BackgroundWorkerUnblockSignals.
void install_sigterm_handler();

// Claims dbname's entry for this process and ties the process's exit and its errors to it.
// nullptr: the database has a live worker already, or bw_stop removed it while this one waited
// to start; the process should leave quietly.
WorkerState* claim_worker_state(const char* dbname);

// SIGTERM arrived: finish what can be finished quickly, then leave_after_sigterm().
bool stop_requested();

// While on, SIGTERM ends the process at once (PostgreSQL's die()): for waits that are
// PostgreSQL's own and notice only interrupts, where nothing of the worker's would survive the
// process anyway.
void set_sigterm_interrupts(bool on);

// Records the error where bw_status shows it, then leaves for good (not restarted).
[[noreturn]] void exit_with_config_error(const char* message, const char* hint);

// Ends the process after a SIGTERM: for good when bw_stop sent it, otherwise only this process,
// which the postmaster starts again. `next` says what becomes of the unfinished work.
[[noreturn]] void leave_after_sigterm(const char* next);

// Kafka's own waits do not watch the postmaster; the loops around them call this.
void exit_if_postmaster_died();

}  // namespace bw
