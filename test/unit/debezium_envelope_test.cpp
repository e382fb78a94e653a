// The debezium envelope without a server: the messages of each change kind, the Connect schema
// text and the JsonConverter framing (the comparison with Debezium itself is
// test/test_debezium_envelope.py).
#include "encode/debezium_envelope.h"

#include <gtest/gtest.h>

#include <vector>

#include "encode/avro_binary_text.h"
#include "encode/json_text.h"
#include "schema/connect_schema.h"

namespace bw {
namespace {

struct Message {
    ChangeOp op;
    bool has_key;
    std::string key;
    bool has_value;
    std::string value;
};

class RecordingSink final : public ChangeSink {
public:
    void begin_transaction(const TransactionInfo&) override {}
    void table_schema(const TableDescription&) override {}
    void change(const EncodedChange& change) override {
        messages.push_back({change.op, change.has_key, std::string(change.key), change.has_value,
                            std::string(change.value)});
    }
    void truncate(const EncodedChange&) override {}
    void outbox_message(const OutboxMessage& message) override {
        outbox.push_back({std::string(message.topic), message.key ? std::string(*message.key) : "",
                          message.value.has_value(),
                          message.value ? std::string(*message.value) : "",
                          std::string(message.value_schema_json)});
    }
    void commit_transaction(const TransactionInfo&) override {}
    std::vector<Message> messages;
    struct Outbox {
        std::string topic, key;
        bool has_value;
        std::string value, value_schema_json;
    };
    std::vector<Outbox> outbox;
};

bool starts_with(const std::string& text, const std::string& prefix) {
    return text.compare(0, prefix.size(), prefix) == 0;
}

AvroTypePtr optional_int() {
    return AvroType::union_of({AvroType::primitive(AvroKind::Null),
                               AvroType::primitive(AvroKind::Int)});
}

AvroTypePtr row_record() {
    auto record = std::make_shared<AvroType>();
    record->kind = AvroKind::Record;
    record->full_name = "bottledwater.public.t";
    record->fields = {{"id", AvroType::primitive(AvroKind::Int)}, {"v", optional_int(), true}};
    return record;
}

// Rows {id: 1, v: old or new value}.
class FakeRows final : public RowImages {
public:
    explicit FakeRows(bool has_old) : has_old_(has_old) {}
    bool has_old_row() const override { return has_old_; }
    void write_row(RowWriter& writer, bool old_row) const override {
        const AvroTypePtr record = row_record();
        writer.begin_record(*record);
        writer.field(record->fields[0]);
        writer.write_int(1);
        writer.field(record->fields[1]);
        writer.begin_union(*record->fields[1].type, 1);
        writer.write_int(old_row ? 10 : 20);
        writer.end_union(*record->fields[1].type, 1);
        writer.end_record();
    }

private:
    bool has_old_;
};

struct Fixture {
    explicit Fixture(bool schemas, bool json = true) {
        EnvelopeConfig config;
        config.kind = EnvelopeKind::Debezium;
        config.json = json;
        config.json_schemas = schemas;
        config.logical_name = "srv";
        config.database = "shop";
        config.version = "0.0.0";
        envelope = make_envelope(config);
        table.schema_name = "public";
        table.table_name = "t";
        auto key = std::make_shared<AvroType>();
        key->kind = AvroKind::Record;
        key->full_name = "bottledwater.public.key.t";
        key->fields = {{"id", AvroType::primitive(AvroKind::Int)}};
        envelope->describe(table, key, row_record());
        txn.xid = 7;
        txn.commit_lsn = 100;
        txn.commit_time_micros = 1700000000123456;
        origin.table = &table;
        origin.txn = &txn;
        origin.lsn = 90;
    }
    std::unique_ptr<ChangeEnvelope> envelope;
    TableDescription table;
    TransactionInfo txn;
    ChangeOrigin origin;
    RecordingSink sink;
    const std::string key = R"({"id":1})";
};

TEST(DebeziumEnvelope, SchemasAreConnectsWithDebeziumsNames) {
    Fixture f(true);
    EXPECT_EQ(f.table.key_schema_json,
              R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],)"
              R"("optional":false,"name":"srv.public.t.Key"})");
    EXPECT_NE(f.table.value_schema_json.find(
                  R"({"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},)"
                  R"({"type":"int32","optional":true,"field":"v"}],"optional":true,)"
                  R"("name":"srv.public.t.Value","field":"before"})"),
              std::string::npos);
    EXPECT_NE(f.table.value_schema_json.find(
                  R"("parameters":{"allowed":"true,first,first_in_data_collection,)"
                  R"(last_in_data_collection,last,false,incremental"},"default":"false",)"
                  R"("field":"snapshot"})"),
              std::string::npos);
    const std::string end = R"("optional":false,"name":"srv.public.t.Envelope","version":2})";
    EXPECT_EQ(f.table.value_schema_json.substr(f.table.value_schema_json.size() - end.size()),
              end);
}

