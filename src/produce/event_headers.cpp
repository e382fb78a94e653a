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

EventHeaders::EventHeaders() {
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
    commit_time_ = std::to_string(txn.commit_time_micros);
    headers_[kLsn].value = lsn_;
    headers_[kXid].value = xid_;
    headers_[kCommitTime].value = commit_time_;
    next_index_ = 0;
}

void EventHeaders::number_next(const char* op) {
    headers_[kOp].value = op;
    headers_[kTxnIndex].value = decimal(index_, next_index_++);
}

// Resizing within the capacity reserved in the constructor allocates nothing.
const MessageHeaders& EventHeaders::next(const char* op, std::string_view table,
                                         uint32_t schema_version) {
    number_next(op);
    headers_.resize(kSlots);
    headers_[kTable] = {"bw.table", table};
    headers_[kSchemaVersion] = {"bw.schema_version", decimal(schema_version_, schema_version)};
    return headers_;
}

const MessageHeaders& EventHeaders::next_outbox_message() {
    number_next("message");
    headers_.resize(kTable);
    return headers_;
}

}  // namespace bw
