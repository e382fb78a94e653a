// Debezium change events (see debezium_envelope.h). The schema is Debezium's: every name,
// type, optionality and order below is what its PostgreSQL connector 3.6 declares, checked side
// by side with it by test/test_debezium_envelope.py.
#include "encode/debezium_envelope.h"

#include <chrono>
#include <cstdio>

#include "encode/avro_binary_writer.h"
#include "encode/connect_json_writer.h"
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

AvroTypePtr optional(AvroTypePtr type) {
    return AvroType::union_of({primitive(AvroKind::Null), std::move(type)});
}

// An optional type with a Connect default: AvroData puts the type first, so that the field's
// default is a value of the union's first branch, as Avro requires.
AvroTypePtr optional_with_default(AvroTypePtr type) {
    return AvroType::union_of({std::move(type), primitive(AvroKind::Null)});
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
    auto record = std::make_shared<AvroType>();
    record->kind = AvroKind::Record;
    record->full_name = record->connect_name = "io.debezium.connector.postgresql.Source";
    record->connect_version = 1;
    auto string = primitive(AvroKind::String);
    auto long_ = primitive(AvroKind::Long);
    record->fields = {{"version", string},
                      {"connector", string},
                      {"name", string},
                      {"ts_ms", long_},
                      {"snapshot", optional_with_default(snapshot)},
                      {"db", string},
                      {"sequence", optional(string)},
                      {"ts_us", optional(long_)},
                      {"ts_ns", optional(long_)},
                      {"schema", string},
                      {"table", string},
                      {"txId", optional(long_)},
                      {"lsn", optional(long_)},
                      {"xmin", optional(long_)},
                      {"origin", optional(string)},
                      {"origin_lsn", optional(long_)}};
    return record;
}

AvroTypePtr transaction_block() {
    auto record = std::make_shared<AvroType>();
    record->kind = AvroKind::Record;
    record->full_name = record->connect_name = "event.block";
    record->connect_version = 1;
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
    auto record = std::make_shared<AvroType>();
    record->kind = AvroKind::Record;
    record->full_name = record->connect_name = name;
    record->connect_version = 2;
    auto long_ = optional(primitive(AvroKind::Long));
    record->fields = {{"before", optional(row)},
                      {"after", optional(row)},
                      {"source", source_record()},
                      {"transaction", optional(transaction_block())},
                      {"op", primitive(AvroKind::String)},
                      {"ts_ms", long_},
                      {"ts_us", long_},
                      {"ts_ns", long_}};
    return record;
}

int null_branch(const AvroType& union_type) {
    return union_type.branches[0]->kind == AvroKind::Null ? 0 : 1;
}

// Writes a present optional value: the union's branch that is not null.
template <typename Write>
void write_present(RowWriter& writer, const AvroType& union_type, Write write) {
    const int branch = 1 - null_branch(union_type);
    writer.begin_union(union_type, branch);
    write();
    writer.end_union(union_type, branch);
}

void write_absent(RowWriter& writer, const AvroType& union_type) {
    const int branch = null_branch(union_type);
    writer.begin_union(union_type, branch);
    writer.write_null();
    writer.end_union(union_type, branch);
}

}  // namespace

DebeziumEnvelope::DebeziumEnvelope(EnvelopeConfig config)
    : config_(std::move(config)),
      envelope_(envelope_record("", primitive(AvroKind::Null))),
      writer_(make_writer()) {}

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

void DebeziumEnvelope::write_source(const ChangeOrigin& origin) {
    RowWriter& w = *writer_;
    const TransactionInfo& txn = *origin.txn;
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
    write_present(w, *fields[4].type, [&] { w.write_string(txn.snapshot ? "true" : "false"); });
    w.field(fields[5]);
    w.write_string(config_.database);
    w.field(fields[6]);
    char sequence[64];
    if (previous_commit_lsn_ == 0)
        snprintf(sequence, sizeof sequence, "[null,\"%llu\"]",
                 static_cast<unsigned long long>(origin.lsn));
    else
        snprintf(sequence, sizeof sequence, "[\"%llu\",\"%llu\"]",
                 static_cast<unsigned long long>(previous_commit_lsn_),
                 static_cast<unsigned long long>(origin.lsn));
    write_present(w, *fields[6].type, [&] { w.write_string(sequence); });
    optional_long(7, micros);
    optional_long(8, micros * 1000);
    w.field(fields[9]);
    w.write_string(origin.table->schema_name);
    w.field(fields[10]);
    w.write_string(origin.table->table_name);
    if (txn.xid != 0)
        optional_long(11, txn.xid);
    else
        absent(11);
    optional_long(12, static_cast<int64_t>(origin.lsn));
    absent(13);  // xmin: Debezium reads it only with xmin.fetch.interval.ms
    absent(14);
    absent(15);
    w.end_record();
}

void DebeziumEnvelope::event(char op, const ChangeOrigin& origin, const std::string* key,
                             Image before, Image after, const RowImages& rows,
                             ChangeSink& sink) {
    if (origin.txn->commit_lsn != current_commit_lsn_) {
        previous_commit_lsn_ = current_commit_lsn_;
        current_commit_lsn_ = origin.txn->commit_lsn;
    }
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
    write_source(origin);
    w.field(fields[3]);
    write_absent(w, *fields[3].type);
    w.field(fields[4]);
    const char op_text[2] = {op, '\0'};
    w.write_string(op_text);
    const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    const int64_t stamps[3] = {now_ns / 1000000, now_ns / 1000, now_ns};
    for (size_t f = 5; f < 8; f++) {
        w.field(fields[f]);
        write_present(w, *fields[f].type, [&] { w.write_long(stamps[f - 5]); });
    }
    w.end_record();
    const TableDescription& table = *origin.table;
    const ChangeOp change_op = op == 'd' ? ChangeOp::Delete
                               : op == 'u' ? ChangeOp::Update
                                           : ChangeOp::Insert;
    const std::string* framed_key = framed(table.key_schema_json, key, framed_key_);
    emit_change(sink, change_op, table, framed_key,
                framed(table.value_schema_json, &w.bytes(), framed_value_));
    // tombstones.on.delete: compaction may drop the key's every message.
    if (op == 'd') emit_change(sink, ChangeOp::Delete, table, framed_key, nullptr);
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

void DebeziumEnvelope::key_moved(const ChangeOrigin& origin, const std::string& old_key,
                                 const std::string& new_key, const RowImages& rows,
                                 ChangeSink& sink) {
    event('d', origin, &old_key, Image::Old, Image::None, rows, sink);
    event('c', origin, &new_key, Image::None, Image::New, rows, sink);
}

}  // namespace bw
