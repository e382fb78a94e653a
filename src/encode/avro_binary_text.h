// Error reporting: an Avro binary key shown as Avro-JSON text, so that a change Kafka refuses can
// be named by its key in the worker's messages, whatever the output format.
#pragma once

#include <string>
#include <string_view>

namespace bw {

// Decodes `body` (Avro binary, no wire-format header) with `schema_json`; throws
// std::runtime_error with avro-c's reason when it cannot.
std::string avro_binary_as_json(const std::string& schema_json, std::string_view body);

}  // namespace bw
