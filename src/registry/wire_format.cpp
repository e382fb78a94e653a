// Registry phase: the Confluent wire format header (see wire_format.h).
#include "registry/wire_format.h"

namespace bw {

void confluent_frame_into(std::string& out, int32_t schema_id, std::string_view avro_body) {
    const auto id = static_cast<uint32_t>(schema_id);
    const char header[5] = {'\0', static_cast<char>(id >> 24), static_cast<char>(id >> 16),
                            static_cast<char>(id >> 8), static_cast<char>(id)};
    out.reserve(sizeof header + avro_body.size());
    out.assign(header, sizeof header);
    out += avro_body;
}

}  // namespace bw
