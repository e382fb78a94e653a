// The worker's delivery mode (see worker_delivery.h). Runs under guard_cpp: a KafkaError ends the
// worker with an ERROR, and the postmaster starts it again with a new producer.
#include "worker/worker_delivery.h"

extern "C" {
#include "postgres.h"
#include "access/xlog.h"
}

#include <chrono>
#include <memory>

#include "deliver/at_least_once.h"
#include "deliver/exactly_once.h"
#include "deliver/offset_record.h"
#include "deliver/offsets_reader.h"
#include "produce/kafka_properties.h"
#include "worker/settings.h"
#include "worker/worker_lifecycle.h"

namespace bw {

namespace {

// Rounds of about 200 ms before a wait shows as backoff in bw_status.
constexpr int kQuietRounds = 10;
constexpr long kOffsetsReadDeadlineMs = 60000;

bool exactly_once() {
    return static_cast<DeliveryMode>(setting_delivery) == DeliveryMode::ExactlyOnce;
}

}  // namespace

std::string worker_transactional_id(const char* dbname, const char* slot_name) {
    return exactly_once() ? offsets_key(GetSystemIdentifier(), dbname, slot_name) : std::string();
}

// XXX leave_after_sigterm ends the process from inside C++ frames, as the sink's waits do:
// nothing on these stacks owns a resource the process exit does not release.
Waiter streaming_waiter(WorkerState* state) {
    return [state, rounds = 0, last = std::chrono::steady_clock::time_point()](
               const std::string& waiting_for) mutable {
        exit_if_postmaster_died();
        if (stop_requested())
            leave_after_sigterm("what Kafka has not committed is replayed from the slot");
        // Rounds a second or more apart belong to different waits.
        const auto now = std::chrono::steady_clock::now();
        if (now - last > std::chrono::seconds(1)) rounds = 0;
        last = now;
        if (++rounds < kQuietRounds) return;
        set_worker_phase(state, WorkerPhase::Backoff);
        report_worker_error(state, waiting_for.c_str());
    };
}

Waiter shutdown_waiter(long timeout_ms) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    return [deadline](const std::string& waiting_for) {
        exit_if_postmaster_died();
        if (std::chrono::steady_clock::now() >= deadline)
            throw KafkaError("gave up at shutdown, " + waiting_for);
    };
}

Delivery* start_delivery(KafkaSink& kafka, WorkerState* state, const char* dbname,
                         const char* slot_name) {
    if (!exactly_once()) return new AtLeastOnceDelivery(kafka.acks());

    const std::string key = offsets_key(GetSystemIdentifier(), dbname, slot_name);
    auto transactions = std::make_unique<KafkaTransactions>(kafka, setting_offsets_topic, key);
    const Waiter wait = streaming_waiter(state);
    transactions->init(wait);

    OffsetsReaderConfig reader;
    reader.brokers = setting_kafka_brokers ? setting_kafka_brokers : "";
    reader.kafka_config = parse_kafka_properties(setting_kafka_config ? setting_kafka_config : "");
    for (auto& secret :
         parse_kafka_properties(setting_kafka_secret_config ? setting_kafka_secret_config : ""))
        reader.kafka_config.push_back(std::move(secret));
    reader.topic = setting_offsets_topic;
    reader.key = key;
    reader.deadline_ms = kOffsetsReadDeadlineMs;
    const uint64_t stored = read_stored_lsn(reader, wait);
    ereport(LOG, (errmsg("bottledwater: exactly-once delivery for slot \"%s\": Kafka holds its "
                         "changes up to %s",
                         slot_name, stored ? format_lsn(stored).c_str() : "none yet")));
    clear_worker_error(state);
    set_worker_phase(state, WorkerPhase::Starting);

    ExactlyOnceConfig config;
    config.interval_ms = setting_transaction_interval_ms;
    // Owned by the delivery's process, as the producer is.
    return new ExactlyOnceDelivery(*transactions.release(), kafka.acks(), config, stored, wait);
}

}  // namespace bw
