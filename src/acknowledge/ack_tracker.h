// Acknowledge phase: turns Kafka's delivery reports into the one number the worker may confirm on
// its replication slot — the highest commit LSN whose transaction, and every earlier one, Kafka
// has fully acknowledged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <stdexcept>
#include <string>

namespace bw {

// Names one transaction for the lifetime of an AckTracker. A sequence number rather than a
// pointer, so it can travel as a librdkafka message opaque and outlive the tracker's storage.
using TxnId = uint64_t;

// Raised when the caller breaks the tracker's contract (an unknown transaction, a message produced
// after its transaction ended, commit LSNs going backwards): a bug, never a Kafka condition.
class AckTrackerMisuse : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Single-threaded: the worker begins and ends transactions, and delivery reports arrive on the
// same thread inside rd_kafka_poll. Memory is proportional to the transactions not yet confirmable.
class AckTracker {
public:
    // Transactions must begin in commit order.
    TxnId begin_transaction(uint64_t commit_lsn);
    void message_produced(TxnId txn);
    // No more messages will be produced for this transaction.
    void end_transaction(TxnId txn);

    void message_acknowledged(TxnId txn);
    // Kafka refused a message for good and the worker chose to give it up (on_error = log): it
    // no longer holds its transaction back, and is not counted as acknowledged.
    void message_given_up(TxnId txn);
    // Kafka gave up on a message: the transaction can never be confirmed by this producer, and
    // neither can anything after it. Only the first error is kept; it is the cause.
    void message_failed(TxnId txn, std::string error);

    // 0 until the first transaction is fully acknowledged.
    uint64_t confirmable_lsn() const { return confirmable_lsn_; }
    bool failed() const { return failed_; }
    const std::string& first_failure() const { return first_failure_; }

    uint64_t produced() const { return produced_; }
    uint64_t acknowledged() const { return acknowledged_; }
    uint64_t given_up() const { return given_up_; }
    // Messages still waiting for a delivery report.
    size_t in_flight() const { return in_flight_; }
    // Transactions begun and not yet confirmable.
    size_t pending_transactions() const { return pending_.size(); }

private:
    struct PendingTxn {
        uint64_t commit_lsn;
        uint64_t unacknowledged = 0;
        bool ended = false;
        bool failed = false;
    };

    PendingTxn& find(TxnId txn, const char* operation);
    // One delivery report less to wait for; `operation` names the caller in a misuse error.
    PendingTxn& report_arrived(TxnId txn, const char* operation);
    void confirm_finished_prefix();

    // pending_[i] is transaction first_pending_ + i; finished ones leave from the front.
    std::deque<PendingTxn> pending_;
    TxnId first_pending_ = 0;
    uint64_t last_commit_lsn_ = 0;

    uint64_t confirmable_lsn_ = 0;
    bool failed_ = false;
    std::string first_failure_;

    uint64_t produced_ = 0;
    uint64_t acknowledged_ = 0;
    uint64_t given_up_ = 0;
    size_t in_flight_ = 0;
};

}  // namespace bw
