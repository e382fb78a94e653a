// Avro JSON encoding, spaced as the original Bottled Water printed it ("id": {"int": 1}):
// unions as {"<branch type name>": value} except null, bytes as \u00XX text.
#include "encode/avro_json_writer.h"

#include <array>
#include <string>

#include "encode/json_text.h"

namespace bw {

void AvroJsonWriter::write_bytes(const void* data, size_t length) {
    append_json_bytes(out_, data, length);
}

namespace {

constexpr int kKinds = static_cast<int>(AvroKind::Union) + 1;

// `{"long": ` and the like, by kind: how a union holding a value of an unnamed type opens, the
// same for every value, so it is built once instead of quoted again for each.
const std::array<std::string, kKinds>& unnamed_branch_openings() {
    static const std::array<std::string, kKinds> openings = [] {
        std::array<std::string, kKinds> built;
        for (int kind = 0; kind < kKinds; kind++) {
            AvroType type;
            type.kind = static_cast<AvroKind>(kind);
            built[kind] = "{";
            append_json_string(built[kind], type.union_branch_name());
            built[kind] += ": ";
        }
        return built;
    }();
    return openings;
}

}  // namespace

void AvroJsonWriter::begin_union(const AvroType& union_type, int branch) {
    const AvroType& chosen = *union_type.branches[branch];
    if (chosen.kind == AvroKind::Null) return;
    if (!chosen.is_named()) {
        out_ += unnamed_branch_openings()[static_cast<int>(chosen.kind)];
        return;
    }
    out_ += '{';
    append_json_string(out_, chosen.union_branch_name());
    out_ += ": ";
}

void AvroJsonWriter::end_union(const AvroType& union_type, int branch) {
    if (union_type.branches[branch]->kind != AvroKind::Null) out_ += '}';
}

}  // namespace bw