TEST(DebeziumEnvelope, InsertIsOneCreateEventFramedWithItsSchemas) {
    Fixture f(true);
    FakeRows rows(false);
    f.envelope->change(ChangeOp::Insert, f.origin, &f.key, rows, f.sink);
    ASSERT_EQ(f.sink.messages.size(), 1u);
    const Message& m = f.sink.messages[0];
    EXPECT_EQ(m.key, R"({"schema":)" + f.table.key_schema_json + R"(,"payload":{"id":1}})");
    const std::string prefix = R"({"schema":)" + f.table.value_schema_json + R"(,"payload":)";
    ASSERT_EQ(m.value.substr(0, prefix.size()), prefix);
    const std::string payload = m.value.substr(prefix.size());
    EXPECT_TRUE(starts_with(
        payload, R"({"before":null,"after":{"id":1,"v":20},"source":{"version":"0.0.0",)"
                 R"("connector":"postgresql","name":"srv","ts_ms":1700000000123,)"
                 R"("snapshot":"false",)"));
    EXPECT_NE(payload.find(R"("db":"shop","sequence":"[null,\"90\"]","ts_us":1700000000123456,)"
                           R"("ts_ns":1700000000123456000,"schema":"public","table":"t",)"
                           R"("txId":7,"lsn":90,"xmin":null,"origin":null,"origin_lsn":null},)"
                           R"("transaction":null,"op":"c","ts_ms":)"),
              std::string::npos);
}

TEST(DebeziumEnvelope, DeleteIsItsEventThenATombstone) {
    Fixture f(false);
    FakeRows rows(true);
    f.envelope->change(ChangeOp::Delete, f.origin, &f.key, rows, f.sink);
    ASSERT_EQ(f.sink.messages.size(), 2u);
    EXPECT_EQ(f.sink.messages[0].key, f.key);
    EXPECT_TRUE(starts_with(f.sink.messages[0].value,
                            R"({"before":{"id":1,"v":10},"after":null,"source")"));
    EXPECT_NE(f.sink.messages[0].value.find(R"("op":"d")"), std::string::npos);
    EXPECT_EQ(f.sink.messages[1].key, f.key);
    EXPECT_FALSE(f.sink.messages[1].has_value);
}

TEST(DebeziumEnvelope, UpdateHasBeforeOnlyUnderReplicaIdentityFull) {
    Fixture f(false);
    FakeRows rows(true);
    f.envelope->change(ChangeOp::Update, f.origin, &f.key, rows, f.sink);
    f.origin.replica_identity_full = true;
    f.envelope->change(ChangeOp::Update, f.origin, &f.key, rows, f.sink);
    ASSERT_EQ(f.sink.messages.size(), 2u);
    EXPECT_TRUE(starts_with(f.sink.messages[0].value, R"({"before":null,)"));
    EXPECT_TRUE(starts_with(f.sink.messages[1].value, R"({"before":{"id":1,"v":10},)"));
}

