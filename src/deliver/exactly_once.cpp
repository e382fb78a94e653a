// Deliver phase, exactly-once: the batching of PostgreSQL transactions into Kafka transactions
// (see exactly_once.h).
#include "deliver/exactly_once.h"

#include <algorithm>

namespace bw {

ExactlyOnceDelivery::ExactlyOnceDelivery(TransactionLog& log, AckTracker& acks,
                                         ExactlyOnceConfig config, uint64_t stored_lsn,
                                         Waiter wait, Clock clock)
    : log_(log), acks_(acks), config_(config), wait_(std::move(wait)), clock_(std::move(clock)),
      stored_lsn_(stored_lsn), committed_lsn_(stored_lsn) {
    committed_at_ = clock_();
}

ExactlyOnceDelivery::Clock ExactlyOnceDelivery::default_clock() {
    return [] { return std::chrono::steady_clock::now(); };
}

// At or below the stored LSN, a committed Kafka transaction holds the whole PostgreSQL
// transaction (they are never split), so its replay is left out entirely.
std::optional<TxnId> ExactlyOnceDelivery::begin_transaction(uint64_t commit_lsn) {
    if (commit_lsn <= stored_lsn_) {
        ++skipped_;
        return std::nullopt;
    }
    if (!open_) {
        log_.begin();
        open_ = true;
        opened_at_ = clock_();
        produced_at_open_ = acks_.produced();
    }
    open_lsn_ = commit_lsn;
    return acks_.begin_transaction(commit_lsn);
}

void ExactlyOnceDelivery::end_transaction(TxnId txn) {
    acks_.end_transaction(txn);
    if (due()) commit(wait_);
}

bool ExactlyOnceDelivery::due() const {
    const long interval_ms = catching_up_ ? config_.catch_up_interval_ms : config_.interval_ms;
    const uint64_t max_messages =
        catching_up_ ? config_.catch_up_max_messages : config_.max_messages;
    return open_ && (clock_() - opened_at_ >= std::chrono::milliseconds(interval_ms) ||
                     acks_.produced() - produced_at_open_ >= max_messages);
}

// The end of a pass is where a worker that keeps up would wait for WAL: what is open commits now,
// whatever its age, so latency is a pass and a commit. Under load a pass lasts longer, the next
// transaction holds more, and commits stay few: the batch grows with the load. A pass that
// caught up is followed at once by the next: what is open stays so until it is due.
void ExactlyOnceDelivery::between_passes(uint64_t decoded_to) {
    if (open_) {
        if (!catching_up_ || due()) commit(wait_);
        return;
    }
    // Every commit before decoded_to is in a committed Kafka transaction or left nothing to
    // produce: the LSN may be recorded without changes.
    if (decoded_to <= committed_lsn_ ||
        clock_() - committed_at_ < std::chrono::milliseconds(config_.idle_record_ms))
        return;
    log_.begin();
    open_ = true;
    open_lsn_ = decoded_to;
    commit(wait_);
}

void ExactlyOnceDelivery::finish(const Waiter& wait) {
    if (open_) commit(wait);
}

// An exception leaves the delivery with its transaction counted as open: the caller must not
// use it again (the worker replays from the slot with a new producer).
void ExactlyOnceDelivery::commit(const Waiter& wait) {
    log_.record_lsn(open_lsn_);
    log_.commit(wait);
    open_ = false;
    committed_lsn_ = stored_lsn_ = std::max(committed_lsn_, open_lsn_);
    committed_at_ = clock_();
    ++commits_;
}

}  // namespace bw
