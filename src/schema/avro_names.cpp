// Identifier → Avro name mapping (see avro_names.h for the rules).
#include "schema/avro_names.h"

#include <cstdio>
#include <set>

namespace bw {

static bool is_name_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 if it is not valid UTF-8.
static size_t decode_utf8(std::string_view s, size_t i, unsigned long& code_point) {
    unsigned char lead = s[i];
    size_t length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
    if (length == 0 || lead >= 0xF8 || i + length > s.size()) return 0;
    code_point = lead & (0x7F >> length);
    for (size_t k = 1; k < length; k++) {
        unsigned char next = s[i + k];
        if ((next & 0xC0) != 0x80) return 0;
        code_point = (code_point << 6) | (next & 0x3F);
    }
    return length;
}

std::string avro_name(std::string_view identifier) {
    std::string name;
    if (identifier.empty() || (identifier[0] >= '0' && identifier[0] <= '9')) name += '_';
    char escape[16];
    for (size_t i = 0; i < identifier.size();) {
        unsigned char c = identifier[i];
        if (is_name_char(c)) {
            name += static_cast<char>(c);
            i++;
            continue;
        }
        unsigned long code_point = c;
        size_t length = c < 0x80 ? 1 : decode_utf8(identifier, i, code_point);
        if (length == 0) {
            std::snprintf(escape, sizeof escape, "_x%02x_", c);
            i++;
        } else {
            std::snprintf(escape, sizeof escape, "_u%04lx_", code_point);
            i += length;
        }
        name += escape;
    }
    return name;
}

std::vector<std::string> avro_field_names(const std::vector<std::string>& identifiers) {
    std::vector<std::string> names;
    std::set<std::string> taken;
    for (const std::string& identifier : identifiers) {
        std::string base = avro_name(identifier);
        std::string name = base;
        for (int suffix = 2; !taken.insert(name).second; suffix++) {
            name = base + "_" + std::to_string(suffix);
        }
        names.push_back(std::move(name));
    }
    return names;
}

}  // namespace bw
