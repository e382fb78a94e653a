// Registry phase: a small, strict reader for the registry's JSON responses (see registry_json.h).
#include "registry/registry_json.h"

#include <cstdint>

namespace bw {

namespace {

class JsonReader {
public:
    explicit JsonReader(std::string_view text) : text_(text) {}

    JsonFields read_object_fields() {
        JsonFields fields;
        expect('{');
        if (!consume('}')) {
            do {
                std::string name = read_string();
                expect(':');
                skip_whitespace();
                const char c = peek();
                if (c == '"') {
                    fields[std::move(name)] = read_string();
                } else if (c == '-' || (c >= '0' && c <= '9')) {
                    fields[std::move(name)] = std::string(read_number());
                } else {
                    skip_value();
                }
            } while (consume(','));
            expect('}');
        }
        skip_whitespace();
        if (pos_ != text_.size()) fail("trailing characters");
        return fields;
    }

private:
    [[noreturn]] void fail(const char* what) const {
        throw MalformedJson(std::string("malformed JSON at offset ") + std::to_string(pos_) + ": " +
                            what);
    }

    void skip_whitespace() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                       text_[pos_] == '\n' || text_[pos_] == '\r')) {
            ++pos_;
        }
    }

    char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

    bool consume(char c) {
        skip_whitespace();
        if (peek() != c) return false;
        ++pos_;
        return true;
    }

    void expect(char c) {
        if (!consume(c)) fail((std::string("expected '") + c + "'").c_str());
    }

    std::string_view read_number() {
        const size_t start = pos_;
        while (pos_ < text_.size() &&
               std::string_view("+-.eE0123456789").find(text_[pos_]) != std::string_view::npos) {
            ++pos_;
        }
        return text_.substr(start, pos_ - start);
    }

    uint32_t read_hex4() {
        if (text_.size() - pos_ < 4) fail("truncated \\u escape");
        uint32_t value = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = text_[pos_++];
            value <<= 4;
            if (c >= '0' && c <= '9')
                value |= c - '0';
            else if (c >= 'a' && c <= 'f')
                value |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F')
                value |= c - 'A' + 10;
            else
                fail("bad hex digit in \\u escape");
        }
        return value;
    }

    // A \u escape names a UTF-16 unit; characters beyond the BMP come as a surrogate pair.
    uint32_t read_escaped_code_point() {
        const uint32_t unit = read_hex4();
        if (unit >= 0xDC00 && unit <= 0xDFFF) fail("unpaired low surrogate");
        if (unit < 0xD800 || unit > 0xDBFF) return unit;
        if (text_.substr(pos_, 2) != "\\u") fail("unpaired high surrogate");
        pos_ += 2;
        const uint32_t low = read_hex4();
        if (low < 0xDC00 || low > 0xDFFF) fail("unpaired high surrogate");
        return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
    }

    static void append_utf8(std::string& out, uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    std::string read_string() {
        expect('"');
        std::string out;
        while (true) {
            if (pos_ >= text_.size()) fail("unterminated string");
            const char c = text_[pos_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= text_.size()) fail("unterminated escape");
            switch (text_[pos_++]) {
                case '"':
                    out += '"';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '/':
                    out += '/';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u':
                    append_utf8(out, read_escaped_code_point());
                    break;
                default:
                    fail("unknown escape");
            }
        }
    }

    void skip_literal(std::string_view literal) {
        if (text_.substr(pos_, literal.size()) != literal) fail("unexpected value");
        pos_ += literal.size();
    }

    void skip_value() {
        skip_whitespace();
        switch (peek()) {
            case '"':
                read_string();
                return;
            case 't':
                skip_literal("true");
                return;
            case 'f':
                skip_literal("false");
                return;
            case 'n':
                skip_literal("null");
                return;
            case '{':
                ++pos_;
                if (consume('}')) return;
                do {
                    read_string();
                    expect(':');
                    skip_value();
                } while (consume(','));
                expect('}');
                return;
            case '[':
                ++pos_;
                if (consume(']')) return;
                do skip_value();
                while (consume(','));
                expect(']');
                return;
            default:
                if (read_number().empty()) fail("unexpected value");
        }
    }

    std::string_view text_;
    size_t pos_ = 0;
};

}  // namespace

JsonFields read_top_level_fields(std::string_view json) {
    return JsonReader(json).read_object_fields();
}

}  // namespace bw
