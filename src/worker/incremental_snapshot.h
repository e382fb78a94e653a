// Incremental snapshots, the worker's side: the queue bw_snapshot fills (a table of the
// extension, never captured), one chunk read per decoding pass while a table is queued, its
// watermark written, and each chunk's position kept durably once Kafka acknowledged its rows.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/xlogdefs.h"
}

#include "encode/encoded_change.h"
#include "worker/worker_state.h"

namespace bw {

// The sink decoding must hand its changes to, in front of `stream`. Once per process.
// `send_queued` starts sending what the stream queued (a chunk's rows among it) before the next
// chunk is read, so that Kafka acknowledges a chunk while the worker reads the next.
ChangeSink* start_incremental_snapshots(ChangeSink& stream, WorkerState* state,
                                        const char* slot_name, void (*send_queued)());

// Between decoding passes, outside any transaction: records the chunks acknowledged at or below
// `acknowledged_lsn`, and reads the next chunk when no chunk is on its way. True while a
// snapshot has work left, so the worker does not sleep between passes.
bool run_incremental_snapshots(XLogRecPtr acknowledged_lsn);

// The progress table (bw_snapshot_progress, in the extension's schema), quoted and qualified,
// palloc'd; nullptr when the extension is not created in this database, or is older than 0.2.0.
// SPI connected.
char* snapshot_progress_table();

// Queues every table of the capture set (bottledwater.initial_snapshot = incremental). Needs a
// transaction; false when the extension is not created in this database.
bool queue_every_captured_table();

}  // namespace bw
