// Deliver phase, exactly-once: what the exactly-once delivery needs of Kafka — open, fill and
// commit transactions, and record an LSN in the open one — behind an interface, so that the
// bookkeeping is tested without a broker. KafkaTransactions is librdkafka's transactional API.
#pragma once

#include <cstdint>
#include <string>

#include "deliver/delivery.h"
#include "produce/kafka_sink.h"

namespace bw {

// The Kafka transaction was aborted (an abortable error, as librdkafka classifies it): what it
// held must be produced again, from the slot.
class TransactionAborted : public KafkaError {
public:
    using KafkaError::KafkaError;
};

class TransactionLog {
public:
    virtual ~TransactionLog() = default;
    virtual void begin() = 0;
    // Into the open transaction, after its changes: the highest commit LSN it holds.
    virtual void record_lsn(uint64_t lsn) = 0;
    // Throws TransactionAborted (the transaction was aborted) or KafkaError (the producer is
    // unusable: fatal, fenced, or an error of no known class).
    virtual void commit(const Waiter& wait) = 0;
};

// Over a KafkaSink configured with a transactional.id. Every blocking call runs in short rounds
// (a timeout is retriable and resumes the call, per librdkafka's documentation), calling the
// waiter in between.
class KafkaTransactions final : public TransactionLog {
public:
    KafkaTransactions(KafkaSink& kafka, std::string offsets_topic, std::string offsets_key)
        : kafka_(kafka), offsets_topic_(std::move(offsets_topic)),
          offsets_key_(std::move(offsets_key)) {}

    // Fences any earlier producer of this transactional.id and completes or aborts what it left
    // open. Before anything else is produced.
    void init(const Waiter& wait);
    void begin() override;
    void record_lsn(uint64_t lsn) override;
    void commit(const Waiter& wait) override;

private:
    // Aborts after an abortable error; a failure to abort leaves the producer unusable.
    void abort(const Waiter& wait);

    KafkaSink& kafka_;
    std::string offsets_topic_;
    std::string offsets_key_;
};

}  // namespace bw
