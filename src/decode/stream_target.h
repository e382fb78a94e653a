// The relation a change is sent as: the changed table itself, or the partition tree's root (or
// the ancestor publish_via_partition_root names), whose topic, schema and column order the
// partition's rows are converted to. Used by decoding and by the snapshot alike.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/tupconvert.h"
#include "executor/tuptable.h"
#include "utils/rel.h"
}

namespace bw {

// A partition's conversion map to its target, kept across its changes in a memory context of
// its own, over copies of both descriptors (a relcache rebuild may free the relations' own).
// forget() when either relation changes.
struct TargetMap {
    bool built = false;
    TupleConversionMap* map = nullptr;  // null when the column orders agree
    MemoryContext context = nullptr;
    void forget();
};

struct StreamTarget {
    Relation relation = nullptr;
    TupleConversionMap* map = nullptr;  // null when the column orders agree
    bool opened = false;                // relation is an ancestor this opened
};

// `stream_as` as TableCapture says; InvalidOid: `source` itself. With `cached`, the map is the
// one kept there (built under `parent` the first time); without, it lives in the current
// memory context.
StreamTarget open_stream_target(Relation source, Oid stream_as, TargetMap* cached = nullptr,
                                MemoryContext parent = nullptr);
// A tuple of `source` in the target's column order; null stays null.
HeapTuple to_stream_target(const StreamTarget& target, HeapTuple tuple);
void close_stream_target(StreamTarget& target);

// A snapshot's row in `slot` (a tuple of `source`), detoasted (the encoder reads an on-disk
// TOAST pointer as "unchanged by this UPDATE") and in the target's column order; palloc'd in the
// current memory context.
HeapTuple snapshot_row(const StreamTarget& target, Relation source, TupleTableSlot* slot);

}  // namespace bw