TEST(DebeziumEnvelope, KeyChangeIsDeleteTombstoneCreate) {
    Fixture f(false);
    FakeRows rows(true);
    const std::string new_key = R"({"id":2})";
    f.envelope->key_moved(f.origin, f.key, new_key, rows, f.sink);
    ASSERT_EQ(f.sink.messages.size(), 3u);
    EXPECT_NE(f.sink.messages[0].value.find(R"("op":"d")"), std::string::npos);
    EXPECT_EQ(f.sink.messages[0].key, f.key);
    EXPECT_FALSE(f.sink.messages[1].has_value);
    EXPECT_EQ(f.sink.messages[2].key, new_key);
    EXPECT_NE(f.sink.messages[2].value.find(R"("op":"c")"), std::string::npos);
}

TEST(DebeziumEnvelope, SnapshotRowsAreReadEventsAndSequenceNamesThePreviousCommit) {
    Fixture f(false);
    FakeRows rows(false);
    f.txn.snapshot = true;
    f.txn.xid = 0;
    f.envelope->change(ChangeOp::Insert, f.origin, &f.key, rows, f.sink);
    TransactionInfo next = f.txn;
    next.snapshot = false;
    next.commit_lsn = 200;
    f.origin.txn = &next;
    f.origin.lsn = 150;
    f.envelope->change(ChangeOp::Insert, f.origin, &f.key, rows, f.sink);
    ASSERT_EQ(f.sink.messages.size(), 2u);
    EXPECT_NE(f.sink.messages[0].value.find(R"("snapshot":"true")"), std::string::npos);
    EXPECT_NE(f.sink.messages[0].value.find(R"("txId":null)"), std::string::npos);
    EXPECT_NE(f.sink.messages[0].value.find(R"("op":"r")"), std::string::npos);
    EXPECT_NE(f.sink.messages[1].value.find(R"("sequence":"[\"100\",\"150\"]")"),
              std::string::npos);
}

// source.snapshot says where a snapshot row stands (the scan decides it: snapshot_marks.h), or
// that it is an incremental snapshot's; in Avro too, as a value the enum allows.
TEST(DebeziumEnvelope, SnapshotRowsCarryTheirMark) {
    for (bool json : {true, false}) {
        Fixture f(false, json);
        FakeRows rows(false);
        f.txn.snapshot = true;
        for (SnapshotMark mark : {SnapshotMark::First, SnapshotMark::LastInTable,
                                  SnapshotMark::Last, SnapshotMark::Incremental}) {
            f.txn.snapshot_mark = mark;
            f.envelope->change(ChangeOp::Insert, f.origin, &f.key, rows, f.sink);
            const std::string value =
                json ? f.sink.messages.back().value
                     : avro_binary_as_json(f.table.value_schema_json, f.sink.messages.back().value,
                                           JsonSpacing::Compact);
            const std::string expected = json ? std::string(R"("snapshot":")") +
                                                    snapshot_mark_name(mark) + "\""
                                              : std::string(R"("snapshot":{"string":")") +
                                                    snapshot_mark_name(mark) + "\"}";
            EXPECT_NE(value.find(expected), std::string::npos) << value;
            EXPECT_NE(value.find(R"("op":"r")"), std::string::npos) << value;
        }
    }
}

// In Avro the events are of the registered schemas: avro-c reads them back with those alone.
TEST(DebeziumEnvelope, AvroEventsReadBackWithTheirSchemas) {
    Fixture f(false, false);
    EXPECT_EQ(f.table.key_schema_json,
              R"({"type":"record","name":"Key","namespace":"srv.public.t","fields":[)"
              R"({"name":"id","type":"int"}],"connect.name":"srv.public.t.Key"})");
    FakeRows rows(true);
    const std::string key("", 1);  // {id: 1}
    f.envelope->change(ChangeOp::Delete, f.origin, &key, rows, f.sink);
    ASSERT_EQ(f.sink.messages.size(), 2u);
    EXPECT_EQ(f.sink.messages[0].key, key);
    EXPECT_EQ(avro_binary_as_json(f.table.key_schema_json, f.sink.messages[0].key), R"({"id": 1})");
    EXPECT_EQ(avro_binary_as_json(f.table.key_schema_json, f.sink.messages[0].key,
                                  JsonSpacing::Compact),
              R"({"id":1})");  // as Kafka Connect writes it, for Debezium's key-change headers
    const std::string value =
        avro_binary_as_json(f.table.value_schema_json, f.sink.messages[0].value);
    EXPECT_TRUE(starts_with(value, R"({"before": {"srv.public.t.Value": {"id": 1, "v": {"int": )"
                                   R"(10}}}, "after": null, "source": {"version": "0.0.0", )"))
        << value;
    // snapshot is the union's first branch, as its default requires.
    EXPECT_NE(value.find(R"("snapshot": {"string": "false"}, "db": "shop", )"), std::string::npos)
        << value;
    EXPECT_NE(
        value.find(R"("origin_lsn": null}, "transaction": null, "op": "d", "ts_ms": {"long": )"),
        std::string::npos)
        << value;
    EXPECT_FALSE(f.sink.messages[1].has_value);
}

// In Avro a bw_emit() value is Debezium's op "m" event, of the schema the sink registers under
// the topic's subject; the key is bw_emit's, a null value still a tombstone without a schema.
TEST(DebeziumEnvelope, AvroOutboxMessageIsTheOpMEventWithItsSchema) {
    Fixture f(false, false);
    OutboxMessage message;
    message.topic = "orders.events";
    message.key = std::string_view("k1");
    message.value = std::string_view("{\"order\": 1}");
    f.envelope->outbox_message(message, f.txn, 95, f.sink);
    message.value = std::nullopt;
    f.envelope->outbox_message(message, f.txn, 96, f.sink);
    ASSERT_EQ(f.sink.outbox.size(), 2u);
    const auto& event = f.sink.outbox[0];
    EXPECT_EQ(event.topic, "orders.events");
    EXPECT_EQ(event.key, "k1");
    EXPECT_TRUE(starts_with(event.value_schema_json,
                            R"({"type":"record","name":"MessageValue","namespace":)"
                            R"("io.debezium.connector.postgresql","fields":[)"
                            R"({"name":"op","type":"string"},)"))
        << event.value_schema_json;
    const std::string value = avro_binary_as_json(event.value_schema_json, event.value);
    EXPECT_TRUE(starts_with(value, R"({"op": "m", "ts_ms": {"long": )")) << value;
    EXPECT_NE(value.find(R"("schema": "", "table": "", "txId": {"long": 7}, "lsn": {"long": 95})"),
              std::string::npos)
        << value;
    EXPECT_NE(value.find(R"("message": {"prefix": {"string": "bottledwater.outbox"}, )"
                         R"("content": {"bytes": "{\"order\": 1}"}}})"),
              std::string::npos)
        << value;
    EXPECT_FALSE(f.sink.outbox[1].has_value);
    EXPECT_EQ(f.sink.outbox[1].value_schema_json, "");
}

// Avro names allow no '-' or space: each part of the record names is mapped as column names are.
TEST(DebeziumEnvelope, AvroRecordNamesAreAvroNames) {
    EnvelopeConfig config;
    config.kind = EnvelopeKind::Debezium;
    config.json = false;
    config.logical_name = "my-srv.eu";
    auto envelope = make_envelope(config);
    TableDescription table;
    table.schema_name = "Sales";
    table.table_name = "order items";
    envelope->describe(table, nullptr, row_record());
    EXPECT_TRUE(starts_with(table.value_schema_json,
                            R"({"type":"record","name":"Envelope","namespace":)"
                            R"("my_u002d_srv.eu.Sales.order_u0020_items","fields":[)"))
        << table.value_schema_json;
}

TEST(JsonBase64, PadsAsRfc4648) {
    std::string out;
    append_json_base64(out, "", 0);
    append_json_base64(out, "\x04\xd2", 2);
    append_json_base64(out, "\x01\xe2\x40", 3);
    append_json_base64(out, "a", 1);
    EXPECT_EQ(out, R"("""BNI=""AeJA""YQ==")");
}

}  // namespace
}  // namespace bw
