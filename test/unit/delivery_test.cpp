// The delivery modes' bookkeeping without a broker: which LSN the slot may confirm, which
// replayed transactions exactly-once leaves out, when its Kafka transactions commit.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "deliver/at_least_once.h"
#include "deliver/exactly_once.h"
#include "deliver/offset_record.h"

namespace bw {
namespace {

using std::chrono::milliseconds;

// Records the calls; commit() fails once when told to.
class FakeLog : public TransactionLog {
public:
    void begin() override {
        EXPECT_FALSE(open);
        open = true;
        calls.push_back("begin");
    }
    void record_lsn(uint64_t lsn) override {
        EXPECT_TRUE(open);
        calls.push_back("lsn " + format_lsn(lsn));
    }
    void commit(const Waiter&) override {
        EXPECT_TRUE(open);
        if (abort_next_commit) {
            abort_next_commit = false;
            open = false;
            throw TransactionAborted("aborted");
        }
        open = false;
        calls.push_back("commit");
    }
    bool open = false;
    bool abort_next_commit = false;
    std::vector<std::string> calls;
};

struct ExactlyOnce : ::testing::Test {
    FakeLog log;
    AckTracker acks;
    std::chrono::steady_clock::time_point now{};
    ExactlyOnceConfig config = [] {
        ExactlyOnceConfig c;
        c.interval_ms = 50;
        c.max_messages = 3;
        c.idle_record_ms = 1000;
        return c;
    }();
    Waiter wait = [](const std::string&) {};

