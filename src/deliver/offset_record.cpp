// Deliver phase, exactly-once: the offsets topic's keys and values (see offset_record.h).
#include "deliver/offset_record.h"

#include <cstdio>

namespace bw {

std::string offsets_key(uint64_t system_identifier, std::string_view database,
                        std::string_view slot) {
    return "bottledwater:" + std::to_string(system_identifier) + ":" + std::string(slot) + ":" +
           std::string(database);
}

std::string format_lsn(uint64_t lsn) {
    char text[32];
    std::snprintf(text, sizeof text, "%X/%X", static_cast<unsigned>(lsn >> 32),
                  static_cast<unsigned>(lsn & 0xFFFFFFFFu));
    return text;
}

namespace {

// Up to 8 hex digits, at least one.
std::optional<uint64_t> parse_hex_word(std::string_view text) {
    if (text.empty() || text.size() > 8) return std::nullopt;
    uint64_t value = 0;
    for (const char c : text) {
        int digit;
        if (c >= '0' && c <= '9') digit = c - '0';
        else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        else return std::nullopt;
        value = value * 16 + static_cast<uint64_t>(digit);
    }
    return value;
}

}  // namespace

std::optional<uint64_t> parse_lsn(std::string_view text) {
    const size_t slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    const auto high = parse_hex_word(text.substr(0, slash));
    const auto low = parse_hex_word(text.substr(slash + 1));
    if (!high || !low) return std::nullopt;
    return (*high << 32) | *low;
}

}  // namespace bw
