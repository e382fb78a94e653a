// BEGIN and END records of the transaction topic (see transaction_records.h). The schemas are
// Debezium's (SchemaFactory's transaction key and value, its event.collection items).
#include "encode/transaction_records.h"

#include "encode/avro_binary_writer.h"
#include "encode/avro_json_writer.h"
#include "encode/connect_json_writer.h"
#include "encode/optional_value.h"
#include "schema/connect_avro_schema.h"
#include "schema/connect_schema.h"
#include "schema/schema_check.h"

namespace bw {

namespace {

AvroTypePtr primitive(AvroKind kind) {
    return AvroType::primitive(kind);
}

AvroTypePtr key_type() {
    auto key = connect_record("io.debezium.connector.common.TransactionMetadataKey");
    key->fields = {{"id", primitive(AvroKind::String)}};
    return key;
}

AvroTypePtr value_type() {
    auto collection = connect_record("event.collection");
    collection->fields = {{"data_collection", primitive(AvroKind::String)},
                          {"event_count", primitive(AvroKind::Long)}};
    auto value = connect_record("io.debezium.connector.common.TransactionMetadataValue");
    value->fields = {{"status", primitive(AvroKind::String)},
                     {"id", primitive(AvroKind::String)},
                     {"event_count", optional_type(primitive(AvroKind::Long)), true},
                     {"data_collections",
                      optional_type(AvroType::array_of(optional_type(std::move(collection)))),
                      true},
                     {"ts_ms", primitive(AvroKind::Long)}};
    return value;
}

std::unique_ptr<RowWriter> writer_for(const EnvelopeConfig& config) {
    if (!config.json) return std::make_unique<AvroBinaryWriter>();
    if (config.kind == EnvelopeKind::Debezium) return std::make_unique<ConnectJsonWriter>();
    return std::make_unique<AvroJsonWriter>();
}

}  // namespace

TransactionRecords::TransactionRecords(const EnvelopeConfig& config)
    : connect_framing_(config.json && config.kind == EnvelopeKind::Debezium &&
                       config.json_schemas),
      key_type_(key_type()),
      value_type_(value_type()),
      key_writer_(writer_for(config)),
      value_writer_(writer_for(config)) {
    if (!config.json) {
        // Under the debezium envelope, as an AvroConverter registers Debezium's.
        const auto render = config.kind == EnvelopeKind::Debezium ? render_connect_avro_schema
                                                                  : render_schema_json;
        key_schema_json_ = render(*key_type_);
        value_schema_json_ = render(*value_type_);
        check_schema_json(key_schema_json_);
        check_schema_json(value_schema_json_);
    }
    if (connect_framing_) {
        connect_key_schema_ = render_connect_schema(*key_type_);
        connect_value_schema_ = render_connect_schema(*value_type_);
    }
}

void TransactionRecords::begin_transaction() {
    begun_ = false;
    total_ = 0;
    counts_.clear();
    index_.clear();
}

void TransactionRecords::count(std::string_view collection, const EventOrder& order) {
    if (!order.numbered()) return;
    total_ = order.total;
    auto found = index_.find(std::string(collection));
    if (found == index_.end()) {
        index_.emplace(std::string(collection), counts_.size());
        counts_.emplace_back(std::string(collection), order.in_collection);
    } else {
        counts_[found->second].second = order.in_collection;
    }
}

TransactionRecords::Record TransactionRecords::begin_record(const TransactionInfo& txn,
                                                            uint64_t lsn) {
    begun_ = true;
    return record("BEGIN", debezium_transaction_id(txn.xid, lsn), txn, false);
}

TransactionRecords::Record TransactionRecords::end_record(const TransactionInfo& txn) {
    return record("END", debezium_transaction_id(txn.xid, txn.end_lsn), txn, true);
}

const std::string& TransactionRecords::framed(const std::string& schema,
                                              const std::string& payload,
                                              std::string& buffer) const {
    if (!connect_framing_) return payload;
    buffer = R"({"schema":)" + schema + R"(,"payload":)" + payload + "}";
    return buffer;
}

TransactionRecords::Record TransactionRecords::record(const char* status, const std::string& id,
                                                      const TransactionInfo& txn,
                                                      bool with_counts) {
    RowWriter& k = *key_writer_;
    k.reset();
    k.begin_record(*key_type_);
    k.field(key_type_->fields[0]);
    k.write_string(id);
    k.end_record();

    RowWriter& w = *value_writer_;
    const auto& fields = value_type_->fields;
    w.reset();
    w.begin_record(*value_type_);
    w.field(fields[0]);
    w.write_string(status);
    w.field(fields[1]);
    w.write_string(id);
    w.field(fields[2]);
    if (with_counts)
        write_present(w, *fields[2].type, [&] { w.write_long(static_cast<int64_t>(total_)); });
    else
        write_absent(w, *fields[2].type);
    w.field(fields[3]);
    if (with_counts) {
        const AvroType& array = *fields[3].type->branches[1];
        const AvroType& item = *array.items;
        const AvroType& collection = *item.branches[1];
        write_present(w, *fields[3].type, [&] {
            w.begin_array(counts_.size());
            for (const auto& [name, events] : counts_) {
                w.item();
                write_present(w, item, [&] {
                    w.begin_record(collection);
                    w.field(collection.fields[0]);
                    w.write_string(name);
                    w.field(collection.fields[1]);
                    w.write_long(static_cast<int64_t>(events));
                    w.end_record();
                });
            }
            w.end_array();
        });
    } else {
        write_absent(w, *fields[3].type);
    }
    w.field(fields[4]);
    w.write_long(txn.commit_time_micros / 1000);
    w.end_record();
    return {framed(connect_key_schema_, k.bytes(), framed_key_),
            framed(connect_value_schema_, w.bytes(), framed_value_)};
}

}  // namespace bw
