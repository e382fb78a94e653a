// Deliver phase, exactly-once: librdkafka's transactional calls, their error classes handled as
// its documentation says (see kafka_transactions.h).
#include "deliver/kafka_transactions.h"

#include <memory>

#include "deliver/offset_record.h"

namespace bw {

namespace {

// Rounds of a blocking call: short enough that a stop request is answered at once.
constexpr int kRoundMs = 200;

struct ErrorRelease {
    void operator()(rd_kafka_error_t* error) const { rd_kafka_error_destroy(error); }
};
using ErrorHandle = std::unique_ptr<rd_kafka_error_t, ErrorRelease>;

enum class Outcome { Done, Retry, Abort };

// Retriable (a timeout among them): call again, which resumes the call. Abortable: abort the
// transaction, and replay. Anything else — fatal, fenced by a newer producer, or of no class —
// leaves the producer unusable, as librdkafka advises.
Outcome classify(KafkaSink& kafka, const ErrorHandle& error, const char* call) {
    if (!error) return Outcome::Done;
    if (rd_kafka_error_txn_requires_abort(error.get())) return Outcome::Abort;
    if (rd_kafka_error_is_retriable(error.get())) return Outcome::Retry;
    const std::string reason = std::string(call) + " failed (" +
                               (rd_kafka_error_is_fatal(error.get()) ? "fatal" : "not retriable") +
                               "): " + rd_kafka_error_name(error.get()) + ": " +
                               rd_kafka_error_string(error.get());
    kafka.set_fatal(reason);
    throw KafkaError(reason);
}

std::string waiting_for(const char* call, const ErrorHandle& error) {
    return std::string("waiting for Kafka: ") + call + ": " + rd_kafka_error_string(error.get());
}

}  // namespace

void KafkaTransactions::init(const Waiter& wait) {
    for (;;) {
        ErrorHandle error(rd_kafka_init_transactions(kafka_.handle(), kRoundMs));
        const Outcome outcome = classify(kafka_, error, "init_transactions");
        if (outcome == Outcome::Done) return;
        if (outcome == Outcome::Abort) {
            kafka_.set_fatal("init_transactions asked for an abort");
            throw KafkaError(kafka_.last_error());
        }
        kafka_.poll(0);
        wait(waiting_for("init_transactions", error));
    }
}

void KafkaTransactions::begin() {
    ErrorHandle error(rd_kafka_begin_transaction(kafka_.handle()));
    if (!error) return;
    // Only a fatal error or a misuse can fail a local state change.
    const std::string reason = std::string("begin_transaction failed: ") +
                               rd_kafka_error_name(error.get()) + ": " +
                               rd_kafka_error_string(error.get());
    kafka_.set_fatal(reason);
    throw KafkaError(reason);
}

void KafkaTransactions::record_lsn(uint64_t lsn) {
    const std::string value = format_lsn(lsn);
    while (kafka_.produce_untracked(offsets_topic_, offsets_key_, value) ==
           ProduceResult::QueueFull)
        kafka_.poll(100);
}

void KafkaTransactions::commit(const Waiter& wait) {
    for (;;) {
        ErrorHandle error(rd_kafka_commit_transaction(kafka_.handle(), kRoundMs));
        const Outcome outcome = classify(kafka_, error, "commit_transaction");
        if (outcome == Outcome::Done) return;
        if (outcome == Outcome::Abort) {
            const std::string reason = std::string("Kafka transaction aborted: ") +
                                       rd_kafka_error_string(error.get()) +
                                       "; its changes are produced again from the slot";
            abort(wait);
            throw TransactionAborted(reason);
        }
        kafka_.poll(0);
        wait(waiting_for("commit_transaction", error));
    }
}

void KafkaTransactions::abort(const Waiter& wait) {
    for (;;) {
        ErrorHandle error(rd_kafka_abort_transaction(kafka_.handle(), kRoundMs));
        const Outcome outcome = classify(kafka_, error, "abort_transaction");
        if (outcome == Outcome::Done) return;
        if (outcome == Outcome::Abort) {
            kafka_.set_fatal("abort_transaction asked for an abort");
            throw KafkaError(kafka_.last_error());
        }
        kafka_.poll(0);
        wait(waiting_for("abort_transaction", error));
    }
}

}  // namespace bw
