// A partition's rows as its ancestor's, and a snapshot's rows as the encoder takes them (see
// stream_target.h).
#include "decode/stream_target.h"

extern "C" {
#include "access/heaptoast.h"
#include "executor/executor.h"
#include "utils/memutils.h"
#include "utils/relcache.h"
}

namespace bw {

void TargetMap::forget() {
    if (context != nullptr) MemoryContextDelete(context);
    *this = TargetMap();
}

// The input descriptor keeps its constraints: they hold the values of columns added since a
// row was written (attmissingval), which deforming an old row reads.
static TupleConversionMap* build_kept_map(Relation source, Relation target, TargetMap& cached,
                                          MemoryContext parent) {
    if (cached.built) return cached.map;
    if (cached.context == nullptr)  // else left by a build that failed
        cached.context =
            AllocSetContextCreate(parent, "bottledwater partition map", ALLOCSET_SMALL_SIZES);
    MemoryContextReset(cached.context);
    MemoryContext old = MemoryContextSwitchTo(cached.context);
    cached.map = convert_tuples_by_name(CreateTupleDescCopyConstr(RelationGetDescr(source)),
                                        CreateTupleDescCopy(RelationGetDescr(target)));
    MemoryContextSwitchTo(old);
    cached.built = true;
    return cached.map;
}

StreamTarget open_stream_target(Relation source, Oid stream_as, TargetMap* cached,
                                MemoryContext parent) {
    StreamTarget target;
    if (!OidIsValid(stream_as) || stream_as == RelationGetRelid(source)) {
        target.relation = source;
        return target;
    }
    // In decoding this is the ancestor as the historic snapshot shows it, as pgoutput opens it.
    target.relation = RelationIdGetRelation(stream_as);
    if (!RelationIsValid(target.relation))
        elog(ERROR, "bottledwater: could not open relation with OID %u", stream_as);
    target.opened = true;
    target.map = cached != nullptr ? build_kept_map(source, target.relation, *cached, parent)
                                   : convert_tuples_by_name(RelationGetDescr(source),
                                                            RelationGetDescr(target.relation));
    return target;
}

HeapTuple to_stream_target(const StreamTarget& target, HeapTuple tuple) {
    if (tuple == nullptr || target.map == nullptr) return tuple;
    return execute_attr_map_tuple(tuple, target.map);
}

void close_stream_target(StreamTarget& target) {
    if (target.opened) RelationClose(target.relation);
    target = StreamTarget();
}

HeapTuple snapshot_row(const StreamTarget& target, Relation source, TupleTableSlot* slot) {
    bool should_free;
    HeapTuple stored = ExecFetchSlotHeapTuple(slot, false, &should_free);
    return to_stream_target(target, HeapTupleHasExternal(stored)
                                        ? toast_flatten_tuple(stored, RelationGetDescr(source))
                                        : stored);
}

}  // namespace bw
