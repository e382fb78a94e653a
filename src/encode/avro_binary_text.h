// An Avro binary value shown as Avro-JSON text: a key in the worker's messages, so that a change
// Kafka refuses can be named by it whatever the output format, and the other key in the debezium
// envelope's key-change headers.
#pragma once

#include <string>
#include <string_view>

namespace bw {

// Spaced: a space after each ':' and ',', for people; Compact: none, as Kafka Connect writes JSON.
enum class JsonSpacing { Spaced, Compact };

// Decodes `body` (Avro binary, no wire-format header) with `schema_json`; throws
// std::runtime_error with avro-c's reason when it cannot.
std::string avro_binary_as_json(const std::string& schema_json, std::string_view body,
                                JsonSpacing spacing = JsonSpacing::Spaced);

}  // namespace bw
