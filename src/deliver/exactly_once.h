// Deliver phase, exactly-once: whole PostgreSQL transactions are grouped into Kafka transactions,
// each ending with a record of the highest commit LSN it holds. After a restart, the stored LSN
// says which replayed PostgreSQL transactions Kafka holds already: they are skipped. The slot
// moves only to an LSN whose Kafka transaction committed.
#pragma once

#include <chrono>
#include <functional>

#include "deliver/kafka_transactions.h"

namespace bw {

struct ExactlyOnceConfig {
    // A Kafka transaction commits at the end of a decoding pass, or earlier, at the end of the
    // first PostgreSQL transaction that finds it this old or this full.
    long interval_ms = 50;
    uint64_t max_messages = 10000;
    // The same in a pass that catches up: each commit waits for every message of the
    // transaction and a round trip to the coordinator, so while latency is lost anyway, fewer
    // and larger transactions keep the producer busy.
    long catch_up_interval_ms = 1000;
    uint64_t catch_up_max_messages = 100000;
    // While no captured table changes but the WAL moves, a transaction holding only the LSN is
    // committed this often, so the slot and the stored LSN follow the WAL.
    long idle_record_ms = 1000;
};

class ExactlyOnceDelivery final : public Delivery {
public:
    using Clock = std::function<std::chrono::steady_clock::time_point()>;

    // `stored_lsn`: what the offsets topic holds for this slot (0: nothing yet). `wait` serves
    // the commits made while streaming.
    ExactlyOnceDelivery(TransactionLog& log, AckTracker& acks, ExactlyOnceConfig config,
                        uint64_t stored_lsn, Waiter wait, Clock clock = default_clock());

    void set_catching_up(bool catching_up) override { catching_up_ = catching_up; }
    std::optional<TxnId> begin_transaction(uint64_t commit_lsn) override;
    void end_transaction(TxnId txn) override;
    void between_passes(uint64_t decoded_to) override;
    void finish(const Waiter& wait) override;
    uint64_t confirmable_lsn(uint64_t) const override { return committed_lsn_; }

    // PostgreSQL transactions left out since the start because Kafka held them.
    uint64_t skipped_transactions() const { return skipped_; }
    uint64_t committed_transactions() const { return commits_; }

private:
    static Clock default_clock();
    bool due() const;
    void commit(const Waiter& wait);

    TransactionLog& log_;
    AckTracker& acks_;
    ExactlyOnceConfig config_;
    Waiter wait_;
    Clock clock_;
    // Nothing at or below this LSN is produced again.
    uint64_t stored_lsn_;
    uint64_t committed_lsn_;
    bool catching_up_ = false;
    bool open_ = false;
    uint64_t open_lsn_ = 0;  // the highest commit LSN the open transaction holds
    uint64_t produced_at_open_ = 0;
    std::chrono::steady_clock::time_point opened_at_;
    std::chrono::steady_clock::time_point committed_at_;
    uint64_t skipped_ = 0;
    uint64_t commits_ = 0;
};

}  // namespace bw
