// The headers of each message (see event_headers.h).
#include "produce/event_headers.h"

#include <charconv>
#include <cstdio>

namespace bw {

namespace {

// Their order in headers_.
enum Slot { kOp, kLsn, kXid, kCommitTime, kTxnIndex, kTable, kSchemaVersion, kSlots };

template <size_t N>
std::string_view decimal(char (&buffer)[N], uint64_t number) {
    const auto result = std::to_chars(buffer, buffer + N, number);
    return std::string_view(buffer, result.ptr - buffer);
}

}  // namespace

// Room for the order headers too, so that adding them allocates nothing.
constexpr size_t kOrderHeaders = 3;

EventHeaders::EventHeaders() {
    headers_.reserve(kSlots + kOrderHeaders);
    headers_.resize(kSlots);
    headers_[kOp].name = "bw.op";
    headers_[kLsn].name = "bw.lsn";
    headers_[kXid].name = "bw.xid";
    headers_[kCommitTime].name = "bw.commit_time";
    headers_[kTxnIndex].name = "bw.txn_index";
}

// The LSN as PostgreSQL prints it (pg_lsn): what a consumer compares with
// pg_current_wal_lsn() or the slot's confirmed_flush_lsn.
void EventHeaders::begin_transaction(const TransactionInfo& txn) {
    char lsn[20];
    snprintf(lsn, sizeof lsn, "%X/%X", static_cast<unsigned>(txn.end_lsn >> 32),
             static_cast<unsigned>(txn.end_lsn));
    lsn_ = lsn;
    xid_ = std::to_string(txn.xid);
    xid_number_ = txn.xid;
    commit_time_ = std::to_string(txn.commit_time_micros);
    headers_[kLsn].value = lsn_;
    headers_[kXid].value = xid_;
    headers_[kCommitTime].value = commit_time_;
    next_index_ = 0;
}

void EventHeaders::number_next(const char* op) {
    headers_[kOp].value = op;
    headers_[kTxnIndex] = {"bw.txn_index", decimal(index_, next_index_++)};
}

// The id as the debezium envelope's transaction block writes it (debezium_transaction_id).
void EventHeaders::add_order(const EventOrder& order) {
    if (!order.numbered()) return;
    const int length = snprintf(txn_id_, sizeof txn_id_, "%u:%llu", xid_number_,
                                static_cast<unsigned long long>(order.lsn));
    headers_.push_back({"bw.txn_id", std::string_view(txn_id_, length)});
    headers_.push_back({"bw.total_order", decimal(total_order_, order.total)});
    headers_.push_back(
        {"bw.data_collection_order", decimal(collection_order_, order.in_collection)});
}

// Resizing within the capacity reserved in the constructor allocates nothing.
const MessageHeaders& EventHeaders::next(const char* op, std::string_view table,
                                         uint32_t schema_version, const EventOrder& order) {
    headers_.resize(kSlots);
    number_next(op);
    headers_[kTable] = {"bw.table", table};
    headers_[kSchemaVersion] = {"bw.schema_version", decimal(schema_version_, schema_version)};
    add_order(order);
    return headers_;
}

const MessageHeaders& EventHeaders::next_outbox_message(const EventOrder& order) {
    headers_.resize(kTable);
    number_next("message");
    add_order(order);
    return headers_;
}

const MessageHeaders& EventHeaders::transaction_record(const char* op) {
    headers_.resize(kTxnIndex);
    headers_[kOp].value = op;
    return headers_;
}

}  // namespace bw
