// Unit tests for the produce phase against librdkafka's in-process mock cluster: delivery reports
// reach the AckTracker, backpressure is reported instead of blocking, failures hold the slot back.
#include "produce/kafka_sink.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka_mock.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "mock_cluster.h"

namespace bw {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int16_t kProduceApiKey = 0;

class KafkaSinkTest : public ::testing::Test {
protected:
    KafkaSinkTest() : cluster_(3) { cluster_.create_topic("bw.public.items", 4); }

    KafkaSinkConfig config() const {
        KafkaSinkConfig c;
        c.brokers = cluster_.bootstraps();
        return c;
    }

    // Polls as the worker would, until the predicate holds or time runs out.
    template <typename Done>
    static bool poll_until(KafkaSink& sink, Done done, std::chrono::seconds limit) {
        const auto deadline = Clock::now() + limit;
        while (!done()) {
            if (Clock::now() > deadline) return false;
            sink.poll(50);
        }
        return true;
    }

    MockCluster cluster_;
};

TEST_F(KafkaSinkTest, AcknowledgedMessagesMakeTheLastTransactionConfirmable) {
    KafkaSink sink(config());
    AckTracker& acks = sink.acks();
    for (uint64_t lsn = 1000; lsn <= 5000; lsn += 1000) {
        const TxnId txn = acks.begin_transaction(lsn);
        for (int row = 0; row < 3; ++row) {
            const std::string key = "k" + std::to_string(row);
            ASSERT_EQ(sink.produce("bw.public.items", key, "v" + std::to_string(lsn), txn),
                      ProduceResult::Queued);
        }
        // A delete: the key with a null value.
        ASSERT_EQ(sink.produce("bw.public.items", std::string_view("k0"), std::nullopt, txn),
                  ProduceResult::Queued);
        acks.end_transaction(txn);
    }
    EXPECT_EQ(acks.produced(), 20u);

    ASSERT_TRUE(poll_until(
        sink, [&] { return acks.confirmable_lsn() == 5000; }, std::chrono::seconds(20)))
        << "confirmable " << acks.confirmable_lsn() << ", last error: " << sink.last_error();
    EXPECT_EQ(acks.acknowledged(), 20u);
    EXPECT_EQ(acks.in_flight(), 0u);
    EXPECT_FALSE(acks.failed());
    EXPECT_FALSE(sink.fatal());
}

// bw_emit may name any number of topics: the handles held stay within their bound, and every
// message still arrives.
TEST_F(KafkaSinkTest, TopicHandlesStayWithinTheirBound) {
    KafkaSinkConfig c = config();
    c.max_topic_handles = 2;
    KafkaSink sink(c);
    AckTracker& acks = sink.acks();
    const TxnId txn = acks.begin_transaction(1000);
    for (int i = 0; i < 7; i++) {
        const std::string topic = "bw.outbox." + std::to_string(i % 5);
        ASSERT_EQ(sink.produce(topic, std::string_view("k"), std::string_view("v"), txn),
                  ProduceResult::Queued);
        EXPECT_LE(sink.topic_handles(), 2u);
    }
    acks.end_transaction(txn);
    ASSERT_TRUE(poll_until(
        sink, [&] { return acks.confirmable_lsn() == 1000; }, std::chrono::seconds(20)))
        << "last error: " << sink.last_error();
    EXPECT_EQ(acks.acknowledged(), 7u);
}

// Reads the topic back to check that keys, values and the tombstone arrive as produced.
TEST_F(KafkaSinkTest, TombstoneArrivesWithNullValue) {
    cluster_.create_topic("bw.public.single", 1);
    {
        KafkaSink sink(config());
        const TxnId txn = sink.acks().begin_transaction(1);
        ASSERT_EQ(
            sink.produce("bw.public.single", std::string_view("a"), std::string_view("1"), txn),
            ProduceResult::Queued);
        ASSERT_EQ(sink.produce("bw.public.single", std::string_view("a"), std::nullopt, txn),
                  ProduceResult::Queued);
        sink.acks().end_transaction(txn);
        ASSERT_TRUE(sink.flush(20000));
        ASSERT_EQ(sink.acks().confirmable_lsn(), 1u);
    }

    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", cluster_.bootstraps().c_str(), errstr,
                                sizeof errstr),
              RD_KAFKA_CONF_OK);
    // assign() needs a group id even though no group is joined.
    ASSERT_EQ(rd_kafka_conf_set(conf, "group.id", "bw-test", errstr, sizeof errstr),
              RD_KAFKA_CONF_OK);
    rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    ASSERT_NE(consumer, nullptr) << errstr;
    rd_kafka_topic_partition_list_t* assignment = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(assignment, "bw.public.single", 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    ASSERT_EQ(rd_kafka_assign(consumer, assignment), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(assignment);

    std::vector<std::pair<std::string, std::optional<std::string>>> received;
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (received.size() < 2 && Clock::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer, 100);
        if (m == nullptr) continue;
        if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            std::optional<std::string> value;
            if (m->payload != nullptr) value.emplace(static_cast<const char*>(m->payload), m->len);
            received.emplace_back(std::string(static_cast<const char*>(m->key), m->key_len), value);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);

    ASSERT_EQ(received.size(), 2u);
    EXPECT_EQ(received[0].first, "a");
    EXPECT_EQ(received[0].second, std::optional<std::string>("1"));
    EXPECT_EQ(received[1].first, "a");
    EXPECT_EQ(received[1].second, std::nullopt);
}

