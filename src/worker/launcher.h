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

// What a worker does when its slot is missing. bw_start asks for a new slot; the launcher never
// does: after a server start the data directory may be a copy (base backup, file copy) of a
// server that still feeds the same topics. Kept in the registration, so a worker the postmaster
// restarts after a crash (e.g. during its first snapshot) still may.
enum class MissingSlot : int32 { Refuse = 0, Create = 1 };

// Registers the worker of `dbname`; false when no background worker slot is free. With
// notify_pid the caller can wait for it through *handle.
bool launch_worker(const char* dbname, MissingSlot missing_slot, pid_t notify_pid,
                   BackgroundWorkerHandle** handle);

}  // namespace bw
