// The per-database worker: bw_worker_main connects to its database, creates or resumes its slot,
// and streams decoded changes to Kafka until SIGTERM.
#pragma once

namespace bw {

// SIGTERM arrived: finish what can be finished quickly, then leave_after_sigterm().
bool stop_requested();

// Ends the process after a SIGTERM: for good when bw_stop sent it, otherwise only this process,
// which the postmaster starts again. `next` says what becomes of the unfinished work.
[[noreturn]] void leave_after_sigterm(const char* next);

// Kafka's own waits do not watch the postmaster; the loops around them call this.
void exit_if_postmaster_died();

}  // namespace bw
