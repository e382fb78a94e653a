// What the two JSON encodings of a value share: numbers, strings, records as objects and arrays,
// with their separators. AvroJsonWriter (Avro's JSON encoding) and ConnectJsonWriter (Kafka
// Connect's) add bytes and unions, where they differ.
#pragma once

#include <string_view>
#include <vector>

#include "encode/row_writer.h"

namespace bw {

class JsonTextWriter : public RowWriter {
public:
    void reset() override;
    const std::string& bytes() const override { return out_; }

    void write_null() override { out_ += "null"; }
    void write_boolean(bool value) override { out_ += value ? "true" : "false"; }
    void write_int(int32_t value) override { write_integer(value); }
    void write_long(int64_t value) override { write_integer(value); }
    void write_float(float value) override;
    void write_double(double value) override;
    void write_string(std::string_view utf8) override;
    void write_enum(const AvroType& enum_type, int symbol_index) override;

    void begin_record(const AvroType&) override { open('{'); }
    void field(const AvroField& field) override;
    void end_record() override { close('}'); }

    void begin_array(size_t) override { open('['); }
    void item() override { separate(); }
    void end_array() override { close(']'); }

protected:
    // `comma` goes between elements, `colon` between a field's name and its value.
    JsonTextWriter(std::string_view comma, std::string_view colon) : comma_(comma), colon_(colon) {}

    std::string out_;

private:
    void write_integer(int64_t value);
    void open(char bracket);
    void close(char bracket);
    void separate();

    std::string_view comma_;
    std::string_view colon_;
    // One entry per open record or array: whether it already holds an element.
    std::vector<bool> has_element_;
};

}  // namespace bw
