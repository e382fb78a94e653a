// Unit tests for the Confluent wire-format header put in front of every Avro key and value.
#include "registry/wire_format.h"

#include <gtest/gtest.h>

namespace bw {
namespace {

TEST(ConfluentFrame, MagicByteThenBigEndianIdThenBody) {
    const std::string body("\x02\x00\xff", 3);
    std::string framed;
    confluent_frame_into(framed, 0x01020304, body);
    EXPECT_EQ(framed, std::string("\x00\x01\x02\x03\x04\x02\x00\xff", 8));
}

TEST(ConfluentFrame, HighIdBytesAndEmptyBody) {
    std::string framed;
    confluent_frame_into(framed, 0x7fffff80, "");
    EXPECT_EQ(framed, std::string("\x00\x7f\xff\xff\x80", 5));
}

// The buffer is reused for every message: what it held before is replaced, not appended to.
TEST(ConfluentFrame, ReplacesWhatTheBufferHeld) {
    std::string framed(100, 'x');
    confluent_frame_into(framed, 1, "ab");
    EXPECT_EQ(framed, std::string("\x00\x00\x00\x00\x01" "ab", 7));
}

}  // namespace
}  // namespace bw