TEST_F(KafkaSinkTest, FullQueueIsReportedNotWaitedFor) {
    KafkaSinkConfig c = config();
    c.queue_max_messages = 3;
    KafkaSink sink(c);
    const TxnId txn = sink.acks().begin_transaction(42);
    // Without poll() no delivery report is served, so the three stay counted against the bound.
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(
            sink.produce("bw.public.items", std::string_view("k"), std::string_view("v"), txn),
            ProduceResult::Queued);
    }
    EXPECT_EQ(sink.produce("bw.public.items", std::string_view("k"), std::string_view("v"), txn),
              ProduceResult::QueueFull);
    EXPECT_EQ(sink.acks().produced(), 3u);

    ASSERT_TRUE(poll_until(
        sink, [&] { return sink.acks().in_flight() == 0; }, std::chrono::seconds(20)));
    EXPECT_EQ(sink.produce("bw.public.items", std::string_view("k"), std::string_view("v"), txn),
              ProduceResult::Queued);
    sink.acks().end_transaction(txn);
    ASSERT_TRUE(poll_until(
        sink, [&] { return sink.acks().confirmable_lsn() == 42; }, std::chrono::seconds(20)));
}

TEST_F(KafkaSinkTest, RejectedMessageFailsItsTransactionAndHoldsTheSlot) {
    // One partition, so the broker sees the transactions in order and one request per batch.
    cluster_.create_topic("bw.public.single", 1);
    KafkaSink sink(config());
    AckTracker& acks = sink.acks();

    const TxnId first = acks.begin_transaction(100);
    ASSERT_EQ(sink.produce("bw.public.single", std::string_view("k"), std::string_view("v"), first),
              ProduceResult::Queued);
    acks.end_transaction(first);
    ASSERT_TRUE(sink.flush(20000));
    ASSERT_EQ(acks.confirmable_lsn(), 100u);

    rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 1,
                                      RD_KAFKA_RESP_ERR_INVALID_RECORD);
    const TxnId rejected = acks.begin_transaction(200);
    ASSERT_EQ(
        sink.produce("bw.public.single", std::string_view("k"), std::string_view("v"), rejected),
        ProduceResult::Queued);
    acks.end_transaction(rejected);
    ASSERT_TRUE(poll_until(
        sink, [&] { return acks.failed(); }, std::chrono::seconds(20)));

    const TxnId later = acks.begin_transaction(300);
    ASSERT_EQ(sink.produce("bw.public.single", std::string_view("k"), std::string_view("v"), later),
              ProduceResult::Queued);
    acks.end_transaction(later);
    sink.flush(20000);

    EXPECT_NE(acks.first_failure().find("failed to validate record"), std::string::npos)
        << acks.first_failure();
    // The later transaction is in Kafka, yet the slot must stay before the lost message.
    EXPECT_EQ(acks.acknowledged(), 2u);
    EXPECT_EQ(acks.in_flight(), 0u);
    EXPECT_EQ(acks.confirmable_lsn(), 100u);
}

