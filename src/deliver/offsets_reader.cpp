// Deliver phase, exactly-once: the read of the offsets topic (see offsets_reader.h). A consumer
// of its own, with an assignment and no group offsets: it always reads from the beginning.
#include "deliver/offsets_reader.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <vector>

#include "deliver/offset_record.h"

namespace bw {

namespace {

constexpr int kRoundMs = 200;

struct ConsumerRelease {
    void operator()(rd_kafka_t* rk) const {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
};
using ConsumerHandle = std::unique_ptr<rd_kafka_t, ConsumerRelease>;
struct TopicRelease {
    void operator()(rd_kafka_topic_t* topic) const { rd_kafka_topic_destroy(topic); }
};
struct MetadataRelease {
    void operator()(const rd_kafka_metadata_t* metadata) const {
        rd_kafka_metadata_destroy(metadata);
    }
};
struct ListRelease {
    void operator()(rd_kafka_topic_partition_list_t* list) const {
        rd_kafka_topic_partition_list_destroy(list);
    }
};
struct MessageRelease {
    void operator()(rd_kafka_message_t* message) const { rd_kafka_message_destroy(message); }
};
struct QueueRelease {
    void operator()(rd_kafka_queue_t* queue) const { rd_kafka_queue_destroy(queue); }
};
struct EventRelease {
    void operator()(rd_kafka_event_t* event) const { rd_kafka_event_destroy(event); }
};
struct NewTopicRelease {
    void operator()(rd_kafka_NewTopic_t* topic) const { rd_kafka_NewTopic_destroy(topic); }
};

class Reader {
public:
    Reader(const OffsetsReaderConfig& config, const Waiter& wait)
        : config_(config), wait_(wait),
          deadline_(std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(config.deadline_ms)) {}

    uint64_t read();

private:
    ConsumerHandle connect();
    // Partitions of the topic; 0 when it does not exist.
    int partitions(rd_kafka_t* rk);
    void create_topic(rd_kafka_t* rk);
    // One more round of waiting, or the end of the read.
    void again(const std::string& what);

    const OffsetsReaderConfig& config_;
    const Waiter& wait_;
    std::chrono::steady_clock::time_point deadline_;
};

void set(rd_kafka_conf_t* conf, const std::string& name, const std::string& value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK)
        throw KafkaError("offsets topic reader: cannot set \"" + name + "\": " + errstr);
}

void Reader::again(const std::string& what) {
    const std::string reason = "reading offsets topic \"" + config_.topic + "\": " + what;
    if (std::chrono::steady_clock::now() >= deadline_)
        throw KafkaError(reason + " (gave up after " + std::to_string(config_.deadline_ms) +
                         " ms)");
    wait_(reason);
}

ConsumerHandle Reader::connect() {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    try {
        set(conf, "bootstrap.servers", config_.brokers);
        for (const auto& [name, value] : config_.kafka_config) {
            // Only what applies to every client: the producer's tuning has no meaning here.
            if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), nullptr, 0) !=
                RD_KAFKA_CONF_OK)
                continue;
        }
        set(conf, "group.id", config_.key + ":offsets-reader");  // assigned, never joins
        set(conf, "enable.auto.commit", "false");
        set(conf, "enable.partition.eof", "true");
        set(conf, "isolation.level", "read_committed");
        set(conf, "auto.offset.reset", "earliest");
        // The read ends at a fetch that finds nothing more, which the broker holds back this
        // long (500 ms by default) in case something comes: every start would wait for it.
        set(conf, "fetch.wait.max.ms", "10");
    } catch (...) {
        rd_kafka_conf_destroy(conf);
        throw;
    }
    char errstr[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        rd_kafka_conf_destroy(conf);
        throw KafkaError(std::string("offsets topic reader: ") + errstr);
    }
    return ConsumerHandle(rk);
}

int Reader::partitions(rd_kafka_t* rk) {
    std::unique_ptr<rd_kafka_topic_t, TopicRelease> topic(
        rd_kafka_topic_new(rk, config_.topic.c_str(), nullptr));
    for (;;) {
        const rd_kafka_metadata_t* raw = nullptr;
        const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, topic.get(), &raw, kRoundMs);
        std::unique_ptr<const rd_kafka_metadata_t, MetadataRelease> metadata(raw);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1) {
            const rd_kafka_metadata_topic_t& found = metadata->topics[0];
            if (found.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) return 0;
            if (found.err == RD_KAFKA_RESP_ERR_NO_ERROR && found.partition_cnt > 0)
                return found.partition_cnt;
            again(std::string("metadata: ") + rd_kafka_err2str(found.err));
            continue;
        }
        again(std::string("metadata: ") + rd_kafka_err2str(err));
    }
}

