// Outbox payloads (see outbox_payload.h).
#include "encode/outbox_payload.h"

#include <cstdint>

namespace bw {

namespace {

constexpr uint32_t kNull = 0xFFFFFFFFu;
constexpr size_t kMaxTopicLength = 249;

void append_length(std::string& out, uint32_t length) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((length >> shift) & 0xFF);
}

void append_part(std::string& out, std::optional<std::string_view> part) {
    if (!part) return append_length(out, kNull);
    if (part->size() >= kNull) throw std::length_error("outbox key or value of 4 GB or more");
    append_length(out, static_cast<uint32_t>(part->size()));
    out += *part;
}

std::optional<std::string_view> take_part(std::string_view& rest, const char* what) {
    if (rest.size() < 4) throw MalformedOutboxPayload(std::string("no length for the ") + what);
    uint32_t length = 0;
    for (int i = 0; i < 4; i++) length = (length << 8) | static_cast<unsigned char>(rest[i]);
    rest.remove_prefix(4);
    if (length == kNull) return std::nullopt;
    if (length > rest.size())
        throw MalformedOutboxPayload(std::string("the ") + what + " is cut short");
    const std::string_view part = rest.substr(0, length);
    rest.remove_prefix(length);
    return part;
}

bool legal_topic_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
}

}  // namespace

std::string illegal_topic_reason(std::string_view topic) {
    if (topic.empty()) return "a topic name cannot be empty";
    if (topic == "." || topic == "..") return "a topic cannot be named \".\" or \"..\"";
    if (topic.size() > kMaxTopicLength)
        return "a topic name has at most 249 characters, this one " +
               std::to_string(topic.size());
    for (char c : topic)
        if (!legal_topic_char(c))
            return "a topic name may hold only ASCII letters, digits, '.', '_' and '-'";
    return "";
}

std::string encode_outbox_payload(const OutboxMessage& message) {
    std::string out;
    out.reserve(12 + message.topic.size() + (message.key ? message.key->size() : 0) +
                (message.value ? message.value->size() : 0));
    append_part(out, message.topic);
    append_part(out, message.key);
    append_part(out, message.value);
    return out;
}

OutboxMessage decode_outbox_payload(std::string_view payload) {
    std::string_view rest = payload;
    OutboxMessage message;
    const std::optional<std::string_view> topic = take_part(rest, "topic");
    if (!topic) throw MalformedOutboxPayload("the topic is null");
    message.topic = *topic;
    const std::string illegal = illegal_topic_reason(message.topic);
    if (!illegal.empty()) throw MalformedOutboxPayload(illegal);
    message.key = take_part(rest, "key");
    message.value = take_part(rest, "value");
    if (!rest.empty())
        throw MalformedOutboxPayload(std::to_string(rest.size()) + " bytes after the value");
    return message;
}

}  // namespace bw
