// A second opinion on every generated schema: avro-c parses the text before it is used, so a
// naming or structure mistake fails loudly at the first change of a table instead of reaching
// consumers.
#pragma once

#include <string>

namespace bw {

// Throws std::runtime_error with avro-c's message when `schema_json` is not a valid Avro schema.
void check_schema_json(const std::string& schema_json);

}  // namespace bw
