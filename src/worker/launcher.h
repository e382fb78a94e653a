// Starting workers: the static launcher that brings back, at server start, every database on the
// autostart list, and the registration of one dynamic worker per database that it and bw_start
// share.
#pragma once

extern "C" {
#include "postgres.h"
#include "postmaster/bgworker.h"
}

namespace bw {

// From _PG_init while preloading.
void register_launcher();

// Registers the worker of `dbname`; false when no background worker slot is free. With
// notify_pid the caller can wait for it through *handle.
bool launch_worker(const char* dbname, pid_t notify_pid, BackgroundWorkerHandle** handle);

}  // namespace bw
