// Encode phase: where each event stands in its transaction, numbered as Debezium's transaction
// metadata (provide.transaction.metadata) numbers it: total_order counts the transaction's events
// from 1, data_collection_order its events of one table (or of the outbox). A tombstone is no
// event, and snapshot rows belong to no transaction: both stay unnumbered.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace bw {

struct TransactionInfo;  // encode/encoded_change.h

struct EventOrder {
    uint64_t total = 0;  // 0: not numbered
    uint64_t in_collection = 0;
    uint64_t lsn = 0;  // the event's WAL position, which Debezium's transaction id names
    bool numbered() const { return total != 0; }
};

// The data collection Debezium counts logical decoding messages (our outbox) under.
inline constexpr char kOutboxCollection[] = "LOGICAL_DECODING_MESSAGE";

// "<xid>:<lsn>": the id Debezium's PostgreSQL connector gives a transaction, with the WAL
// position it has reached (each event's own; BEGIN its first event's, END the commit's end).
std::string debezium_transaction_id(uint32_t xid, uint64_t lsn);

class TransactionOrder {
public:
    explicit TransactionOrder(bool enabled) : enabled_(enabled) {}

    // Numbers from 1 again; the snapshot's rows are left unnumbered.
    void begin(const TransactionInfo& txn);
    // The next event's place, counted against `collection` (a table's schema.table).
    EventOrder next(std::string_view collection, uint64_t lsn);
    bool enabled() const { return enabled_; }

private:
    bool enabled_;
    bool numbering_ = false;
    uint64_t total_ = 0;
    std::unordered_map<std::string, uint64_t> per_collection_;
};

}  // namespace bw
