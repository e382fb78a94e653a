// Produce phase: hands each encoded change to librdkafka and routes the delivery reports into an
// AckTracker. Never blocks: a full local queue is reported to the caller, who polls and retries,
// so a slow or absent Kafka turns into WAL retained on the slot, not into memory.
#pragma once

#include <librdkafka/rdkafka.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "acknowledge/ack_tracker.h"
#include "produce/capped_map.h"

namespace bw {

// The producer could not be configured or a message could not be handed over for a reason that
// retrying will not fix.
class KafkaError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Kafka cannot take this one message as it stands (today: larger than the producer's
// message.max.bytes); the messages around it are not affected.
class MessageRefused : public KafkaError {
public:
    using KafkaError::KafkaError;
};

// A message whose delivery failed, as the delivery report shows it.
struct DeliveryFailure {
    std::string_view topic;
    std::optional<std::string_view> key;
    rd_kafka_resp_err_t error;
};

using KafkaProperties = std::vector<std::pair<std::string, std::string>>;

// One Kafka record header; the bytes are copied when the message is produced.
struct MessageHeader {
    const char* name;
    std::string_view value;
};
using MessageHeaders = std::vector<MessageHeader>;

struct KafkaSinkConfig {
    std::string brokers;
    // Passed through to librdkafka after our defaults, so they win (SSL, SASL, tuning), except
    // enable.idempotence and acks, which carry the ordering and durability guarantees.
    KafkaProperties kafka_config;
    KafkaProperties topic_config;
    // The local queue bound; reaching it is backpressure, see ProduceResult::QueueFull. The
    // bytes bound is what keeps the worker's memory small when rows are wide.
    int queue_max_messages = 100000;
    int queue_max_kbytes = 65536;
    // Topic handles kept: bw_emit may name any number of topics.
    size_t max_topic_handles = 1024;
    // Non-empty: a transactional producer (exactly-once delivery); see deliver/.
    std::string transactional_id;
};

enum class ProduceResult { Queued, QueueFull };

class KafkaSink {
public:
    // librdkafka's syslog level (0 emergency .. 7 debug), facility and text.
    using LogSink =
        std::function<void(int level, std::string_view facility, std::string_view text)>;
    // Decides about a failed delivery: true gives the message up (it stops holding its
    // transaction back); false fails its transaction with `reason`, which it may rewrite.
    using FailureJudge = std::function<bool(const DeliveryFailure& failure, std::string& reason)>;

    explicit KafkaSink(const KafkaSinkConfig& config);
    ~KafkaSink();
    KafkaSink(const KafkaSink&) = delete;
    KafkaSink& operator=(const KafkaSink&) = delete;

    // The transactions whose messages this producer carries; it lives and dies with the producer
    // because a new producer replays from the slot.
    AckTracker& acks() { return acks_; }
    const AckTracker& acks() const { return acks_; }

    // A null key or value is sent as null; a null value is a tombstone. Copies the bytes, the
    // headers' too. Throws MessageRefused for a message too large for the producer, KafkaError
    // otherwise.
    ProduceResult produce(std::string_view topic, std::optional<std::string_view> key,
                          std::optional<std::string_view> value, TxnId txn,
                          const MessageHeaders& headers = {});

    // A message of no PostgreSQL transaction (the offsets record of exactly-once delivery): its
    // delivery report counts nowhere, a failed one leaves the producer fatal. Throws KafkaError.
    ProduceResult produce_untracked(std::string_view topic, std::string_view key,
                                    std::string_view value);

    // The librdkafka handle, for the transactional calls of deliver/.
    rd_kafka_t* handle() { return producer_; }
    // The transactional API left the producer unusable: destroy it and replay from the slot.
    void set_fatal(std::string reason) {
        fatal_ = true;
        last_error_ = std::move(reason);
    }

    // Drops the handle of a topic no table writes any more; messages in flight keep their own.
    void forget_topic(std::string_view topic);
    // Topic handles held now (at most KafkaSinkConfig::max_topic_handles).
    size_t topic_handles() const { return topics_.size(); }

    // Serves delivery reports, errors and logs on the calling thread.
    void poll(int timeout_ms);
    // Waits for every queued message's delivery report; false on timeout.
    bool flush(int timeout_ms);
    // Sends what is queued now instead of after linger.ms, waiting about a millisecond (only a
    // flush under way tells librdkafka's threads to stop lingering), and serves reports.
    void send_queued();

    // The latest broker-level error since the last successful delivery, "" when none: what the
    // worker shows while it backs off.
    const std::string& last_error() const { return last_error_; }
    // The producer cannot continue (e.g. idempotence sequence desynchronisation): destroy it and
    // replay from the slot.
    bool fatal() const { return fatal_; }

    // Called from poll() and flush() only, never from librdkafka's own threads; must not throw,
    // it is called through C code.
    void set_log_sink(LogSink sink) { log_sink_ = std::move(sink); }
    // Same calling rules as the log sink. Without one, every failed delivery fails its transaction.
    void set_failure_judge(FailureJudge judge) { failure_judge_ = std::move(judge); }

private:
    struct TopicRelease {
        void operator()(rd_kafka_topic_t* topic) const { rd_kafka_topic_destroy(topic); }
    };
    using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicRelease>;

    rd_kafka_topic_t* topic_handle(std::string_view topic);
    rd_kafka_resp_err_t send(rd_kafka_topic_t* handle, std::optional<std::string_view> key,
                             std::optional<std::string_view> value, void* opaque,
                             rd_kafka_headers_t* headers);

    // librdkafka's callbacks run in its C frames, which no exception may cross: each body runs
    // under survive_in_callback().
    template <typename Body>
    void survive_in_callback(Body&& body) noexcept;
    static void on_delivery(rd_kafka_t* rk, const rd_kafka_message_t* message, void* opaque);
    static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque);
    static void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text);

    AckTracker acks_;
    rd_kafka_t* producer_ = nullptr;
    // Looking a topic up by string_view allocates nothing.
    CappedMap<std::string, TopicHandle> topics_;
    std::string last_error_;
    bool fatal_ = false;
    LogSink log_sink_;
    FailureJudge failure_judge_;
};

}  // namespace bw
