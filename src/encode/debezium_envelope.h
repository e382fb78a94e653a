// The debezium envelope: the change events Debezium's PostgreSQL connector (3.6) writes, so that
// its consumers read ours unchanged. Value {before, after, source, transaction, op, ts_ms,
// ts_us, ts_ns}; a delete is followed by a tombstone; an update that moves the key is a delete
// of the old key, its tombstone, and a create under the new one, with Debezium's headers
// __debezium.newkey (on the delete and its tombstone) and __debezium.oldkey (on the create): the
// other key's payload, as Kafka Connect's SimpleHeaderConverter writes a struct. In JSON, with
// json_schemas, each key and value is {"schema": <Connect schema>, "payload": ...} as Kafka
// Connect's JsonConverter writes it with schemas.enable=true. In Avro, key and value are of the
// Connect schemas as an AvroConverter registers them (schema/connect_avro_schema.h).
#pragma once

#include "encode/change_envelope.h"

namespace bw {

// The record of Debezium's logical decoding message event (op "m"), a bw_emit() in Avro.
inline constexpr char kMessageValueRecord[] = "io.debezium.connector.postgresql.MessageValue";

class DebeziumEnvelope final : public ChangeEnvelope {
public:
    explicit DebeziumEnvelope(EnvelopeConfig config);

    std::unique_ptr<RowWriter> make_writer() const override;
    void describe(TableDescription& table, const AvroTypePtr& key_record,
                  const AvroTypePtr& row_record) const override;
    void change(ChangeOp op, const ChangeOrigin& origin, const std::string* key,
                const RowImages& rows, ChangeSink& sink) override;
    void key_moved(const ChangeOrigin& origin, const std::string& old_key,
                   const std::string& new_key, const RowImages& rows, ChangeSink& sink) override;
    // None, as Debezium by default (skipped.operations = t): its `op: t` event has a null key,
    // which a compacted topic refuses.
    bool sends_truncate() const override { return false; }
    // Debezium's logical decoding message event, op "m" (see the definition).
    void outbox_message(OutboxMessage message, const TransactionInfo& txn, uint64_t lsn,
                        ChangeSink& sink) override;

private:
    enum class Image { None, Old, New };
    void event(char op, const ChangeOrigin& origin, const std::string* key, Image before,
               Image after, const RowImages& rows, ChangeSink& sink,
               EnvelopeHeader header = EnvelopeHeader());
    // sequence names the commit before the current transaction's.
    void note_transaction(const TransactionInfo& txn);
    void write_source(const TransactionInfo& txn, uint64_t lsn, std::string_view schema,
                      std::string_view table);
    void write_transaction(const AvroField& field, const TransactionInfo& txn,
                           const EventOrder& order);
    const std::string* framed(const std::string& schema_json, const std::string* payload,
                              std::string& buffer) const;

    EnvelopeConfig config_;
    AvroTypePtr envelope_;  // with a placeholder row type: writers read field names only
    AvroTypePtr message_;   // the op "m" value
    std::string message_schema_json_;  // Connect's JSON schema, or in Avro as registered
    std::unique_ptr<RowWriter> writer_;
    std::string framed_key_;
    std::string framed_value_;
    // sequence: the commit LSN of the transaction before the current one (0 before any).
    uint64_t current_commit_lsn_ = 0;
    uint64_t previous_commit_lsn_ = 0;
};

}  // namespace bw
