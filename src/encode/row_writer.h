// The encoder interface: the decoder walks a row against its Avro schema and calls these methods,
// so one walk serves both output formats with no intermediate row object.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "schema/avro_schema.h"

namespace bw {

class RowWriter {
public:
    virtual ~RowWriter() = default;

    // Starts a fresh top-level value in the writer's buffer.
    virtual void reset() = 0;
    virtual const std::string& bytes() const = 0;

    virtual void write_null() = 0;
    virtual void write_boolean(bool value) = 0;
    virtual void write_int(int32_t value) = 0;
    virtual void write_long(int64_t value) = 0;
    virtual void write_float(float value) = 0;
    virtual void write_double(double value) = 0;
    virtual void write_bytes(const void* data, size_t length) = 0;
    virtual void write_string(std::string_view utf8) = 0;
    virtual void write_enum(const AvroType& enum_type, int symbol_index) = 0;

    // A union value: the branch, then exactly one value of that branch's type.
    virtual void begin_union(const AvroType& union_type, int branch) = 0;
    virtual void end_union(const AvroType& union_type, int branch) = 0;

    // A record: field() before each field's value, in schema order.
    virtual void begin_record(const AvroType& record) = 0;
    virtual void field(const AvroField& field) = 0;
    virtual void end_record() = 0;

    // An array of a known length: item() before each item.
    virtual void begin_array(size_t length) = 0;
    virtual void item() = 0;
    virtual void end_array() = 0;
};

}  // namespace bw
