// Acknowledge phase: bookkeeping from delivery reports to the slot's confirmable LSN
// (see ack_tracker.h).
#include "acknowledge/ack_tracker.h"

#include <utility>

namespace bw {

TxnId AckTracker::begin_transaction(uint64_t commit_lsn) {
    if (commit_lsn < last_commit_lsn_) {
        throw AckTrackerMisuse("transaction with commit LSN " + std::to_string(commit_lsn) +
                               " begun after one with commit LSN " +
                               std::to_string(last_commit_lsn_));
    }
    last_commit_lsn_ = commit_lsn;
    pending_.push_back(PendingTxn{commit_lsn});
    return first_pending_ + pending_.size() - 1;
}

void AckTracker::message_produced(TxnId txn) {
    PendingTxn& t = find(txn, "message_produced");
    if (t.ended) {
        throw AckTrackerMisuse("message produced for transaction " + std::to_string(txn) +
                               " after it ended");
    }
    ++t.unacknowledged;
    ++produced_;
    ++in_flight_;
}

void AckTracker::end_transaction(TxnId txn) {
    find(txn, "end_transaction").ended = true;
    // An empty transaction, or one whose reports all came back early, is finished right now.
    confirm_finished_prefix();
}

AckTracker::PendingTxn& AckTracker::report_arrived(TxnId txn, const char* operation) {
    PendingTxn& t = find(txn, operation);
    if (t.unacknowledged == 0) {
        throw AckTrackerMisuse(std::string(operation) + ": more delivery reports than messages " +
                               "for transaction " + std::to_string(txn));
    }
    --t.unacknowledged;
    --in_flight_;
    return t;
}

void AckTracker::message_acknowledged(TxnId txn) {
    report_arrived(txn, "message_acknowledged");
    ++acknowledged_;
    if (txn == first_pending_) confirm_finished_prefix();
}

void AckTracker::message_given_up(TxnId txn) {
    report_arrived(txn, "message_given_up");
    ++given_up_;
    if (txn == first_pending_) confirm_finished_prefix();
}

void AckTracker::message_failed(TxnId txn, std::string error) {
    report_arrived(txn, "message_failed").failed = true;
    if (!failed_) {
        failed_ = true;
        first_failure_ = std::move(error);
    }
}

AckTracker::PendingTxn& AckTracker::find(TxnId txn, const char* operation) {
    // Unsigned wrap-around makes ids below first_pending_ fail the bound check too.
    const TxnId index = txn - first_pending_;
    if (index >= pending_.size()) {
        throw AckTrackerMisuse(std::string(operation) + ": transaction " + std::to_string(txn) +
                               " is not pending");
    }
    return pending_[index];
}

// Each transaction leaves the front once, so the work is amortised O(1) per call. A failed
// transaction never leaves: it blocks everything after it, which is what keeps the slot from
// skipping a message Kafka does not hold.
void AckTracker::confirm_finished_prefix() {
    while (!pending_.empty()) {
        const PendingTxn& front = pending_.front();
        if (!front.ended || front.unacknowledged != 0 || front.failed) break;
        confirmable_lsn_ = front.commit_lsn;
        pending_.pop_front();
        ++first_pending_;
    }
}

}  // namespace bw
