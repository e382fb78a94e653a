// The per-database worker: bw_worker_main connects to its database, creates or resumes its slot,
// and streams decoded changes to Kafka until SIGTERM.
#pragma once

namespace bw {

// SIGTERM arrived: finish what can be finished quickly and exit.
bool stop_requested();

}  // namespace bw
