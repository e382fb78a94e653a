// Unit tests for the acknowledge phase: which commit LSN the slot may be confirmed up to, as
// delivery reports arrive in any order.
#include "acknowledge/ack_tracker.h"

#include <gtest/gtest.h>

namespace bw {
namespace {

// A transaction with `messages` produced and no more to come.
TxnId ended_transaction(AckTracker& acks, uint64_t commit_lsn, int messages) {
    const TxnId txn = acks.begin_transaction(commit_lsn);
    for (int i = 0; i < messages; i++) acks.message_produced(txn);
    acks.end_transaction(txn);
    return txn;
}

TEST(AckTracker, NothingConfirmableBeforeAnyTransactionFinishes) {
    AckTracker acks;
    EXPECT_EQ(acks.confirmable_lsn(), 0u);
    const TxnId t = acks.begin_transaction(100);
    acks.message_produced(t);
    acks.end_transaction(t);
    EXPECT_EQ(acks.confirmable_lsn(), 0u);
    EXPECT_EQ(acks.in_flight(), 1u);
}

TEST(AckTracker, TransactionNotConfirmableUntilEnded) {
    AckTracker acks;
    const TxnId t = acks.begin_transaction(100);
    acks.message_produced(t);
    acks.message_acknowledged(t);
    // More messages may still come for it.
    EXPECT_EQ(acks.confirmable_lsn(), 0u);
    acks.end_transaction(t);
    EXPECT_EQ(acks.confirmable_lsn(), 100u);
}

TEST(AckTracker, OutOfOrderAcknowledgementsAcrossTransactions) {
    AckTracker acks;
    const TxnId t1 = ended_transaction(acks, 100, 2);
    const TxnId t2 = ended_transaction(acks, 200, 1);
    const TxnId t3 = ended_transaction(acks, 300, 1);

    // Later transactions fully acknowledged first: still held back by t1.
    acks.message_acknowledged(t3);
    acks.message_acknowledged(t2);
    acks.message_acknowledged(t1);
    EXPECT_EQ(acks.confirmable_lsn(), 0u);
    EXPECT_EQ(acks.pending_transactions(), 3u);

    // t1's last report releases everything behind it at once.
    acks.message_acknowledged(t1);
    EXPECT_EQ(acks.confirmable_lsn(), 300u);
    EXPECT_EQ(acks.pending_transactions(), 0u);
    EXPECT_EQ(acks.produced(), 4u);
    EXPECT_EQ(acks.acknowledged(), 4u);
    EXPECT_EQ(acks.in_flight(), 0u);
}

TEST(AckTracker, PartialPrefixAdvances) {
    AckTracker acks;
    const TxnId t1 = acks.begin_transaction(100);
    acks.message_produced(t1);
    acks.end_transaction(t1);
    const TxnId t2 = acks.begin_transaction(200);
    acks.message_produced(t2);
    acks.end_transaction(t2);
    acks.message_acknowledged(t1);
    EXPECT_EQ(acks.confirmable_lsn(), 100u);
    EXPECT_EQ(acks.pending_transactions(), 1u);
}

TEST(AckTracker, EmptyTransactionsAreDoneOnceEnded) {
    AckTracker acks;
    const TxnId t1 = acks.begin_transaction(100);
    acks.end_transaction(t1);
    EXPECT_EQ(acks.confirmable_lsn(), 100u);

    const TxnId t2 = acks.begin_transaction(200);
    acks.message_produced(t2);
    acks.end_transaction(t2);
    const TxnId t3 = acks.begin_transaction(300);
    acks.end_transaction(t3);
    // The empty t3 waits behind t2.
    EXPECT_EQ(acks.confirmable_lsn(), 100u);
    acks.message_acknowledged(t2);
    EXPECT_EQ(acks.confirmable_lsn(), 300u);
}

TEST(AckTracker, FailurePoisonsEverythingAfterIt) {
    AckTracker acks;
    const TxnId t1 = acks.begin_transaction(100);
    acks.message_produced(t1);
    acks.end_transaction(t1);
    const TxnId t2 = acks.begin_transaction(200);
    acks.message_produced(t2);
    acks.message_produced(t2);
    acks.end_transaction(t2);
    const TxnId t3 = acks.begin_transaction(300);
    acks.message_produced(t3);
    acks.end_transaction(t3);

    acks.message_acknowledged(t1);
    acks.message_failed(t2, "first cause");
    acks.message_failed(t2, "second cause");
    acks.message_acknowledged(t3);

    EXPECT_TRUE(acks.failed());
    EXPECT_EQ(acks.first_failure(), "first cause");
    EXPECT_EQ(acks.confirmable_lsn(), 100u);
    EXPECT_EQ(acks.in_flight(), 0u);
    EXPECT_EQ(acks.acknowledged(), 2u);
}

TEST(AckTracker, FailureReportedBeforeTheTransactionEndsStillPoisons) {
    AckTracker acks;
    const TxnId t1 = acks.begin_transaction(100);
    acks.message_produced(t1);
    acks.message_failed(t1, "lost");
    acks.end_transaction(t1);
    const TxnId t2 = acks.begin_transaction(200);
    acks.end_transaction(t2);
    EXPECT_TRUE(acks.failed());
    EXPECT_EQ(acks.confirmable_lsn(), 0u);
}

TEST(AckTracker, TxnIdsStayValidAcrossManyTransactions) {
    AckTracker acks;
    // Enough to make the deque reallocate and drop its front many times over.
    TxnId held = acks.begin_transaction(1);
    acks.message_produced(held);
    acks.end_transaction(held);
    for (uint64_t lsn = 2; lsn <= 10000; ++lsn) {
        const TxnId t = acks.begin_transaction(lsn);
        acks.message_produced(t);
        acks.end_transaction(t);
        if (lsn % 2 == 0) {
            acks.message_acknowledged(held);
            held = t;
        } else {
            acks.message_acknowledged(t);
        }
    }
    acks.message_acknowledged(held);
    EXPECT_EQ(acks.confirmable_lsn(), 10000u);
    EXPECT_EQ(acks.pending_transactions(), 0u);
}

TEST(AckTracker, ContractViolationsThrow) {
    AckTracker acks;
    const TxnId t1 = acks.begin_transaction(100);
    acks.end_transaction(t1);
    EXPECT_THROW(acks.message_produced(t1), AckTrackerMisuse);  // already confirmed and gone
    EXPECT_THROW(acks.begin_transaction(50), AckTrackerMisuse);
    const TxnId t2 = acks.begin_transaction(200);
    EXPECT_THROW(acks.message_acknowledged(t2), AckTrackerMisuse);
    EXPECT_THROW(acks.message_acknowledged(t2 + 1), AckTrackerMisuse);
    acks.end_transaction(t2);
    EXPECT_THROW(acks.message_produced(t2), AckTrackerMisuse);
}

// A message given up under on_error = log: its transaction is confirmable once the rest is
// acknowledged, and it is not counted as acknowledged.
TEST(AckTracker, GivenUpMessageNoLongerHoldsItsTransaction) {
    AckTracker acks;
    const TxnId t1 = ended_transaction(acks, 100, 2);
    const TxnId t2 = ended_transaction(acks, 200, 1);
    acks.message_acknowledged(t2);
    acks.message_acknowledged(t1);
    EXPECT_EQ(acks.confirmable_lsn(), 0u);
    acks.message_given_up(t1);
    EXPECT_EQ(acks.confirmable_lsn(), 200u);
    EXPECT_EQ(acks.acknowledged(), 2u);
    EXPECT_EQ(acks.given_up(), 1u);
    EXPECT_EQ(acks.in_flight(), 0u);
    EXPECT_FALSE(acks.failed());
    EXPECT_THROW(acks.message_given_up(t2), AckTrackerMisuse);
}

}  // namespace
}  // namespace bw
