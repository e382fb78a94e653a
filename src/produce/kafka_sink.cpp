// Produce phase: the librdkafka producer behind KafkaSink (see kafka_sink.h). Every callback
// here is served by rd_kafka_poll/rd_kafka_flush on the caller's thread.
#include "produce/kafka_sink.h"

#include <cstdint>

namespace bw {

namespace {

// The message opaque carries the TxnId by value.
static_assert(sizeof(uintptr_t) >= sizeof(TxnId), "TxnId must fit in a message opaque");
// The opaque of a message that belongs to no transaction; no tracker hands out this id.
void* const kUntracked = reinterpret_cast<void*>(~uintptr_t{0});

struct ConfRelease {
    void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct TopicConfRelease {
    void operator()(rd_kafka_topic_conf_t* conf) const { rd_kafka_topic_conf_destroy(conf); }
};

// Values are left out of messages, even where librdkafka's own error quotes them: they may be
// passwords or key material.
[[noreturn]] void throw_bad_property(const char* origin, const std::string& name,
                                     const std::string& value, const char* errstr) {
    std::string reason = errstr;
    if (!value.empty()) {
        for (size_t at = reason.find(value); at != std::string::npos;
             at = reason.find(value, at + 3))
            reason.replace(at, value.size(), "...");
    }
    throw KafkaError(std::string(origin) + ": cannot set \"" + name + "\": " + reason);
}

void set_property(rd_kafka_conf_t* conf, const char* origin, const std::string& name,
                  const std::string& value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        throw_bad_property(origin, name, value, errstr);
    }
}

void set_topic_property(rd_kafka_topic_conf_t* conf, const char* origin, const std::string& name,
                        const std::string& value) {
    char errstr[512];
    if (rd_kafka_topic_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
        throw_bad_property(origin, name, value, errstr);
    }
}

// At-least-once in commit order rests on these two: idempotence keeps each partition in produce
// order across retries, acks=all means an acknowledged message survives a broker loss.
void reject_weakened_guarantee(const char* origin, const KafkaProperties& properties) {
    for (const auto& [name, value] : properties) {
        if (name == "transactional.id")
            throw KafkaError(std::string(origin) +
                             ": \"transactional.id\" is bottledwater's own: set "
                             "bottledwater.delivery = 'exactly_once' instead");
        const bool weakened = (name == "enable.idempotence" && value != "true") ||
                              ((name == "acks" || name == "request.required.acks") &&
                               value != "all" && value != "-1");
        if (weakened) {
            throw KafkaError(std::string(origin) + ": \"" + name + "\" = \"" + value +
                             "\" would break bottledwater's ordering or durability guarantee");
        }
    }
}

}  // namespace

KafkaSink::KafkaSink(const KafkaSinkConfig& config) : topics_(config.max_topic_handles) {
    reject_weakened_guarantee("kafka_config", config.kafka_config);
    reject_weakened_guarantee("topic_config", config.topic_config);

    std::unique_ptr<rd_kafka_conf_t, ConfRelease> conf(rd_kafka_conf_new());
    std::unique_ptr<rd_kafka_topic_conf_t, TopicConfRelease> topic_conf(rd_kafka_topic_conf_new());

    // Infinite: while Kafka is down messages wait and the worker reports backoff; giving up on
    // its own would only turn into a replay from the slot.
    set_topic_property(topic_conf.get(), "default", "message.timeout.ms", "0");
    // The Java client's key hashing, so bottledwater and Java producers agree on partitions.
    set_topic_property(topic_conf.get(), "default", "partitioner", "murmur2_random");
    for (const auto& [name, value] : config.topic_config) {
        set_topic_property(topic_conf.get(), "topic_config", name, value);
    }
    // Installed first, so topic-level names given in kafka_config still land in it.
    rd_kafka_conf_set_default_topic_conf(conf.get(), topic_conf.release());

    set_property(conf.get(), "default", "bootstrap.servers", config.brokers);
    set_property(conf.get(), "default", "queue.buffering.max.messages",
                 std::to_string(config.queue_max_messages));
    set_property(conf.get(), "default", "queue.buffering.max.kbytes",
                 std::to_string(config.queue_max_kbytes));
    // Long, so that catching up sends full batches; a worker that keeps up flushes after each
    // pass instead of waiting for it.
    set_property(conf.get(), "default", "linger.ms", "100");
    for (const auto& [name, value] : config.kafka_config) {
        set_property(conf.get(), "kafka_config", name, value);
    }
    // Logs wait in a queue until poll() serves them on our thread (see set_log_queue below);
    // the log sink may call PostgreSQL, which no librdkafka thread may do, so users cannot
    // turn this off.
    set_property(conf.get(), "default", "log.queue", "true");
    set_property(conf.get(), "default", "enable.idempotence", "true");
    set_property(conf.get(), "default", "acks", "all");
    if (!config.transactional_id.empty())
        set_property(conf.get(), "default", "transactional.id", config.transactional_id);

    rd_kafka_conf_set_opaque(conf.get(), this);
    rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
    rd_kafka_conf_set_error_cb(conf.get(), on_error);
    rd_kafka_conf_set_log_cb(conf.get(), on_log);

    char errstr[512];
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), errstr, sizeof errstr);
    if (producer_ == nullptr) throw KafkaError(std::string("cannot create producer: ") + errstr);
    conf.release();  // owned by the producer from here on

    const rd_kafka_resp_err_t err = rd_kafka_set_log_queue(producer_, nullptr);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_destroy(producer_);
        throw KafkaError(std::string("cannot route producer logs to the poll queue: ") +
                         rd_kafka_err2str(err));
    }
}

