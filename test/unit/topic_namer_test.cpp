// Unit tests for the table → topic mapping and the kafka_config text format.
#include "produce/kafka_properties.h"
#include "produce/topic_namer.h"

#include <gtest/gtest.h>

namespace bw {
namespace {

TEST(TopicForTable, PublicTablesAreTheirNameAfterThePrefix) {
    EXPECT_EQ(topic_for_table("", "public", "test"), "test");
    EXPECT_EQ(topic_for_table("pg.", "public", "my_table"), "pg.my_table");
}

TEST(TopicForTable, OtherSchemasAreQualified) {
    EXPECT_EQ(topic_for_table("", "sales", "orders"), "sales.orders");
}

TEST(TopicForTable, ForbiddenBytesBecomeHexEscapes) {
    EXPECT_EQ(topic_for_table("", "public", "my table"), "my_x20table");
    EXPECT_EQ(topic_for_table("", "My Schema", "t$1"), "My_x20Schema.t_x241");
    EXPECT_EQ(escape_topic_chars("caf\xc3\xa9"), "caf_xc3_xa9");
}

// Two different tables never get one topic: the dot and a literal "_x" are escaped too.
TEST(TopicForTable, DotsInsideNamesAreEscapedSoTheSeparatorIsUnambiguous) {
    EXPECT_EQ(topic_for_table("", "a.b", "c"), "a_x2eb.c");
    EXPECT_EQ(topic_for_table("", "a", "b.c"), "a.b_x2ec");
    EXPECT_EQ(topic_for_table("", "public", "a.b"), "a_x2eb");
    EXPECT_NE(topic_for_table("", "public", "a.b"), topic_for_table("", "a", "b"));
}

TEST(TopicForTable, ALiteralEscapeIsEscapedItself) {
    EXPECT_EQ(topic_for_table("", "public", "a b"), "a_x20b");
    EXPECT_EQ(topic_for_table("", "public", "a_x20b"), "a_x5fx20b");
    EXPECT_EQ(topic_for_table("", "public", "max_"), "max_");
    EXPECT_EQ(topic_for_table("", "public", "my_table_x"), "my_table_x5fx");
}

TEST(TopicForTable, KafkaFoldsDotsIntoUnderscores) {
    EXPECT_EQ(kafka_topic_folding("a.b_c"), "a_b_c");
    EXPECT_TRUE(kafka_topics_collide("_bw_offsets", "_bw.offsets"));
    EXPECT_TRUE(kafka_topics_collide("a.b", "a.b"));
    EXPECT_FALSE(kafka_topics_collide("a.b", "a.bc"));
    EXPECT_EQ(kafka_topic_folding(topic_for_table("", "a", "b")),
              kafka_topic_folding(topic_for_table("", "public", "a_b")));
}

TEST(TopicForTable, OverlongNamesAreCutAndHashedDeterministically) {
    const std::string schema(63, '\xe2');
    const std::string topic = topic_for_table("", schema, "t");
    EXPECT_EQ(topic.size(), 249u);
    EXPECT_EQ(topic, topic_for_table("", schema, "t"));
    EXPECT_NE(topic, topic_for_table("", schema, "u"));
}

TEST(KafkaProperties, SemicolonSeparatedPairsTrimmed) {
    const KafkaProperties parsed =
        parse_kafka_properties(" security.protocol = SSL ; ;bootstrap.servers=a:1,b:2;");
    ASSERT_EQ(parsed.size(), 2u);
    EXPECT_EQ(parsed[0], (std::pair<std::string, std::string>("security.protocol", "SSL")));
    EXPECT_EQ(parsed[1], (std::pair<std::string, std::string>("bootstrap.servers", "a:1,b:2")));
    EXPECT_TRUE(parse_kafka_properties("").empty());
}

TEST(KafkaProperties, RejectsEntriesWithoutNameOrEquals) {
    EXPECT_THROW(parse_kafka_properties("linger.ms"), std::invalid_argument);
    EXPECT_THROW(parse_kafka_properties("=5"), std::invalid_argument);
}

}  // namespace
}  // namespace bw

namespace bw {
namespace {

TEST(DebeziumTopics, AreLogicalNameSchemaAndTableWithEverySchemaNamed) {
    EXPECT_EQ(debezium_topic_for_table("dbserver1", "public", "orders"), "dbserver1.public.orders");
    EXPECT_EQ(debezium_topic_for_table("dbserver1", "a.b", "c"), "dbserver1.a_x2eb.c");
    EXPECT_EQ(debezium_topic_for_table("dbserver1", "a", "b.c"), "dbserver1.a.b_x2ec");
    EXPECT_EQ(debezium_topic_for_table(std::string(300, 'p'), "s", "t").size(), 249u);
}

TEST(DebeziumTopics, LogicalNameIsThePrefixWithoutItsDotOrTheDatabase) {
    EXPECT_EQ(debezium_logical_name("dbserver1.", "shop"), "dbserver1");
    EXPECT_EQ(debezium_logical_name("dbserver1", "shop"), "dbserver1");
    EXPECT_EQ(debezium_logical_name("", "shop"), "shop");
    EXPECT_EQ(debezium_logical_name("", "my shop"), "my_x20shop");
}

}  // namespace
}  // namespace bw
