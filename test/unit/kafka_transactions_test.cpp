// Exactly-once against librdkafka's mock cluster (its transaction coordinator): a committed
// transaction's LSN is what the offsets topic reader finds. The 2.0.2 mock does not fence an
// older producer of a transactional.id; that is left to the fault soak on real brokers.
#include "deliver/kafka_transactions.h"

#include <gtest/gtest.h>

#include "deliver/offset_record.h"
#include "deliver/offsets_reader.h"
#include "mock_cluster.h"

namespace bw {
namespace {

const char kTopic[] = "_bottledwater_offsets";
const char kKey[] = "bottledwater:bw_shop:shop";

struct KafkaTransactionsTest : ::testing::Test {
    KafkaTransactionsTest() : cluster(3) {
        cluster.create_topic(kTopic, 1);
        cluster.create_topic("bw.public.items", 2);
    }

    KafkaSinkConfig config() const {
        KafkaSinkConfig c;
        c.brokers = cluster.bootstraps();
        c.transactional_id = kKey;
        c.kafka_config = {{"log_level", "0"}};
        return c;
    }
    uint64_t stored() const {
        OffsetsReaderConfig reader;
        reader.brokers = cluster.bootstraps();
        reader.kafka_config = {{"log_level", "0"}};
        reader.topic = kTopic;
        reader.key = kKey;
        reader.deadline_ms = 20000;
        return read_stored_lsn(reader, ignore);
    }
    // One Kafka transaction with one change and the LSN record.
    void produce(KafkaSink& sink, KafkaTransactions& txns, uint64_t lsn) {
        txns.begin();
        const TxnId txn = sink.acks().begin_transaction(lsn);
        ASSERT_EQ(sink.produce("bw.public.items", std::string("k"), std::string("v"), txn),
                  ProduceResult::Queued);
        sink.acks().end_transaction(txn);
        txns.record_lsn(lsn);
    }

    Waiter ignore = [](const std::string&) {};
    MockCluster cluster;
};

TEST_F(KafkaTransactionsTest, TheReaderFindsTheLastCommittedLsn) {
    EXPECT_EQ(stored(), 0u);
    KafkaSink sink(config());
    KafkaTransactions txns(sink, kTopic, kKey);
    txns.init(ignore);
    produce(sink, txns, 0x100);
    txns.commit(ignore);
    produce(sink, txns, 0x200);
    txns.commit(ignore);
    sink.poll(0);
    EXPECT_FALSE(sink.fatal()) << sink.last_error();
    EXPECT_EQ(stored(), 0x200u);
}

TEST_F(KafkaTransactionsTest, TheReaderCreatesAMissingTopic) {
    OffsetsReaderConfig reader;
    reader.brokers = cluster.bootstraps();
    reader.kafka_config = {{"log_level", "0"}};
    reader.topic = "offsets_not_there_yet";
    reader.key = kKey;
    reader.deadline_ms = 20000;
    EXPECT_EQ(read_stored_lsn(reader, ignore), 0u);
    EXPECT_EQ(read_stored_lsn(reader, ignore), 0u);
}

}  // namespace
}  // namespace bw
