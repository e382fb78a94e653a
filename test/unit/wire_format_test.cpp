// Unit tests for the Confluent wire-format header put in front of every Avro key and value.
#include "registry/wire_format.h"

#include <gtest/gtest.h>

namespace bw {
namespace {

TEST(ConfluentFrame, MagicByteThenBigEndianIdThenBody) {
    const std::string body("\x02\x00\xff", 3);
    EXPECT_EQ(confluent_frame(0x01020304, body),
              std::string("\x00\x01\x02\x03\x04\x02\x00\xff", 8));
}

TEST(ConfluentFrame, HighIdBytesAndEmptyBody) {
    EXPECT_EQ(confluent_frame(0x7fffff80, ""), std::string("\x00\x7f\xff\xff\x80", 5));
}

}  // namespace
}  // namespace bw
