// Avro binary encoding of one value (a key or a row), the body of every Avro-format message.
#pragma once

#include "encode/row_buffer.h"
#include "encode/row_writer.h"

namespace bw {

class AvroBinaryWriter final : public RowWriter {
public:
    void reset() override { clear_row_buffer(out_); }
    const std::string& bytes() const override { return out_; }

    void write_null() override {}
    void write_boolean(bool value) override { out_ += static_cast<char>(value ? 1 : 0); }
    void write_int(int32_t value) override { write_varint(value); }
    void write_long(int64_t value) override { write_varint(value); }
    void write_float(float value) override;
    void write_double(double value) override;
    void write_bytes(const void* data, size_t length) override;
    void write_string(std::string_view utf8) override { write_bytes(utf8.data(), utf8.size()); }
    void write_enum(const AvroType&, int symbol_index) override { write_varint(symbol_index); }

    void begin_union(const AvroType&, int branch) override { write_varint(branch); }
    void end_union(const AvroType&, int) override {}

    void begin_record(const AvroType&) override {}
    void field(const AvroField&) override {}
    void end_record() override {}

    // One block holding every item, then the zero-length block that ends the array.
    void begin_array(size_t length) override;
    void item() override {}
    void end_array() override;

private:
    void write_varint(int64_t value);

    std::string out_;
};

}  // namespace bw
