// The row envelope (see row_envelope.h), and what every envelope shares.
#include "encode/row_envelope.h"

#include "encode/avro_binary_writer.h"
#include "encode/avro_json_writer.h"
#include "encode/debezium_envelope.h"
#include "schema/schema_check.h"

namespace bw {

void emit_change(ChangeSink& sink, ChangeOp op, const TableDescription& table,
                 const std::string* key, const std::string* value, EventOrder order,
                 EnvelopeHeader header) {
    EncodedChange change;
    change.op = op;
    change.table = &table;
    change.has_key = key != nullptr;
    if (key) change.key = *key;
    change.has_value = value != nullptr;
    if (value) change.value = *value;
    change.order = order;
    change.header = header;
    sink.change(change);
}

std::unique_ptr<ChangeEnvelope> make_envelope(const EnvelopeConfig& config) {
    if (config.kind == EnvelopeKind::Debezium) return std::make_unique<DebeziumEnvelope>(config);
    return std::make_unique<RowEnvelope>(config.json, config.transaction_metadata);
}

std::unique_ptr<RowWriter> RowEnvelope::make_writer() const {
    if (json_) return std::make_unique<AvroJsonWriter>();
    return std::make_unique<AvroBinaryWriter>();
}

void RowEnvelope::describe(TableDescription& table, const AvroTypePtr& key_record,
                           const AvroTypePtr& row_record) const {
    table.key_schema_json = key_record ? render_schema_json(*key_record) : std::string();
    table.value_schema_json = render_schema_json(*row_record);
    if (!table.key_schema_json.empty()) check_schema_json(table.key_schema_json);
    check_schema_json(table.value_schema_json);
}

void RowEnvelope::change(ChangeOp op, const ChangeOrigin& origin, const std::string* key,
                         const RowImages& rows, ChangeSink& sink) {
    // Every message of this envelope is an event, a delete's tombstone too.
    const EventOrder order = order_.next(origin.table->qualified_name, origin.lsn);
    if (op == ChangeOp::Delete) {
        emit_change(sink, op, *origin.table, key, nullptr, order);
        return;
    }
    value_writer_->reset();
    rows.write_row(*value_writer_, false);
    emit_change(sink, op, *origin.table, key, &value_writer_->bytes(), order);
}

// Consumers keyed on the key see the old key deleted, the new one created.
void RowEnvelope::key_moved(const ChangeOrigin& origin, const std::string& old_key,
                            const std::string& new_key, const RowImages& rows, ChangeSink& sink) {
    emit_change(sink, ChangeOp::Delete, *origin.table, &old_key, nullptr,
                order_.next(origin.table->qualified_name, origin.lsn));
    change(ChangeOp::Insert, origin, &new_key, rows, sink);
}

void RowEnvelope::outbox_message(OutboxMessage message, const TransactionInfo&, uint64_t lsn,
                                 ChangeSink& sink) {
    message.order = order_.next(kOutboxCollection, lsn);
    sink.outbox_message(message);
}

}  // namespace bw