void Reader::create_topic(rd_kafka_t* rk) {
    char errstr[512];
    // One partition: a few keys, one per slot; -1 takes the cluster's default replication.
    std::unique_ptr<rd_kafka_NewTopic_t, NewTopicRelease> topic(
        rd_kafka_NewTopic_new(config_.topic.c_str(), 1, -1, errstr, sizeof errstr));
    if (!topic) throw KafkaError(std::string("offsets topic: ") + errstr);
    rd_kafka_NewTopic_set_config(topic.get(), "cleanup.policy", "compact");
    // Compaction leaves the active segment alone, and each start reads the topic from the
    // beginning: segments roll every 10 minutes (not weekly), so a start reads a few thousand
    // records, not every commit since the last roll.
    rd_kafka_NewTopic_set_config(topic.get(), "segment.ms", "600000");
    std::unique_ptr<rd_kafka_queue_t, QueueRelease> queue(rd_kafka_queue_new(rk));
    rd_kafka_NewTopic_t* topics[] = {topic.get()};
    rd_kafka_CreateTopics(rk, topics, 1, nullptr, queue.get());
    for (;;) {
        std::unique_ptr<rd_kafka_event_t, EventRelease> event(
            rd_kafka_queue_poll(queue.get(), kRoundMs));
        if (!event) {
            again("waiting for the topic to be created");
            continue;
        }
        const rd_kafka_CreateTopics_result_t* result =
            rd_kafka_event_CreateTopics_result(event.get());
        if (result == nullptr) continue;
        size_t count = 0;
        const rd_kafka_topic_result_t** results =
            rd_kafka_CreateTopics_result_topics(result, &count);
        const rd_kafka_resp_err_t err = count == 1 ? rd_kafka_topic_result_error(results[0])
                                                   : rd_kafka_event_error(event.get());
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            return;
        throw KafkaError("cannot create offsets topic \"" + config_.topic + "\": " +
                         (count == 1 && rd_kafka_topic_result_error_string(results[0])
                              ? rd_kafka_topic_result_error_string(results[0])
                              : rd_kafka_err2str(err)));
    }
}

uint64_t Reader::read() {
    ConsumerHandle consumer = connect();
    int count = partitions(consumer.get());
    while (count == 0) {
        create_topic(consumer.get());
        count = partitions(consumer.get());
    }
    std::unique_ptr<rd_kafka_topic_partition_list_t, ListRelease> assignment(
        rd_kafka_topic_partition_list_new(count));
    for (int p = 0; p < count; ++p)
        rd_kafka_topic_partition_list_add(assignment.get(), config_.topic.c_str(), p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    const rd_kafka_resp_err_t assigned = rd_kafka_assign(consumer.get(), assignment.get());
    if (assigned != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw KafkaError(std::string("offsets topic reader: assign: ") +
                         rd_kafka_err2str(assigned));

    // Under read_committed a partition's end is its last stable offset: nothing of an open
    // transaction is read, and the end is reached only once every transaction before it ended.
    std::set<int32_t> at_end;
    uint64_t stored = 0;
    while (static_cast<int>(at_end.size()) < count) {
        std::unique_ptr<rd_kafka_message_t, MessageRelease> message(
            rd_kafka_consumer_poll(consumer.get(), kRoundMs));
        if (!message) {
            again("waiting for its end");
            continue;
        }
        if (message->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end.insert(message->partition);
            continue;
        }
        if (message->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            again(rd_kafka_message_errstr(message.get()));
            continue;
        }
        const std::string_view key(static_cast<const char*>(message->key), message->key_len);
        if (key != config_.key || message->payload == nullptr) continue;
        const auto lsn = parse_lsn(
            std::string_view(static_cast<const char*>(message->payload), message->len));
        if (!lsn)
            throw KafkaError("offsets topic \"" + config_.topic + "\" holds a value for \"" +
                             config_.key + "\" that is not an LSN");
        // Commit LSNs only grow, so the highest is the latest.
        stored = std::max(stored, *lsn);
    }
    return stored;
}

}  // namespace

uint64_t read_stored_lsn(const OffsetsReaderConfig& config, const Waiter& wait) {
    Reader reader(config, wait);
    return reader.read();
}

}  // namespace bw
