// Names of change operations and snapshot marks as they appear in the outputs.
#include "encode/encoded_change.h"

namespace bw {

const char* change_op_name(ChangeOp op) {
    switch (op) {
        case ChangeOp::Insert: return "insert";
        case ChangeOp::Update: return "update";
        case ChangeOp::Delete: return "delete";
        case ChangeOp::Truncate: return "truncate";
    }
    return "insert";
}

const char* snapshot_mark_name(SnapshotMark mark) {
    switch (mark) {
        case SnapshotMark::Row: return "true";
        case SnapshotMark::First: return "first";
        case SnapshotMark::FirstInTable: return "first_in_data_collection";
        case SnapshotMark::LastInTable: return "last_in_data_collection";
        case SnapshotMark::Last: return "last";
        case SnapshotMark::Incremental: return "incremental";
    }
    return "true";
}

}  // namespace bw
