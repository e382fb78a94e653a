// The per-database worker: bw_worker_main connects to its database, creates or resumes its slot,
// and streams decoded changes to Kafka until SIGTERM. The launcher starts it by name.
#pragma once

extern "C" {
#include "postgres.h"
#include "fmgr.h"

// main_arg: a MissingSlot (launcher.h), what to do when the slot does not exist.
PGDLLEXPORT void bw_worker_main(Datum main_arg);
}
