// Kafka Connect JSON payloads (see connect_json_writer.h).
#include "encode/connect_json_writer.h"

#include "encode/json_text.h"

namespace bw {

void ConnectJsonWriter::write_bytes(const void* data, size_t length) {
    append_json_base64(out_, data, length);
}

}  // namespace bw
