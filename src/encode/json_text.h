// JSON text primitives shared by the schema renderer, the Avro-JSON encoder and the SQL envelope.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bw {

// Appends a quoted JSON string; the input is UTF-8 and passes through, control characters,
// '"' and '\' are escaped.
void append_json_string(std::string& out, std::string_view utf8);

// Appends a JSON object whose members are the given names and string values, in their order.
void append_json_string_object(std::string& out,
                               const std::vector<std::pair<std::string, std::string>>& members);

// Appends Avro's JSON form of a bytes value: a string whose code points U+0000..U+00FF are the
// bytes. Every byte outside printable ASCII is written as \u00XX, so the text is pure ASCII and
// byte-exact on the way back (embedded zero bytes included).
void append_json_bytes(std::string& out, const void* data, size_t length);

// Shortest text that reads back as the same value; NaN and infinities as the strings
// "NaN", "Infinity", "-Infinity" (JSON has no literals for them).
void append_json_double(std::string& out, double value);
void append_json_float(std::string& out, float value);

}  // namespace bw

namespace bw {

// Appends bytes as a quoted base64 string (RFC 4648, padded): how Kafka Connect's JsonConverter
// writes bytes and decimals.
void append_json_base64(std::string& out, const void* data, size_t length);

}  // namespace bw
