// Produce phase: which relation writes each topic (see topic_owners.h).
#include "produce/topic_owners.h"

#include "produce/topic_namer.h"

namespace bw {

const TopicOwner* TopicOwners::rival(uint32_t relid, const std::string& topic) const {
    const auto held = by_folding_.find(kafka_topic_folding(topic));
    if (held == by_folding_.end() || held->second.relid == relid) return nullptr;
    return &held->second;
}

void TopicOwners::claim(uint32_t relid, const std::string& table, const std::string& topic) {
    if (const TopicOwner* other_owner = rival(relid, topic)) {
        const TopicOwner& other = *other_owner;
        if (other.topic == topic)
            throw TopicCollision("tables \"" + other.table + "\" and \"" + table +
                                 "\" would both be written to topic \"" + topic + "\"");
        throw TopicCollision("table \"" + table + "\" would be written to topic \"" + topic +
                             "\", which Kafka takes for topic \"" + other.topic + "\" of table \"" +
                             other.table + "\" (topic names that differ only in '.' and '_' "
                             "collide)");
    }
    release(relid);
    std::string folding = kafka_topic_folding(topic);
    folding_of_[relid] = folding;
    by_folding_[std::move(folding)] = TopicOwner{relid, table, topic};
}

std::optional<std::string> TopicOwners::release(uint32_t relid) {
    const auto found = folding_of_.find(relid);
    if (found == folding_of_.end()) return std::nullopt;
    const auto owner = by_folding_.find(found->second);
    std::string topic = std::move(owner->second.topic);
    by_folding_.erase(owner);
    folding_of_.erase(found);
    return topic;
}

const TopicOwner* TopicOwners::owner_of(std::string_view topic) const {
    const auto found = by_folding_.find(kafka_topic_folding(topic));
    if (found == by_folding_.end() || found->second.topic != topic) return nullptr;
    return &found->second;
}

}  // namespace bw
