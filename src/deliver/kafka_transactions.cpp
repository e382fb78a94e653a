// Deliver phase, exactly-once: librdkafka's transactional calls, their error classes handled as
// its documentation says (see kafka_transactions.h).
#include "deliver/kafka_transactions.h"

#include <memory>
#include <optional>

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

// Calls `call` (a blocking transactional call with a timeout) in rounds until it succeeds. The
// reason of an abortable error when it asks for an abort; nullopt on success.
template <typename Call>
std::optional<std::string> in_rounds(KafkaSink& kafka, const char* name, Call call,
                                     const Waiter& wait) {
    for (;;) {
        ErrorHandle error(call(kRoundMs));
        const Outcome outcome = classify(kafka, error, name);
        if (outcome == Outcome::Done) return std::nullopt;
        if (outcome == Outcome::Abort) return std::string(rd_kafka_error_string(error.get()));
        kafka.poll(0);
        wait(std::string("waiting for Kafka: ") + name + ": " +
             rd_kafka_error_string(error.get()));
    }
}

// An abort asked for where no transaction can be aborted: the producer is unusable.
void refuse_abort(KafkaSink& kafka, const char* name, const std::optional<std::string>& reason) {
    if (!reason) return;
    kafka.set_fatal(std::string(name) + " asked for an abort: " + *reason);
    throw KafkaError(kafka.last_error());
}

}  // namespace

void KafkaTransactions::init(const Waiter& wait) {
    refuse_abort(kafka_, "init_transactions",
                 in_rounds(kafka_, "init_transactions",
                           [&](int ms) { return rd_kafka_init_transactions(kafka_.handle(), ms); },
                           wait));
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
    const std::optional<std::string> abortable = in_rounds(
        kafka_, "commit_transaction",
        [&](int ms) { return rd_kafka_commit_transaction(kafka_.handle(), ms); }, wait);
    if (!abortable) return;
    abort(wait);
    throw TransactionAborted("Kafka transaction aborted: " + *abortable +
                             "; its changes are produced again from the slot");
}

void KafkaTransactions::abort(const Waiter& wait) {
    refuse_abort(kafka_, "abort_transaction",
                 in_rounds(kafka_, "abort_transaction",
                           [&](int ms) { return rd_kafka_abort_transaction(kafka_.handle(), ms); },
                           wait));
}

}  // namespace bw
