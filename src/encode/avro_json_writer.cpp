// Avro JSON encoding, spaced as the original Bottled Water printed it ("id": {"int": 1}):
// unions as {"<branch type name>": value} except null, bytes as \u00XX text.
#include "encode/avro_json_writer.h"

#include "encode/json_text.h"

namespace bw {

void AvroJsonWriter::write_bytes(const void* data, size_t length) {
    append_json_bytes(out_, data, length);
}

void AvroJsonWriter::begin_union(const AvroType& union_type, int branch) {
    const AvroType& chosen = *union_type.branches[branch];
    if (chosen.kind == AvroKind::Null) return;
    out_ += '{';
    append_json_string(out_, chosen.union_branch_name());
    out_ += ": ";
}

void AvroJsonWriter::end_union(const AvroType& union_type, int branch) {
    if (union_type.branches[branch]->kind != AvroKind::Null) out_ += '}';
}

}  // namespace bw
