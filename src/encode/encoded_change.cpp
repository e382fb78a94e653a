// Names of change operations as they appear in every output.
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

}  // namespace bw
