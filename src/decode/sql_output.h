// ChangeSink for SQL consumers: writes each event as one output row via OutputPluginWrite,
// leaving out transactions that produced nothing (catalog-only and filtered ones).
#pragma once

extern "C" {
#include "postgres.h"
#include "replication/logical.h"
}

#include "encode/sql_envelope.h"

namespace bw {

class SqlOutput final : public ChangeSink {
public:
    SqlOutput(LogicalDecodingContext* ctx, bool json, bool transaction_details)
        : ctx_(ctx), envelope_(json, transaction_details) {}

    void begin_transaction(const TransactionInfo& txn) override;
    void table_schema(const TableDescription& table) override;
    void change(const EncodedChange& change) override;
    void truncate(const EncodedChange& change) override;
    void outbox_message(const OutboxMessage& message) override;
    void commit_transaction(const TransactionInfo& txn) override;

private:
    void write_row(const std::string& row, bool last);
    void write_begin_once();

    LogicalDecodingContext* ctx_;
    SqlEnvelope envelope_;
    const TransactionInfo* txn_ = nullptr;
    bool begin_written_ = false;
};

}  // namespace bw
