// Connect schemas rendered as AvroData registers them: names split into namespace and name,
// connect.* annotations, optional fields and their defaults, references by name (the whole
// schemas are compared with Debezium's by test/test_debezium_envelope.py).
#include "schema/connect_avro_schema.h"

#include <gtest/gtest.h>

#include "schema/schema_check.h"

namespace bw {
namespace {

std::shared_ptr<AvroType> record(const std::string& name) {
    auto type = std::make_shared<AvroType>();
    type->kind = AvroKind::Record;
    type->full_name = "bottledwater.ignored";
    type->connect_name = name;
    return type;
}

AvroTypePtr optional(AvroTypePtr type) {
    return AvroType::union_of({AvroType::primitive(AvroKind::Null), std::move(type)});
}

TEST(ConnectAvroSchema, PrimitivesKeepTheirConnectAnnotations) {
    auto date = std::make_shared<AvroType>(*AvroType::primitive(AvroKind::Int));
    date->connect_name = "io.debezium.time.Date";
    date->connect_version = 1;
    auto int16 = std::make_shared<AvroType>(*AvroType::primitive(AvroKind::Int));
    int16->connect_type = "int16";
    auto money = std::make_shared<AvroType>(*AvroType::decimal(0, 2));
    money->connect_name = "org.apache.kafka.connect.data.Decimal";
    money->connect_version = 1;
    money->connect_parameters = {{"scale", "2"}};
    auto row = record("p.s.t.Value");
    row->fields = {{"d", date}, {"i2", optional(int16)}, {"m", money}};
    const std::string text = render_connect_avro_schema(*row);
    EXPECT_EQ(text,
              R"({"type":"record","name":"Value","namespace":"p.s.t","fields":[)"
              R"({"name":"d","type":{"type":"int","connect.version":1,)"
              R"("connect.name":"io.debezium.time.Date"}},)"
              R"({"name":"i2","type":["null",{"type":"int","connect.type":"int16"}],)"
              R"("default":null},)"
              R"({"name":"m","type":{"type":"bytes","scale":2,"precision":64,)"
              R"("connect.version":1,"connect.parameters":{"scale":"2"},)"
              R"("connect.name":"org.apache.kafka.connect.data.Decimal",)"
              R"("logicalType":"decimal"}}],"connect.name":"p.s.t.Value"})");
    check_schema_json(text);
}

TEST(ConnectAvroSchema, ATypeWithADefaultComesFirstInItsUnion) {
    auto snapshot = std::make_shared<AvroType>(*AvroType::primitive(AvroKind::String));
    snapshot->connect_default_json = R"("false")";
    auto source = record("io.debezium.connector.postgresql.Source");
    source->fields = {
        {"snapshot", AvroType::union_of({snapshot, AvroType::primitive(AvroKind::Null)})}};
    const std::string text = render_connect_avro_schema(*source);
    EXPECT_NE(text.find(R"({"name":"snapshot","type":[{"type":"string","connect.default":)"
                        R"("false"},"null"],"default":"false"})"),
              std::string::npos)
        << text;
    check_schema_json(text);
}

TEST(ConnectAvroSchema, ANamedTypeIsDefinedOnceThenReferredToByName) {
    auto decimal = record("io.debezium.data.VariableScaleDecimal");
    decimal->connect_doc = "Variable scaled decimal";
    decimal->fields = {{"scale", AvroType::primitive(AvroKind::Int)},
                       {"value", AvroType::primitive(AvroKind::Bytes)}};
    auto row = record("p.s.t.Value");
    row->fields = {{"a", optional(decimal)}, {"b", decimal}};
    auto envelope = record("p.s.t.Envelope");
    envelope->connect_version = 2;
    envelope->fields = {{"before", optional(row)}, {"after", optional(row)}};
    const std::string text = render_connect_avro_schema(*envelope);
    // Its doc only as connect.doc, as AvroData writes a Connect doc.
    EXPECT_NE(text.find(R"({"type":"record","name":"VariableScaleDecimal",)"
                        R"("namespace":"io.debezium.data","fields":[)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"("connect.doc":"Variable scaled decimal","connect.name":)"),
              std::string::npos);
    EXPECT_NE(text.find(R"({"name":"b","type":"io.debezium.data.VariableScaleDecimal"})"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"({"name":"after","type":["null","Value"],"default":null})"),
              std::string::npos)
        << text;
    const std::string end = R"(],"connect.version":2,"connect.name":"p.s.t.Envelope"})";
    EXPECT_EQ(text.substr(text.size() - end.size()), end);
    check_schema_json(text);
}

}  // namespace
}  // namespace bw
