// Kafka Connect's JSON form of one value, as its JsonConverter writes a payload: unions are
// transparent (a value or null), records are objects, bytes and decimals base64 strings, and
// nothing is spaced.
#pragma once

#include "encode/json_text_writer.h"

namespace bw {

class ConnectJsonWriter final : public JsonTextWriter {
public:
    ConnectJsonWriter() : JsonTextWriter(",", ":") {}

    void write_bytes(const void* data, size_t length) override;
    void begin_union(const AvroType&, int) override {}
    void end_union(const AvroType&, int) override {}
};

}  // namespace bw
