// The autostart list: the databases bw_start has started and bw_stop has not stopped, one name a
// line in $PGDATA/bottledwater.autostart. The launcher reads it at server start so workers come
// back after a restart. Callers hold worker_states->lock exclusively to change it.
#pragma once

extern "C" {
#include "postgres.h"
#include "nodes/pg_list.h"
}

namespace bw {

// Names palloc'd in the current memory context.
List* autostart_databases();
bool autostart_contains(const char* dbname);
// Both rewrite the file atomically (write, fsync, durable rename).
void autostart_add(const char* dbname);
void autostart_remove(const char* dbname);

}  // namespace bw
