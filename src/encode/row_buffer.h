// Encode phase: the byte buffers reused for every row. Reuse saves an allocation per row, but a
// buffer must not keep the capacity of one huge row for the life of the worker.
#pragma once

#include <cstddef>
#include <string>

namespace bw {

// Rows up to this size reuse the buffer's memory; a larger one's is given back.
constexpr size_t kKeptRowBufferBytes = 1 << 20;

inline void clear_row_buffer(std::string& buffer) {
    if (buffer.capacity() > kKeptRowBufferBytes)
        std::string().swap(buffer);
    else
        buffer.clear();
}

}  // namespace bw
