// Event numbering within a transaction (see transaction_order.h).
#include "encode/transaction_order.h"

#include "encode/encoded_change.h"

namespace bw {

std::string debezium_transaction_id(uint32_t xid, uint64_t lsn) {
    return std::to_string(xid) + ":" + std::to_string(lsn);
}

void TransactionOrder::begin(const TransactionInfo& txn) {
    numbering_ = enabled_ && !txn.snapshot;
    total_ = 0;
    per_collection_.clear();
}

EventOrder TransactionOrder::next(std::string_view collection, uint64_t lsn) {
    EventOrder order;
    if (!numbering_) return order;
    order.total = ++total_;
    order.in_collection = ++per_collection_[std::string(collection)];
    order.lsn = lsn;
    return order;
}

}  // namespace bw