    ExactlyOnceDelivery make(uint64_t stored) {
        return ExactlyOnceDelivery(log, acks, config, stored, wait, [this] { return now; });
    }
    // One PostgreSQL transaction of `messages` messages, all acknowledged.
    void transaction(ExactlyOnceDelivery& delivery, uint64_t lsn, int messages) {
        const auto txn = delivery.begin_transaction(lsn);
        ASSERT_TRUE(txn);
        for (int i = 0; i < messages; ++i) acks.message_produced(*txn);
        for (int i = 0; i < messages; ++i) acks.message_acknowledged(*txn);
        delivery.end_transaction(*txn);
    }
};

TEST_F(ExactlyOnce, SkipsTransactionsAtOrBelowTheStoredLsn) {
    ExactlyOnceDelivery delivery = make(0x200);
    EXPECT_FALSE(delivery.begin_transaction(0x100));
    EXPECT_FALSE(delivery.begin_transaction(0x200));
    EXPECT_TRUE(delivery.begin_transaction(0x201));
    EXPECT_EQ(delivery.skipped_transactions(), 2u);
    EXPECT_EQ(log.calls, (std::vector<std::string>{"begin"}));
}

TEST_F(ExactlyOnce, ConfirmsOnlyWhatACommittedTransactionHolds) {
    ExactlyOnceDelivery delivery = make(0x10);
    EXPECT_EQ(delivery.confirmable_lsn(0x999), 0x10u);
    transaction(delivery, 0x20, 1);
    transaction(delivery, 0x30, 1);
    // Acknowledged is not committed: the slot stays where the offsets topic is.
    EXPECT_EQ(delivery.confirmable_lsn(0x999), 0x10u);
    delivery.between_passes(0x40);  // the end of a pass commits, however young
    EXPECT_EQ(delivery.confirmable_lsn(0x999), 0x30u);
    EXPECT_EQ(log.calls, (std::vector<std::string>{"begin", "lsn 0/30", "commit"}));
}

TEST_F(ExactlyOnce, ClosesOnTimeAtATransactionsEndNeverInsideOne) {
    ExactlyOnceDelivery delivery = make(0);
    const auto txn = delivery.begin_transaction(0x20);
    ASSERT_TRUE(txn);
    now += milliseconds(500);
    acks.message_produced(*txn);
    EXPECT_TRUE(log.open);  // nothing commits while the transaction is being produced
    delivery.end_transaction(*txn);
    EXPECT_FALSE(log.open);
    EXPECT_EQ(delivery.confirmable_lsn(0), 0x20u);
}

TEST_F(ExactlyOnce, StaysOpenAcrossYoungTransactionsOfOnePass) {
    ExactlyOnceDelivery delivery = make(0);
    transaction(delivery, 0x20, 1);
    now += milliseconds(49);
    transaction(delivery, 0x30, 1);
    EXPECT_TRUE(log.open);
    now += milliseconds(1);
    transaction(delivery, 0x40, 1);  // the one that finds it 50 ms old closes it
    EXPECT_FALSE(log.open);
    EXPECT_EQ(log.calls, (std::vector<std::string>{"begin", "lsn 0/40", "commit"}));
}

TEST_F(ExactlyOnce, ClosesOnSize) {
    ExactlyOnceDelivery delivery = make(0);
    transaction(delivery, 0x20, 2);
    EXPECT_TRUE(log.open);
    transaction(delivery, 0x30, 1);  // the third message
    EXPECT_FALSE(log.open);
    EXPECT_EQ(delivery.committed_transactions(), 1u);
}

TEST_F(ExactlyOnce, CatchingUpHoldsMoreAndLongerAndKeepsItOpenAcrossPasses) {
    config.catch_up_interval_ms = 1000;
    config.catch_up_max_messages = 5;
    ExactlyOnceDelivery delivery = make(0);
    delivery.set_catching_up(true);
    transaction(delivery, 0x20, 2);
    now += milliseconds(500);  // past interval_ms, short of catch_up_interval_ms
    transaction(delivery, 0x30, 1);
    delivery.between_passes(0x38);  // the next pass starts at once: nothing commits yet
    EXPECT_TRUE(log.open);
    transaction(delivery, 0x40, 2);  // the fifth message
    EXPECT_FALSE(log.open);
    transaction(delivery, 0x50, 1);
    now += milliseconds(1000);
    delivery.between_passes(0x58);  // due on time
    EXPECT_FALSE(log.open);
    transaction(delivery, 0x60, 1);
    delivery.set_catching_up(false);  // caught up: the end of the pass commits, however young
    delivery.between_passes(0x68);
    EXPECT_FALSE(log.open);
    EXPECT_EQ(log.calls, (std::vector<std::string>{"begin", "lsn 0/40", "commit", "begin",
                                                   "lsn 0/50", "commit", "begin", "lsn 0/60",
                                                   "commit"}));
}

TEST_F(ExactlyOnce, RecordsTheLsnAloneWhenTheWalMovesWithoutChanges) {
    ExactlyOnceDelivery delivery = make(0x10);
    delivery.between_passes(0x80);
    EXPECT_TRUE(log.calls.empty());  // not yet: too soon after the last commit
    now += milliseconds(1000);
    delivery.between_passes(0x80);
    EXPECT_EQ(log.calls, (std::vector<std::string>{"begin", "lsn 0/80", "commit"}));
    EXPECT_EQ(delivery.confirmable_lsn(0), 0x80u);
    now += milliseconds(5000);
    delivery.between_passes(0x80);  // nothing new: nothing written
    EXPECT_EQ(log.calls.size(), 3u);
}

TEST_F(ExactlyOnce, AnAbortedCommitConfirmsNothingOfIt) {
    ExactlyOnceDelivery delivery = make(0x10);
    transaction(delivery, 0x20, 1);
    log.abort_next_commit = true;
    EXPECT_THROW(delivery.finish(wait), TransactionAborted);
    EXPECT_EQ(delivery.confirmable_lsn(0x999), 0x10u);
}

TEST_F(ExactlyOnce, FinishCommitsWhatIsOpenAndNothingWhenNothingIs) {
    ExactlyOnceDelivery delivery = make(0);
    delivery.finish(wait);
    EXPECT_TRUE(log.calls.empty());
    transaction(delivery, 0x20, 1);  // a snapshot: one PostgreSQL transaction
    delivery.finish(wait);
    EXPECT_EQ(log.calls, (std::vector<std::string>{"begin", "lsn 0/20", "commit"}));
}

TEST(AtLeastOnce, ConfirmsAcknowledgedAndTheReaderWhenNothingIsPending) {
    AckTracker acks;
    AtLeastOnceDelivery delivery(acks);
    const auto txn = delivery.begin_transaction(0x20);
    ASSERT_TRUE(txn);
    acks.message_produced(*txn);
    delivery.end_transaction(*txn);
    EXPECT_EQ(delivery.confirmable_lsn(0x50), 0u);
    acks.message_acknowledged(*txn);
    EXPECT_EQ(delivery.confirmable_lsn(0), 0x20u);
    EXPECT_EQ(delivery.confirmable_lsn(0x50), 0x50u);
}

TEST(OffsetRecord, LsnTextRoundTrips) {
    EXPECT_EQ(format_lsn(0x16B374D848ull), "16/B374D848");
    EXPECT_EQ(parse_lsn("16/B374D848"), 0x16B374D848ull);
    EXPECT_EQ(parse_lsn("0/0"), 0u);
    EXPECT_FALSE(parse_lsn("16B374D848"));
    EXPECT_FALSE(parse_lsn("/1"));
    EXPECT_FALSE(parse_lsn("1/123456789"));
    EXPECT_FALSE(parse_lsn("1/x"));
    EXPECT_EQ(offsets_key(7351234567890123456ull, "shop", "bw_shop"),
              "bottledwater:7351234567890123456:bw_shop:shop");
}

}  // namespace
}  // namespace bw
