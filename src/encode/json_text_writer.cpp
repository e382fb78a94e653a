// The shared part of the JSON encoders (see json_text_writer.h).
#include "encode/json_text_writer.h"

#include <charconv>

#include "encode/json_text.h"
#include "encode/row_buffer.h"

namespace bw {

void JsonTextWriter::reset() {
    clear_row_buffer(out_);
    has_element_.clear();
}

void JsonTextWriter::write_integer(int64_t value) {
    char digits[24];
    out_.append(digits, std::to_chars(digits, digits + sizeof digits, value).ptr);
}

void JsonTextWriter::write_float(float value) {
    append_json_float(out_, value);
}

void JsonTextWriter::write_double(double value) {
    append_json_double(out_, value);
}

void JsonTextWriter::write_string(std::string_view utf8) {
    append_json_string(out_, utf8);
}

void JsonTextWriter::write_enum(const AvroType& enum_type, int symbol_index) {
    append_json_string(out_, enum_type.symbols[symbol_index]);
}

void JsonTextWriter::open(char bracket) {
    out_ += bracket;
    has_element_.push_back(false);
}

void JsonTextWriter::close(char bracket) {
    out_ += bracket;
    has_element_.pop_back();
}

void JsonTextWriter::separate() {
    if (has_element_.back()) out_ += comma_;
    has_element_.back() = true;
}

void JsonTextWriter::field(const AvroField& field) {
    separate();
    append_json_string(out_, field.name);
    out_ += colon_;
}

}  // namespace bw
