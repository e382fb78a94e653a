// Registry phase, last step before producing: frames an Avro-encoded key or value in the Confluent
// wire format, so any Schema Registry-aware consumer can find the schema it was written with.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bw {

// Magic byte 0, the schema id as 4 big-endian bytes, then the Avro binary body.
std::string confluent_frame(int32_t schema_id, std::string_view avro_body);

}  // namespace bw
