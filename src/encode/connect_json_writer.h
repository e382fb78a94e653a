// Kafka Connect's JSON form of one value, as its JsonConverter writes a payload: unions are
// transparent (a value or null), records are objects, bytes and decimals base64 strings, and
// nothing is spaced.
#pragma once

#include <vector>

#include "encode/row_writer.h"

namespace bw {

class ConnectJsonWriter final : public RowWriter {
public:
    void reset() override;
    const std::string& bytes() const override { return out_; }

    void write_null() override { out_ += "null"; }
    void write_boolean(bool value) override { out_ += value ? "true" : "false"; }
    void write_int(int32_t value) override { write_integer(value); }
    void write_long(int64_t value) override { write_integer(value); }
    void write_float(float value) override;
    void write_double(double value) override;
    void write_bytes(const void* data, size_t length) override;
    void write_string(std::string_view utf8) override;
    void write_enum(const AvroType& enum_type, int symbol_index) override;

    void begin_union(const AvroType&, int) override {}
    void end_union(const AvroType&, int) override {}

    void begin_record(const AvroType&) override { open('{'); }
    void field(const AvroField& field) override;
    void end_record() override { close('}'); }

    void begin_array(size_t) override { open('['); }
    void item() override { separate(); }
    void end_array() override { close(']'); }

private:
    void write_integer(int64_t value);
    void open(char bracket);
    void close(char bracket);
    void separate();

    std::string out_;
    // One entry per open record or array: whether it already holds an element.
    std::vector<bool> has_element_;
};

}  // namespace bw
