// JSON text primitives (see json_text.h).
#include "encode/json_text.h"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace bw {

static const char kHex[] = "0123456789abcdef";

static void append_unicode_escape(std::string& out, unsigned char c) {
    out += "\\u00";
    out += kHex[c >> 4];
    out += kHex[c & 0xF];
}

static bool append_short_escape(std::string& out, unsigned char c) {
    switch (c) {
        case '"': out += "\\\""; return true;
        case '\\': out += "\\\\"; return true;
        case '\n': out += "\\n"; return true;
        case '\r': out += "\\r"; return true;
        case '\t': out += "\\t"; return true;
        case '\b': out += "\\b"; return true;
        case '\f': out += "\\f"; return true;
        default: return false;
    }
}

void append_json_string(std::string& out, std::string_view utf8) {
    out += '"';
    size_t run_start = 0;
    for (size_t i = 0; i < utf8.size(); i++) {
        unsigned char c = utf8[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(utf8.data() + run_start, i - run_start);
        if (!append_short_escape(out, c)) append_unicode_escape(out, c);
        run_start = i + 1;
    }
    out.append(utf8.data() + run_start, utf8.size() - run_start);
    out += '"';
}

void append_json_string_object(std::string& out,
                               const std::vector<std::pair<std::string, std::string>>& members) {
    out += '{';
    for (size_t i = 0; i < members.size(); i++) {
        if (i > 0) out += ',';
        append_json_string(out, members[i].first);
        out += ':';
        append_json_string(out, members[i].second);
    }
    out += '}';
}

void append_json_bytes(std::string& out, const void* data, size_t length) {
    const unsigned char* bytes = static_cast<const unsigned char*>(data);
    out += '"';
    for (size_t i = 0; i < length; i++) {
        unsigned char c = bytes[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\')
            out += static_cast<char>(c);
        else if (!append_short_escape(out, c))
            append_unicode_escape(out, c);
    }
    out += '"';
}

template <typename T>
static void append_json_number(std::string& out, T value) {
    if (std::isnan(value)) {
        out += "\"NaN\"";
    } else if (std::isinf(value)) {
        out += value > 0 ? "\"Infinity\"" : "\"-Infinity\"";
    } else {
        char buffer[64];
        auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
        out.append(buffer, result.ptr);
    }
}

void append_json_double(std::string& out, double value) {
    append_json_number(out, value);
}
void append_json_float(std::string& out, float value) {
    append_json_number(out, value);
}

}  // namespace bw

namespace bw {

void append_json_base64(std::string& out, const void* data, size_t length) {
    static const char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char* bytes = static_cast<const unsigned char*>(data);
    out += '"';
    size_t i = 0;
    for (; i + 3 <= length; i += 3) {
        const uint32_t group = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
        out += kAlphabet[group >> 18];
        out += kAlphabet[(group >> 12) & 63];
        out += kAlphabet[(group >> 6) & 63];
        out += kAlphabet[group & 63];
    }
    if (i < length) {
        const bool two = i + 1 < length;
        const uint32_t group = (bytes[i] << 16) | (two ? bytes[i + 1] << 8 : 0);
        out += kAlphabet[group >> 18];
        out += kAlphabet[(group >> 12) & 63];
        out += two ? kAlphabet[(group >> 6) & 63] : '=';
        out += '=';
    }
    out += '"';
}

}  // namespace bw
