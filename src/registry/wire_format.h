// Registry phase, last step before producing: frames an Avro-encoded key or value in the Confluent
// wire format, so any Schema Registry-aware consumer can find the schema it was written with.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bw {

// Magic byte 0, the schema id as 4 big-endian bytes, then the Avro binary body, into `out`,
// replacing what it held: a buffer reused for every message keeps its memory, where a new
// string would be allocated per message.
void confluent_frame_into(std::string& out, int32_t schema_id, std::string_view avro_body);

}  // namespace bw