// The judge sees the refused message's topic, key and error; a message it gives up no longer
// holds its transaction back and is not counted as acknowledged.
TEST_F(KafkaSinkTest, AJudgedFailureIsGivenUpOrFailsWithTheJudgesReason) {
    cluster_.create_topic("bw.public.single", 1);
    KafkaSink sink(config());
    AckTracker& acks = sink.acks();
    std::vector<std::string> judged;
    sink.set_failure_judge([&](const DeliveryFailure& failure, std::string& reason) {
        judged.push_back(std::string(failure.topic) + "/" +
                         (failure.key ? std::string(*failure.key) : "null") + "/" +
                         rd_kafka_err2name(failure.error));
        reason = "judged: " + reason;
        return !failure.key;  // gives up the keyless one only
    });

    rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 1,
                                      RD_KAFKA_RESP_ERR_INVALID_RECORD);
    const TxnId given_up = acks.begin_transaction(100);
    ASSERT_EQ(sink.produce("bw.public.single", std::nullopt, std::string_view("v"), given_up),
              ProduceResult::Queued);
    acks.end_transaction(given_up);
    ASSERT_TRUE(sink.flush(20000));
    EXPECT_EQ(acks.confirmable_lsn(), 100u);
    EXPECT_EQ(acks.given_up(), 1u);
    EXPECT_FALSE(acks.failed());

    rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 1,
                                      RD_KAFKA_RESP_ERR_INVALID_RECORD);
    const TxnId failed = acks.begin_transaction(200);
    ASSERT_EQ(sink.produce("bw.public.single", std::string_view("k"), std::string_view("v"), failed),
              ProduceResult::Queued);
    acks.end_transaction(failed);
    ASSERT_TRUE(poll_until(
        sink, [&] { return acks.failed(); }, std::chrono::seconds(20)));
    EXPECT_EQ(acks.first_failure().rfind("judged: delivery to topic", 0), 0u)
        << acks.first_failure();
    EXPECT_EQ(acks.confirmable_lsn(), 100u);
    EXPECT_EQ(judged, (std::vector<std::string>{"bw.public.single/null/INVALID_RECORD",
                                                "bw.public.single/k/INVALID_RECORD"}));
}

TEST_F(KafkaSinkTest, AMessageOverTheProducersLimitIsRefusedAtOnce) {
    KafkaSinkConfig c = config();
    c.kafka_config = {{"message.max.bytes", "1000"}};
    KafkaSink sink(c);
    const TxnId txn = sink.acks().begin_transaction(1);
    EXPECT_THROW(sink.produce("bw.public.items", std::string_view("k"),
                              std::string_view(std::string(5000, 'x')), txn),
                 MessageRefused);
    EXPECT_EQ(sink.acks().produced(), 0u);
}

