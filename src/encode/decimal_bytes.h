// Avro "decimal" values: the unscaled integer as big-endian two's-complement bytes, the
// shortest form (as Java's BigInteger.toByteArray gives it), so exact for any precision.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bw {

// `decimal_text` is a plain decimal number as PostgreSQL prints numeric ("-12.340"); its digits,
// with the point removed, are the unscaled value at the column's declared scale.
std::string decimal_text_to_unscaled_bytes(std::string_view decimal_text);

std::string int64_to_unscaled_bytes(int64_t unscaled);

}  // namespace bw
