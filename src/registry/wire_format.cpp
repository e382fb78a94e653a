// Registry phase: the Confluent wire format header (see wire_format.h).
#include "registry/wire_format.h"

namespace bw {

std::string confluent_frame(int32_t schema_id, std::string_view avro_body) {
    const auto id = static_cast<uint32_t>(schema_id);
    std::string framed;
    framed.reserve(5 + avro_body.size());
    framed += '\0';
    framed += static_cast<char>(id >> 24);
    framed += static_cast<char>(id >> 16);
    framed += static_cast<char>(id >> 8);
    framed += static_cast<char>(id);
    framed += avro_body;
    return framed;
}

}  // namespace bw