// Messages still queued or in flight are dropped, not waited for: the caller replays them from
// the slot, and with Kafka down a wait would never end. The purge also voids acknowledgements
// still on their way, so nothing more is counted for a producer being discarded.
KafkaSink::~KafkaSink() {
    rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    topics_.clear();
    rd_kafka_destroy(producer_);
}

ProduceResult KafkaSink::produce(std::string_view topic, std::optional<std::string_view> key,
                                 std::optional<std::string_view> value, TxnId txn,
                                 const MessageHeaders& headers) {
    rd_kafka_topic_t* handle = topic_handle(topic);
    void* opaque = reinterpret_cast<void*>(static_cast<uintptr_t>(txn));

    // Owned by the message once it is queued, ours to free when it is not. No headers, no list
    // (librdkafka allocates per header); a null list is a message without headers.
    rd_kafka_headers_t* record_headers =
        headers.empty() ? nullptr : rd_kafka_headers_new(headers.size());
    for (const MessageHeader& header : headers)
        rd_kafka_header_add(record_headers, header.name, -1, header.value.data(),
                            static_cast<ssize_t>(header.value.size()));

    const rd_kafka_resp_err_t err = send(handle, key, value, opaque, record_headers);
    const size_t payload_len = value ? value->size() : 0;
    const size_t key_len = key ? key->size() : 0;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        acks_.message_produced(txn);
        return ProduceResult::Queued;
    }
    if (record_headers != nullptr) rd_kafka_headers_destroy(record_headers);
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return ProduceResult::QueueFull;
    if (err == RD_KAFKA_RESP_ERR__FATAL) fatal_ = true;
    const std::string what =
        "cannot produce to topic \"" + std::string(topic) + "\": " + rd_kafka_err2str(err);
    if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        throw MessageRefused(what + " (" + std::to_string(payload_len + key_len) +
                             " bytes of key and value, over the producer's message.max.bytes)");
    throw KafkaError(what);
}

rd_kafka_resp_err_t KafkaSink::send(rd_kafka_topic_t* handle,
                                     std::optional<std::string_view> key,
                                     std::optional<std::string_view> value, void* opaque,
                                     rd_kafka_headers_t* headers) {
    // RD_KAFKA_MSG_F_COPY takes a copy, so casting away const is safe.
    void* payload = value ? const_cast<char*>(value->data()) : nullptr;
    const size_t payload_len = value ? value->size() : 0;
    void* key_bytes = key ? const_cast<char*>(key->data()) : nullptr;
    const size_t key_len = key ? key->size() : 0;
    return rd_kafka_producev(
        producer_, RD_KAFKA_V_RKT(handle), RD_KAFKA_V_PARTITION(RD_KAFKA_PARTITION_UA),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_VALUE(payload, payload_len),
        RD_KAFKA_V_KEY(key_bytes, key_len), RD_KAFKA_V_OPAQUE(opaque),
        RD_KAFKA_V_HEADERS(headers), RD_KAFKA_V_END);
}

