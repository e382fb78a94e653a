// Deliver phase, exactly-once: reads the offsets topic with read_committed to its end, so the
// worker knows the highest commit LSN Kafka holds of its slot. Creates the topic (compacted,
// the cluster's default replication factor) when it is missing.
#pragma once

#include <cstdint>
#include <string>

#include "deliver/delivery.h"
#include "produce/kafka_sink.h"

namespace bw {

struct OffsetsReaderConfig {
    std::string brokers;
    // The producer's properties (security, timeouts); producer-only ones are ignored.
    KafkaProperties kafka_config;
    std::string topic;
    std::string key;
    // The whole read, creation included, ends with a KafkaError after this long.
    long deadline_ms = 60000;
};

// 0 when the topic holds nothing for the key. Call after the producer's init_transactions, so
// that what an earlier producer left open is resolved and the end is the end.
uint64_t read_stored_lsn(const OffsetsReaderConfig& config, const Waiter& wait);

}  // namespace bw
