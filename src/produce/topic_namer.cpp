// Produce phase: table → topic naming (see topic_namer.h for the mapping).
#include "produce/topic_namer.h"

#include <cstdint>
#include <cstdio>

namespace bw {

namespace {

constexpr size_t kMaxTopicLength = 249;
constexpr size_t kCutLength = 240;

// The characters a name keeps as they are; '_' only where it does not start "_x".
bool kept_topic_char(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

uint32_t fnv1a(std::string_view text) {
    uint32_t hash = 2166136261u;
    for (unsigned char c : text) {
        hash ^= c;
        hash *= 16777619u;
    }
    return hash;
}

}  // namespace

std::string escape_topic_chars(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (size_t i = 0; i < name.size(); i++) {
        const unsigned char c = name[i];
        const bool starts_escape = c == '_' && i + 1 < name.size() && name[i + 1] == 'x';
        if (kept_topic_char(c) && !starts_escape) {
            out.push_back(static_cast<char>(c));
        } else {
            char hex[5];
            std::snprintf(hex, sizeof hex, "_x%02x", c);
            out += hex;
        }
    }
    return out;
}

std::string kafka_topic_folding(std::string_view topic) {
    std::string folded(topic);
    for (char& c : folded)
        if (c == '.') c = '_';
    return folded;
}

bool kafka_topics_collide(std::string_view a, std::string_view b) {
    return kafka_topic_folding(a) == kafka_topic_folding(b);
}

static std::string cut_to_length(std::string topic) {
    if (topic.size() <= kMaxTopicLength) return topic;
    char suffix[10];
    std::snprintf(suffix, sizeof suffix, "-%08x", fnv1a(topic));
    topic.resize(kCutLength);
    return topic + suffix;
}

std::string topic_for_table(std::string_view prefix, std::string_view schema_name,
                            std::string_view table_name) {
    std::string topic(prefix);
    if (schema_name != "public") {
        topic += escape_topic_chars(schema_name);
        topic.push_back('.');
    }
    topic += escape_topic_chars(table_name);
    return cut_to_length(std::move(topic));
}

std::string debezium_topic_for_table(std::string_view logical_name, std::string_view schema_name,
                                     std::string_view table_name) {
    std::string topic(logical_name);
    topic += '.';
    topic += escape_topic_chars(schema_name);
    topic += '.';
    topic += escape_topic_chars(table_name);
    return cut_to_length(std::move(topic));
}

std::string debezium_logical_name(std::string_view topic_prefix, std::string_view database) {
    if (!topic_prefix.empty() && topic_prefix.back() == '.') topic_prefix.remove_suffix(1);
    return topic_prefix.empty() ? escape_topic_chars(database) : std::string(topic_prefix);
}

}  // namespace bw