ProduceResult KafkaSink::produce_untracked(std::string_view topic, std::string_view key,
                                           std::string_view value) {
    const rd_kafka_resp_err_t err = send(topic_handle(topic), key, value, kUntracked, nullptr);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return ProduceResult::Queued;
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) return ProduceResult::QueueFull;
    if (err == RD_KAFKA_RESP_ERR__FATAL) fatal_ = true;
    throw KafkaError("cannot produce to topic \"" + std::string(topic) +
                     "\": " + rd_kafka_err2str(err));
}

void KafkaSink::poll(int timeout_ms) {
    rd_kafka_poll(producer_, timeout_ms);
}

bool KafkaSink::flush(int timeout_ms) {
    return rd_kafka_flush(producer_, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

void KafkaSink::send_queued() {
    (void)flush(1);
}

void KafkaSink::forget_topic(std::string_view topic) {
    const auto found = topics_.entries().find(topic);
    if (found != topics_.entries().end()) topics_.entries().erase(found);
}

rd_kafka_topic_t* KafkaSink::topic_handle(std::string_view topic) {
    if (TopicHandle* found = topics_.find(topic)) return found->get();

    std::string name(topic);
    // No per-topic conf: the handle takes the default topic conf built in the constructor.
    TopicHandle handle(rd_kafka_topic_new(producer_, name.c_str(), nullptr));
    if (!handle) {
        throw KafkaError("cannot create handle for topic \"" + name +
                         "\": " + rd_kafka_err2str(rd_kafka_last_error()));
    }
    return topics_.insert(std::move(name), std::move(handle)).get();
}

// Delivery reports are the only truth about what Kafka holds. The callbacks below are C
// callbacks, so nothing may throw through them; a broken tracker contract surfaces as a failure.
// A callback that fails (a report out of step with what was produced, an allocation that fails)
// leaves the producer fatal: it is replaced and the worker replays from the slot. The fallback
// message fits std::string's inline buffer, so setting it cannot fail in turn.
template <typename Body>
void KafkaSink::survive_in_callback(Body&& body) noexcept {
    try {
        try {
            body();
        } catch (const std::exception& e) {
            fatal_ = true;
            last_error_ = std::string("delivery report out of step: ") + e.what();
        }
    } catch (...) {
        fatal_ = true;
        last_error_ = "out of memory";
    }
}

void KafkaSink::on_delivery(rd_kafka_t*, const rd_kafka_message_t* message, void* opaque) {
    auto* sink = static_cast<KafkaSink*>(opaque);
    const auto txn = static_cast<TxnId>(reinterpret_cast<uintptr_t>(message->_private));
    sink->survive_in_callback([&] {
        if (message->_private == kUntracked) {
            if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR)
                sink->set_fatal(std::string("delivery to topic \"") +
                                rd_kafka_topic_name(message->rkt) +
                                "\" failed: " + rd_kafka_err2str(message->err));
            return;
        }
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            sink->acks_.message_acknowledged(txn);
            if (!sink->fatal_) sink->last_error_.clear();
        } else {
            const DeliveryFailure failure{
                rd_kafka_topic_name(message->rkt),
                message->key ? std::optional<std::string_view>(std::string_view(
                                   static_cast<const char*>(message->key), message->key_len))
                             : std::nullopt,
                message->err};
            std::string reason = std::string("delivery to topic \"") +
                                 std::string(failure.topic) +
                                 "\" failed: " + rd_kafka_err2str(message->err);
            if (sink->failure_judge_ && sink->failure_judge_(failure, reason))
                sink->acks_.message_given_up(txn);
            else
                sink->acks_.message_failed(txn, std::move(reason));
        }
    });
}

void KafkaSink::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* sink = static_cast<KafkaSink*>(opaque);
    sink->survive_in_callback([&] {
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
            // The callback's reason is generic; the underlying error says what went wrong.
            char fatal_reason[512];
            const rd_kafka_resp_err_t cause =
                rd_kafka_fatal_error(rk, fatal_reason, sizeof fatal_reason);
            sink->fatal_ = true;
            sink->last_error_ =
                std::string("fatal: ") + rd_kafka_err2name(cause) + ": " + fatal_reason;
            return;
        }
        // A fatal error stays the one reported until the producer is replaced.
        if (!sink->fatal_) sink->last_error_ = reason;
    });
}

void KafkaSink::on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
    auto* sink = static_cast<KafkaSink*>(rd_kafka_opaque(rk));
    sink->survive_in_callback([&] {
        if (sink->log_sink_) sink->log_sink_(level, facility, text);
    });
}

}  // namespace bw
