// Produce phase: one table, one topic. Remembers which relation writes each topic, so that two
// relations whose names map to one topic (through topic_prefix, the 249-character cut, or
// Kafka's folding of '.' into '_') are a clear error instead of rows merged in one topic.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bw {

// The message names both tables and the topic.
class TopicCollision : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct TopicOwner {
    uint32_t relid;
    std::string table;  // schema-qualified, for messages
    std::string topic;
};

class TopicOwners {
public:
    // `relid` writes `topic` from now on, giving up any topic it wrote before (a renamed table).
    // Throws TopicCollision when another relation writes this topic or one Kafka takes for it.
    void claim(uint32_t relid, const std::string& table, const std::string& topic);
    // The relation is gone (dropped): its topic is free for another table. Returns that topic.
    std::optional<std::string> release(uint32_t relid);
    // The other relation that holds `topic`, or one Kafka takes for it, or nullptr: what claim()
    // would refuse. The caller may find it dropped and release() it first.
    const TopicOwner* rival(uint32_t relid, const std::string& topic) const;
    // The relation that writes exactly `topic`, or nullptr.
    const TopicOwner* owner_of(std::string_view topic) const;
    size_t size() const { return by_folding_.size(); }

private:
    // Keyed by kafka_topic_folding(topic): what Kafka compares.
    std::unordered_map<std::string, TopicOwner> by_folding_;
    std::unordered_map<uint32_t, std::string> folding_of_;
};

}  // namespace bw