// The librdkafka 2.0.2 failure the worker must survive by replacing the producer.
TEST_F(KafkaSinkTest, SequenceDesynchronisationIsFatal) {
    cluster_.create_topic("bw.public.single", 1);
    KafkaSink sink(config());
    AckTracker& acks = sink.acks();
    const TxnId first = acks.begin_transaction(100);
    ASSERT_EQ(sink.produce("bw.public.single", std::string_view("k"), std::string_view("v"), first),
              ProduceResult::Queued);
    acks.end_transaction(first);
    ASSERT_TRUE(sink.flush(20000));

    rd_kafka_mock_push_request_errors(cluster_.get(), kProduceApiKey, 1,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    const TxnId second = acks.begin_transaction(200);
    ASSERT_EQ(
        sink.produce("bw.public.single", std::string_view("k"), std::string_view("v"), second),
        ProduceResult::Queued);
    acks.end_transaction(second);
    ASSERT_TRUE(poll_until(
        sink, [&] { return sink.fatal(); }, std::chrono::seconds(20)));

    EXPECT_NE(sink.last_error().find("sequence desynchronization"), std::string::npos)
        << sink.last_error();
    EXPECT_EQ(acks.confirmable_lsn(), 100u);
    const TxnId third = acks.begin_transaction(300);
    EXPECT_THROW(
        sink.produce("bw.public.single", std::string_view("k"), std::string_view("v"), third),
        KafkaError);
}

TEST_F(KafkaSinkTest, DestroyingWithMessagesInFlightDoesNotWaitForKafka) {
    KafkaSink* sink = new KafkaSink(config());
    for (int broker = 1; broker <= 3; ++broker) {
        rd_kafka_mock_broker_set_down(cluster_.get(), broker);
    }
    const TxnId txn = sink->acks().begin_transaction(7);
    ASSERT_EQ(sink->produce("bw.public.items", std::string_view("k"), std::string_view("v"), txn),
              ProduceResult::Queued);
    sink->poll(200);
    EXPECT_EQ(sink->acks().confirmable_lsn(), 0u);

    const auto start = Clock::now();
    delete sink;
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST_F(KafkaSinkTest, UnreachableKafkaIsReportedAsLastError) {
    KafkaSinkConfig c;
    c.brokers = "127.0.0.1:1";
    KafkaSink sink(c);
    const TxnId txn = sink.acks().begin_transaction(7);
    ASSERT_EQ(sink.produce("bw.public.items", std::string_view("k"), std::string_view("v"), txn),
              ProduceResult::Queued);
    ASSERT_TRUE(poll_until(
        sink, [&] { return !sink.last_error().empty(); }, std::chrono::seconds(20)));
    EXPECT_FALSE(sink.fatal());
    // message.timeout.ms=0: the message waits for Kafka instead of failing.
    EXPECT_FALSE(sink.acks().failed());
    EXPECT_EQ(sink.acks().in_flight(), 1u);
}

TEST_F(KafkaSinkTest, LogsAreServedByPollOnTheCallersThread) {
    KafkaSinkConfig c = config();
    c.kafka_config = {{"debug", "broker"}};
    KafkaSink sink(c);
    const std::thread::id caller = std::this_thread::get_id();
    bool logged = false, other_thread = false;
    sink.set_log_sink([&](int, std::string_view, std::string_view) {
        logged = true;
        if (std::this_thread::get_id() != caller) other_thread = true;
    });
    ASSERT_TRUE(poll_until(
        sink, [&] { return logged; }, std::chrono::seconds(20)));
    EXPECT_FALSE(other_thread);
}

// The message of the KafkaError a sink with this configuration throws.
std::string construction_error(const KafkaSinkConfig& c) {
    try {
        KafkaSink sink(c);
    } catch (const KafkaError& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected KafkaError";
    return "";
}

TEST_F(KafkaSinkTest, InvalidPropertyThrowsNamingIt) {
    KafkaSinkConfig c = config();
    c.kafka_config = {{"sasl.password", "s3cret"}, {"no.such.property", "s3cret"}};
    std::string error = construction_error(c);
    EXPECT_NE(error.find("kafka_config: cannot set \"no.such.property\""), std::string::npos)
        << error;
    EXPECT_EQ(error.find("s3cret"), std::string::npos) << error;

    // librdkafka's own message quotes a value it cannot parse; the value stays out of ours.
    c.kafka_config = {{"security.protocol", "s3cret"}};
    error = construction_error(c);
    EXPECT_NE(error.find("kafka_config: cannot set \"security.protocol\""), std::string::npos)
        << error;
    EXPECT_EQ(error.find("s3cret"), std::string::npos) << error;

    c.kafka_config.clear();
    c.topic_config = {{"partitioner", "no_such_partitioner"}};
    error = construction_error(c);
    EXPECT_NE(error.find("topic_config: cannot set \"partitioner\""), std::string::npos)
        << error;
}

TEST_F(KafkaSinkTest, UserConfigCannotWeakenDeliveryGuarantees) {
    for (const auto& property : std::vector<std::pair<std::string, std::string>>{
             {"enable.idempotence", "false"}, {"acks", "1"}, {"request.required.acks", "0"},
             // bottledwater's own under exactly_once; without init_transactions nothing flows
             {"transactional.id", "mine"}}) {
        KafkaSinkConfig c = config();
        c.kafka_config = {property};
        EXPECT_THROW(KafkaSink sink(c), KafkaError) << property.first;
    }
    KafkaSinkConfig c = config();
    c.kafka_config = {
        {"acks", "all"}, {"compression.codec", "lz4"}, {"message.timeout.ms", "1000"}};
    EXPECT_NO_THROW(KafkaSink sink(c));
}

}  // namespace
}  // namespace bw
