// Kafka Connect JSON payloads (see connect_json_writer.h).
#include "encode/connect_json_writer.h"

#include <charconv>

#include "encode/json_text.h"
#include "encode/row_buffer.h"

namespace bw {

void ConnectJsonWriter::reset() {
    clear_row_buffer(out_);
    has_element_.clear();
}

void ConnectJsonWriter::write_integer(int64_t value) {
    char digits[24];
    out_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

void ConnectJsonWriter::write_float(float value) {
    append_json_float(out_, value);
}

void ConnectJsonWriter::write_double(double value) {
    append_json_double(out_, value);
}

void ConnectJsonWriter::write_bytes(const void* data, size_t length) {
    append_json_base64(out_, data, length);
}

void ConnectJsonWriter::write_string(std::string_view utf8) {
    append_json_string(out_, utf8);
}

void ConnectJsonWriter::write_enum(const AvroType& enum_type, int symbol_index) {
    append_json_string(out_, enum_type.symbols[symbol_index]);
}

void ConnectJsonWriter::open(char bracket) {
    out_ += bracket;
    has_element_.push_back(false);
}

void ConnectJsonWriter::close(char bracket) {
    out_ += bracket;
    has_element_.pop_back();
}

void ConnectJsonWriter::separate() {
    if (has_element_.back()) out_ += ',';
    has_element_.back() = true;
}

void ConnectJsonWriter::field(const AvroField& field) {
    separate();
    append_json_string(out_, field.name);
    out_ += ':';
}

}  // namespace bw
