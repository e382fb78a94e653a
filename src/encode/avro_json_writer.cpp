// Avro JSON encoding, spaced as the original Bottled Water printed it ("id": {"int": 1}):
// unions as {"<branch type name>": value} except null, bytes as \u00XX text.
#include "encode/avro_json_writer.h"

#include <charconv>

#include "encode/json_text.h"
#include "encode/row_buffer.h"

namespace bw {

void AvroJsonWriter::reset() {
    clear_row_buffer(out_);
    has_element_.clear();
}

void AvroJsonWriter::write_integer(int64_t value) {
    char digits[24];
    out_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

void AvroJsonWriter::write_float(float value) {
    append_json_float(out_, value);
}
void AvroJsonWriter::write_double(double value) {
    append_json_double(out_, value);
}

void AvroJsonWriter::write_bytes(const void* data, size_t length) {
    append_json_bytes(out_, data, length);
}

void AvroJsonWriter::write_string(std::string_view utf8) {
    append_json_string(out_, utf8);
}

void AvroJsonWriter::write_enum(const AvroType& enum_type, int symbol_index) {
    append_json_string(out_, enum_type.symbols[symbol_index]);
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

void AvroJsonWriter::open(char bracket) {
    out_ += bracket;
    has_element_.push_back(false);
}

void AvroJsonWriter::close(char bracket) {
    out_ += bracket;
    has_element_.pop_back();
}

void AvroJsonWriter::separate() {
    if (has_element_.back()) out_ += ", ";
    has_element_.back() = true;
}

void AvroJsonWriter::field(const AvroField& field) {
    separate();
    append_json_string(out_, field.name);
    out_ += ": ";
}

void AvroJsonWriter::item() {
    separate();
}

}  // namespace bw
