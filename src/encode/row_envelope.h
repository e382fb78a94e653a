// The row envelope, bottledwater's own format: the key record as the key, the row as the value,
// a delete as a tombstone, and an update that moves the key as a delete and an insert.
#pragma once

#include "encode/change_envelope.h"

namespace bw {

class RowEnvelope final : public ChangeEnvelope {
public:
    RowEnvelope(bool json, bool transaction_metadata)
        : ChangeEnvelope(transaction_metadata), json_(json) {}

    std::unique_ptr<RowWriter> make_writer() const override;
    void describe(TableDescription& table, const AvroTypePtr& key_record,
                  const AvroTypePtr& row_record) const override;
    void change(ChangeOp op, const ChangeOrigin& origin, const std::string* key,
                const RowImages& rows, ChangeSink& sink) override;
    void key_moved(const ChangeOrigin& origin, const std::string& old_key,
                   const std::string& new_key, const RowImages& rows, ChangeSink& sink) override;
    bool sends_truncate() const override { return true; }
    // As bw_emit() gave it.
    void outbox_message(OutboxMessage message, const TransactionInfo& txn, uint64_t lsn,
                        ChangeSink& sink) override;

private:
    bool json_;
    std::unique_ptr<RowWriter> value_writer_ = make_writer();
};

}  // namespace bw
