// Avro binary encoding: zig-zag varints, length-prefixed bytes, little-endian IEEE floats.
#include "encode/avro_binary_writer.h"

#include <cstring>

namespace bw {

void AvroBinaryWriter::write_varint(int64_t value) {
    uint64_t zigzag = (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
    while (zigzag >= 0x80) {
        out_ += static_cast<char>((zigzag & 0x7F) | 0x80);
        zigzag >>= 7;
    }
    out_ += static_cast<char>(zigzag);
}

template <typename T>
static void append_little_endian(std::string& out, T value) {
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "Avro floats are little-endian");
    char raw[sizeof(T)];
    std::memcpy(raw, &value, sizeof(T));
    out.append(raw, sizeof(T));
}

void AvroBinaryWriter::write_float(float value) {
    append_little_endian(out_, value);
}
void AvroBinaryWriter::write_double(double value) {
    append_little_endian(out_, value);
}

void AvroBinaryWriter::write_bytes(const void* data, size_t length) {
    write_varint(static_cast<int64_t>(length));
    out_.append(static_cast<const char*>(data), length);
}

void AvroBinaryWriter::begin_array(size_t length) {
    if (length > 0) write_varint(static_cast<int64_t>(length));
}

void AvroBinaryWriter::end_array() {
    write_varint(0);
}

}  // namespace bw
