// Incremental snapshots, the table side: reads the next chunk of one table in key order under a
// snapshot that holds every commit the stream may already have decoded, and encodes its rows as
// the stream encodes the table's changes (capture set's columns and row filter, partitions as
// their root). Called by the worker between decoding passes, inside a transaction.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/rel.h"
}

#include <string>
#include <vector>

#include "snapshot/chunk_reconciler.h"

namespace bw {

enum class ChunkOutcome { Read, TableGone, Refused };

// Fills `chunk` with up to `limit` rows of table `relid` whose key is past `position` (the last
// key read, as text; empty: from the start), fewer once their encoded keys and values reach
// `max_bytes` (the row that reaches it is the chunk's last). Refused (with `*why` palloc'd) when
// the table can no longer be snapshotted: outside the capture set, or without a key.
ChunkOutcome read_chunk(Oid relid, const std::vector<std::string>& position, int limit,
                        size_t max_bytes, SnapshotChunk& chunk, char** why);

// Why `relation` (a table) cannot be snapshotted incrementally, palloc'd, or nullptr: bw_snapshot
// asks before queueing it. Needs a transaction.
char* snapshot_refusal(Relation relation);

}  // namespace bw
