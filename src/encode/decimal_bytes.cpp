// Decimal text / int64 → two's-complement big-endian bytes.
#include "encode/decimal_bytes.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <vector>

namespace bw {

namespace {

// Drops redundant leading sign bytes: 0x00 before a byte < 0x80, 0xFF before a byte >= 0x80.
std::string shortest_twos_complement(const uint8_t* big_endian, size_t length) {
    size_t start = 0;
    while (start + 1 < length) {
        uint8_t lead = big_endian[start], next = big_endian[start + 1];
        if ((lead == 0x00 && next < 0x80) || (lead == 0xFF && next >= 0x80))
            start++;
        else
            break;
    }
    return std::string(big_endian + start, big_endian + length);
}

// Up to 18 digits always fit in an int64: the unscaled value of such a text (most numerics), or
// nothing for a longer one or one that is not a plain decimal number (the general path judges).
std::optional<int64_t> small_unscaled(std::string_view decimal_text) {
    const bool negative = !decimal_text.empty() && decimal_text[0] == '-';
    int64_t magnitude = 0;
    int digits = 0;
    for (char c : decimal_text.substr(negative ? 1 : 0)) {
        if (c == '.') continue;
        if (c < '0' || c > '9' || ++digits > 18) return std::nullopt;
        magnitude = magnitude * 10 + (c - '0');
    }
    return negative ? -magnitude : magnitude;
}

}  // namespace

std::string decimal_text_to_unscaled_bytes(std::string_view decimal_text) {
    if (const std::optional<int64_t> unscaled = small_unscaled(decimal_text))
        return int64_to_unscaled_bytes(*unscaled);
    bool negative = !decimal_text.empty() && decimal_text[0] == '-';
    // Magnitude as little-endian base-256, built digit by digit (value = value * 10 + digit).
    std::vector<uint8_t> magnitude;
    for (char c : decimal_text.substr(negative ? 1 : 0)) {
        if (c == '.') continue;
        if (c < '0' || c > '9')
            throw std::invalid_argument("not a plain decimal number: " + std::string(decimal_text));
        unsigned carry = static_cast<unsigned>(c - '0');
        for (uint8_t& byte : magnitude) {
            unsigned product = byte * 10u + carry;
            byte = static_cast<uint8_t>(product & 0xFF);
            carry = product >> 8;
        }
        if (carry) magnitude.push_back(static_cast<uint8_t>(carry));
    }
    magnitude.push_back(0);  // room for the sign bit
    if (negative) {          // two's complement: invert and add one
        unsigned carry = 1;
        for (uint8_t& byte : magnitude) {
            unsigned sum = static_cast<uint8_t>(~byte) + carry;
            byte = static_cast<uint8_t>(sum & 0xFF);
            carry = sum >> 8;
        }
    }
    std::reverse(magnitude.begin(), magnitude.end());
    return shortest_twos_complement(magnitude.data(), magnitude.size());
}

// At most 8 bytes: the result fits std::string's inline buffer, no allocation.
std::string int64_to_unscaled_bytes(int64_t unscaled) {
    uint8_t big_endian[8];
    uint64_t bits = static_cast<uint64_t>(unscaled);
    for (int i = 7; i >= 0; i--, bits >>= 8) big_endian[i] = static_cast<uint8_t>(bits & 0xFF);
    return shortest_twos_complement(big_endian, sizeof big_endian);
}

}  // namespace bw
