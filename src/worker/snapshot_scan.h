// The initial snapshot: every captured table (keyed, or all under allow_unkeyed) read under the
// new slot's exported snapshot and handed to the sink as inserts, through the same encoder as
// streaming.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/xlogdefs.h"
}

#include "worker/kafka_change_sink.h"

namespace bw {

// Call inside the transaction whose snapshot is the slot's initial snapshot, with that snapshot
// active. `publication` is bottledwater.publication: the tables its publications list (every
// table when empty), whatever operations they publish, as PostgreSQL's initial table sync does.
// Produces everything as one AckTracker transaction ending at `consistent_lsn`; the caller waits
// for its acknowledgement before persisting the slot.
void scan_snapshot(KafkaChangeSink& sink, WorkerState* state, bool allow_unkeyed,
                   const char* publication, XLogRecPtr consistent_lsn);

}  // namespace bw
