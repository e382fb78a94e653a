// A partition's rows as its ancestor's (see stream_target.h).
#include "decode/stream_target.h"

extern "C" {
#include "utils/relcache.h"
}

namespace bw {

StreamTarget open_stream_target(Relation source, Oid stream_as) {
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
    target.map =
        convert_tuples_by_name(RelationGetDescr(source), RelationGetDescr(target.relation));
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

}  // namespace bw
