// Unit tests for Avro decimals as unscaled two's-complement bytes, on both sides of the 18 digits
// that take the int64 path.
#include "encode/decimal_bytes.h"

#include <gtest/gtest.h>

namespace bw {
namespace {

std::string bytes(std::initializer_list<int> values) {
    std::string out;
    for (int v : values) out += static_cast<char>(v);
    return out;
}

TEST(DecimalBytes, ShortestTwosComplementOfSmallValues) {
    EXPECT_EQ(decimal_text_to_unscaled_bytes("0"), bytes({0x00}));
    EXPECT_EQ(decimal_text_to_unscaled_bytes("1"), bytes({0x01}));
    EXPECT_EQ(decimal_text_to_unscaled_bytes("-1"), bytes({0xFF}));
    EXPECT_EQ(decimal_text_to_unscaled_bytes("127"), bytes({0x7F}));
    EXPECT_EQ(decimal_text_to_unscaled_bytes("128"), bytes({0x00, 0x80}));
    EXPECT_EQ(decimal_text_to_unscaled_bytes("-128"), bytes({0x80}));
    EXPECT_EQ(decimal_text_to_unscaled_bytes("-129"), bytes({0xFF, 0x7F}));
    // The point is dropped: the digits are the unscaled value.
    EXPECT_EQ(decimal_text_to_unscaled_bytes("12.34"), bytes({0x04, 0xD2}));
    EXPECT_EQ(decimal_text_to_unscaled_bytes("-0.00"), bytes({0x00}));
}

TEST(DecimalBytes, EighteenDigitsAndNineteen) {
    // 999999999999999999 = 0x0DE0B6B3A763FFFF, the largest the int64 path takes.
    EXPECT_EQ(decimal_text_to_unscaled_bytes("999999999999999999"),
              bytes({0x0D, 0xE0, 0xB6, 0xB3, 0xA7, 0x63, 0xFF, 0xFF}));
    EXPECT_EQ(decimal_text_to_unscaled_bytes("-99999999999999999.9"),
              bytes({0xF2, 0x1F, 0x49, 0x4C, 0x58, 0x9C, 0x00, 0x01}));
    // 9999999999999999999 = 0x8AC7230489E7FFFF: beyond int64, a sign byte in front.
    EXPECT_EQ(decimal_text_to_unscaled_bytes("9999999999999999999"),
              bytes({0x00, 0x8A, 0xC7, 0x23, 0x04, 0x89, 0xE7, 0xFF, 0xFF}));
    EXPECT_EQ(decimal_text_to_unscaled_bytes("-999999999999999999.9"),
              bytes({0xFF, 0x75, 0x38, 0xDC, 0xFB, 0x76, 0x18, 0x00, 0x01}));
    // Leading zeros count as digits but change nothing.
    EXPECT_EQ(decimal_text_to_unscaled_bytes("0000000000000000000001"), bytes({0x01}));
}

TEST(DecimalBytes, RefusesWhatIsNotAPlainNumber) {
    EXPECT_THROW(decimal_text_to_unscaled_bytes("NaN"), std::invalid_argument);
    EXPECT_THROW(decimal_text_to_unscaled_bytes("1e5"), std::invalid_argument);
}

TEST(DecimalBytes, Int64) {
    EXPECT_EQ(int64_to_unscaled_bytes(0), bytes({0x00}));
    EXPECT_EQ(int64_to_unscaled_bytes(-1), bytes({0xFF}));
    EXPECT_EQ(int64_to_unscaled_bytes(INT64_MIN),
              bytes({0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}));
}

}  // namespace
}  // namespace bw
