// Debezium change events (see debezium_envelope.h). The schema is Debezium's: every name,
// type, optionality and order below is what its PostgreSQL connector 3.6 declares, checked side
// by side with it by test/test_debezium_envelope.py.
#include "encode/debezium_envelope.h"

#include <chrono>
#include <cstdio>

#include "encode/avro_binary_text.h"
#include "encode/avro_binary_writer.h"
#include "encode/connect_json_writer.h"
#include "encode/optional_value.h"
#include "encode/row_buffer.h"
#include "schema/avro_names.h"
#include "schema/connect_avro_schema.h"
#include "schema/connect_schema.h"
#include "schema/schema_check.h"

namespace bw {

namespace {

AvroTypePtr primitive(AvroKind kind) {
    return AvroType::primitive(kind);
}

AvroTypePtr source_record() {
    auto snapshot = std::make_shared<AvroType>();
    snapshot->kind = AvroKind::String;
    snapshot->connect_name = "io.debezium.data.Enum";
    snapshot->connect_version = 1;
    snapshot->connect_parameters = {
        {"allowed", "true,first,first_in_data_collection,last_in_data_collection,last,false,"
                    "incremental"}};
    snapshot->connect_default_json = "\"false\"";
    auto record = connect_record("io.debezium.connector.postgresql.Source");
    auto string = primitive(AvroKind::String);
    auto long_ = primitive(AvroKind::Long);
    record->fields = {{"version", string},
                      {"connector", string},
                      {"name", string},
                      {"ts_ms", long_},
                      {"snapshot", optional_with_default(snapshot)},
                      {"db", string},
                      {"sequence", optional_type(string)},
                      {"ts_us", optional_type(long_)},
                      {"ts_ns", optional_type(long_)},
                      {"schema", string},
                      {"table", string},
                      {"txId", optional_type(long_)},
                      {"lsn", optional_type(long_)},
                      {"xmin", optional_type(long_)},
                      {"origin", optional_type(string)},
                      {"origin_lsn", optional_type(long_)}};
    return record;
}

AvroTypePtr transaction_block() {
    auto record = connect_record("event.block");
    record->fields = {{"id", primitive(AvroKind::String)},
                      {"total_order", primitive(AvroKind::Long)},
                      {"data_collection_order", primitive(AvroKind::Long)}};
    return record;
}

// A table's records are named after its topic, as Debezium names them. Avro allows only Avro
// names between the dots: there each part is mapped as every name is (avro_names.h).
std::string record_base(const EnvelopeConfig& config, const TableDescription& table) {
    if (config.json) return config.logical_name + "." + table.schema_name + "." + table.table_name;
    std::string base;
    size_t start = 0;
    for (size_t dot; (dot = config.logical_name.find('.', start)) != std::string::npos;
         start = dot + 1)
        base += avro_name(config.logical_name.substr(start, dot - start)) + ".";
    base += avro_name(config.logical_name.substr(start));
    return base + "." + avro_name(table.schema_name) + "." + avro_name(table.table_name);
}

AvroTypePtr renamed(const AvroType& record, const std::string& name) {
    auto copy = std::make_shared<AvroType>(record);
    copy->full_name = copy->connect_name = name;
    copy->doc.clear();
    return copy;
}

AvroTypePtr envelope_record(const std::string& name, AvroTypePtr row) {
    auto record = connect_record(name, 2);
    auto long_ = optional_type(primitive(AvroKind::Long));
    record->fields = {{"before", optional_type(row)},
                      {"after", optional_type(row)},
                      {"source", source_record()},
                      {"transaction", optional_type(transaction_block())},
                      {"op", primitive(AvroKind::String)},
                      {"ts_ms", long_},
                      {"ts_us", long_},
                      {"ts_ns", long_}};
    return record;
}

// Debezium's logical decoding message event (op "m"): what a bw_emit() becomes.
AvroTypePtr message_record() {
    auto block = connect_record("io.debezium.connector.postgresql.Message");
    block->fields = {{"prefix", optional_type(primitive(AvroKind::String))},
                     {"content", optional_type(primitive(AvroKind::Bytes))}};
    auto record = connect_record(kMessageValueRecord);
    record->fields = {{"op", primitive(AvroKind::String)},
                      {"ts_ms", optional_type(primitive(AvroKind::Long))},
                      {"source", source_record()},
                      {"transaction", optional_type(transaction_block())},
                      {"message", block}};
    return record;
}

int64_t now_nanos() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

DebeziumEnvelope::DebeziumEnvelope(EnvelopeConfig config)
    : ChangeEnvelope(config.transaction_metadata),
      config_(std::move(config)),
      envelope_(envelope_record("", primitive(AvroKind::Null))),
      message_(message_record()),
      message_schema_json_(config_.json ? render_connect_schema(*message_)
                                        : render_connect_avro_schema(*message_)),
      writer_(make_writer()) {
    if (!config_.json) check_schema_json(message_schema_json_);
}

std::unique_ptr<RowWriter> DebeziumEnvelope::make_writer() const {
    if (config_.json) return std::make_unique<ConnectJsonWriter>();
    return std::make_unique<AvroBinaryWriter>();
}

void DebeziumEnvelope::describe(TableDescription& table, const AvroTypePtr& key_record,
                                const AvroTypePtr& row_record) const {
    const std::string base = record_base(config_, table);
    auto key = key_record ? renamed(*key_record, base + ".Key") : nullptr;
    auto value = envelope_record(base + ".Envelope", renamed(*row_record, base + ".Value"));
    if (config_.json) {
        table.key_schema_json = key ? render_connect_schema(*key) : std::string();
        table.value_schema_json = render_connect_schema(*value);
        return;
    }
    table.key_schema_json = key ? render_connect_avro_schema(*key) : std::string();
    table.value_schema_json = render_connect_avro_schema(*value);
    if (key) check_schema_json(table.key_schema_json);
    check_schema_json(table.value_schema_json);
}

const std::string* DebeziumEnvelope::framed(const std::string& schema_json,
                                            const std::string* payload,
                                            std::string& buffer) const {
    if (payload == nullptr || !config_.json || !config_.json_schemas) return payload;
    clear_row_buffer(buffer);
    buffer += R"({"schema":)";
    buffer += schema_json;
    buffer += R"(,"payload":)";
    buffer += *payload;
    buffer += '}';
    return &buffer;
}

void DebeziumEnvelope::note_transaction(const TransactionInfo& txn) {
    if (txn.commit_lsn == current_commit_lsn_) return;
    previous_commit_lsn_ = current_commit_lsn_;
    current_commit_lsn_ = txn.commit_lsn;
}

void DebeziumEnvelope::write_source(const TransactionInfo& txn, uint64_t lsn,
                                    std::string_view schema, std::string_view table) {
    RowWriter& w = *writer_;
    const AvroType& source = *envelope_->fields[2].type;
    const auto& fields = source.fields;
    const int64_t micros = txn.commit_time_micros;
    auto optional_long = [&](size_t f, int64_t value) {
        w.field(fields[f]);
        write_present(w, *fields[f].type, [&] { w.write_long(value); });
    };
    auto absent = [&](size_t f) {
        w.field(fields[f]);
        write_absent(w, *fields[f].type);
    };
    w.begin_record(source);
    w.field(fields[0]);
    w.write_string(config_.version);
    w.field(fields[1]);
    w.write_string("postgresql");
    w.field(fields[2]);
    w.write_string(config_.logical_name);
    w.field(fields[3]);
    w.write_long(micros / 1000);
    w.field(fields[4]);
    write_present(w, *fields[4].type, [&] {
        w.write_string(txn.snapshot ? snapshot_mark_name(txn.snapshot_mark) : "false");
    });
    w.field(fields[5]);
    w.write_string(config_.database);
    w.field(fields[6]);
    char sequence[64];
    if (previous_commit_lsn_ == 0)
        snprintf(sequence, sizeof sequence, "[null,\"%llu\"]",
                 static_cast<unsigned long long>(lsn));
    else
        snprintf(sequence, sizeof sequence, "[\"%llu\",\"%llu\"]",
                 static_cast<unsigned long long>(previous_commit_lsn_),
                 static_cast<unsigned long long>(lsn));
    write_present(w, *fields[6].type, [&] { w.write_string(sequence); });
    optional_long(7, micros);
    optional_long(8, micros * 1000);
    w.field(fields[9]);
    w.write_string(schema);
    w.field(fields[10]);
    w.write_string(table);
    if (txn.xid != 0)
        optional_long(11, txn.xid);
    else
        absent(11);
    optional_long(12, static_cast<int64_t>(lsn));
    absent(13);  // xmin: Debezium reads it only with xmin.fetch.interval.ms
    absent(14);
    absent(15);
    w.end_record();
}

// The `transaction` block, as Debezium fills it with provide.transaction.metadata: null unless
// the event is numbered.
void DebeziumEnvelope::write_transaction(const AvroField& field, const TransactionInfo& txn,
                                         const EventOrder& order) {
    RowWriter& w = *writer_;
    w.field(field);
    if (!order.numbered()) return write_absent(w, *field.type);
    const AvroType& block = *field.type->branches[1];
    write_present(w, *field.type, [&] {
        w.begin_record(block);
        w.field(block.fields[0]);
        w.write_string(debezium_transaction_id(txn.xid, order.lsn));
        w.field(block.fields[1]);
        w.write_long(static_cast<int64_t>(order.total));
        w.field(block.fields[2]);
        w.write_long(static_cast<int64_t>(order.in_collection));
        w.end_record();
    });
}

void DebeziumEnvelope::event(char op, const ChangeOrigin& origin, const std::string* key,
                             Image before, Image after, const RowImages& rows, ChangeSink& sink,
                             EnvelopeHeader header) {
    note_transaction(*origin.txn);
    const TableDescription& table = *origin.table;
    const EventOrder order = order_.next(table.qualified_name, origin.lsn);
    RowWriter& w = *writer_;
    const auto& fields = envelope_->fields;
    auto image = [&](size_t f, Image which) {
        w.field(fields[f]);
        if (which == Image::None)
            write_absent(w, *fields[f].type);
        else
            write_present(w, *fields[f].type, [&] { rows.write_row(w, which == Image::Old); });
    };
    w.reset();
    w.begin_record(*envelope_);
    image(0, before);
    image(1, after);
    w.field(fields[2]);
    write_source(*origin.txn, origin.lsn, table.schema_name, table.table_name);
    write_transaction(fields[3], *origin.txn, order);
    w.field(fields[4]);
    const char op_text[2] = {op, '\0'};
    w.write_string(op_text);
    const int64_t now_ns = now_nanos();
    const int64_t stamps[3] = {now_ns / 1000000, now_ns / 1000, now_ns};
    for (size_t f = 5; f < 8; f++) {
        w.field(fields[f]);
        write_present(w, *fields[f].type, [&] { w.write_long(stamps[f - 5]); });
    }
    w.end_record();
    const ChangeOp change_op = op == 'd' ? ChangeOp::Delete
                               : op == 'u' ? ChangeOp::Update
                                           : ChangeOp::Insert;
    const std::string* framed_key = framed(table.key_schema_json, key, framed_key_);
    emit_change(sink, change_op, table, framed_key,
                framed(table.value_schema_json, &w.bytes(), framed_value_), order, header);
    // tombstones.on.delete: compaction may drop the key's every message. No event itself; it
    // has the delete's headers, as Debezium's.
    if (op == 'd')
        emit_change(sink, ChangeOp::Delete, table, framed_key, nullptr, EventOrder(), header);
}

void DebeziumEnvelope::change(ChangeOp op, const ChangeOrigin& origin, const std::string* key,
                              const RowImages& rows, ChangeSink& sink) {
    switch (op) {
        case ChangeOp::Insert:
            event(origin.txn->snapshot ? 'r' : 'c', origin, key, Image::None, Image::New, rows,
                  sink);
            return;
        // Debezium fills `before` of an update only from a whole old row (REPLICA IDENTITY
        // FULL); the key columns alone, as DEFAULT logs them when the key moves, it leaves out.
        case ChangeOp::Update:
            event('u', origin, key,
                  origin.replica_identity_full && rows.has_old_row() ? Image::Old : Image::None,
                  Image::New, rows, sink);
            return;
        // The old row, or the key columns of it under DEFAULT with every other column null (or
        // a NOT NULL column's zero value), as Debezium sends it.
        case ChangeOp::Delete: event('d', origin, key, Image::Old, Image::None, rows, sink); return;
        // Truncates never come here (sends_truncate).
        case ChangeOp::Truncate: return;
    }
}

// The other key in Debezium's headers is JSON text, as SimpleHeaderConverter writes a struct,
// whatever the converter of keys and values: in Avro, the key's binary shown as Avro JSON, which
// is the same text since a key's fields are never unions (key columns are NOT NULL).
void DebeziumEnvelope::key_moved(const ChangeOrigin& origin, const std::string& old_key,
                                 const std::string& new_key, const RowImages& rows,
                                 ChangeSink& sink) {
    const auto as_header = [&](const std::string& key) {
        return config_.json ? key
                            : avro_binary_as_json(origin.table->key_schema_json, key,
                                                  JsonSpacing::Compact);
    };
    const std::string new_key_text = as_header(new_key);
    const std::string old_key_text = as_header(old_key);
    event('d', origin, &old_key, Image::Old, Image::None, rows, sink,
          {"__debezium.newkey", new_key_text});
    event('c', origin, &new_key, Image::None, Image::New, rows, sink,
          {"__debezium.oldkey", old_key_text});
}

// Debezium's op "m" value, routed as bw_emit() asked: its topic and its key as given (not
// Debezium's <topic.prefix>.message topic and {prefix} key, which would put every message of a
// topic under one key), the value's bytes as the message's content under our prefix. A null
// value stays a tombstone, for compacted topics. In Avro the sink registers the value's schema
// under the topic's subject.
void DebeziumEnvelope::outbox_message(OutboxMessage message, const TransactionInfo& txn,
                                      uint64_t lsn, ChangeSink& sink) {
    note_transaction(txn);
    message.order = order_.next(kOutboxCollection, lsn);
    if (!message.value) return sink.outbox_message(message);
    RowWriter& w = *writer_;
    const auto& fields = message_->fields;
    w.reset();
    w.begin_record(*message_);
    w.field(fields[0]);
    w.write_string("m");
    w.field(fields[1]);
    write_present(w, *fields[1].type, [&] { w.write_long(now_nanos() / 1000000); });
    w.field(fields[2]);
    write_source(txn, lsn, "", "");
    write_transaction(fields[3], txn, message.order);
    w.field(fields[4]);
    const AvroType& block = *fields[4].type;
    w.begin_record(block);
    w.field(block.fields[0]);
    write_present(w, *block.fields[0].type, [&] { w.write_string(kOutboxPrefix); });
    w.field(block.fields[1]);
    write_present(w, *block.fields[1].type,
                  [&] { w.write_bytes(message.value->data(), message.value->size()); });
    w.end_record();
    w.end_record();
    const std::string* value = framed(message_schema_json_, &w.bytes(), framed_value_);
    message.value = *value;
    if (!config_.json) message.value_schema_json = message_schema_json_;
    sink.outbox_message(message);
}

}  // namespace bw
