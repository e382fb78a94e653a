// Avro's JSON encoding of one value: the JSON output format, identical to the original Bottled
// Water's ({"id": {"int": 1}}), readable by any Avro JSON decoder given the same schema.
#pragma once

#include "encode/json_text_writer.h"

namespace bw {

class AvroJsonWriter final : public JsonTextWriter {
public:
    AvroJsonWriter() : JsonTextWriter(", ", ": ") {}

    void write_bytes(const void* data, size_t length) override;
    void begin_union(const AvroType& union_type, int branch) override;
    void end_union(const AvroType& union_type, int branch) override;
};

}  // namespace bw
