// The transaction topic's records and the numbering of events, without a server (the
// comparison with Debezium itself is test/test_debezium_envelope.py).
#include "encode/transaction_records.h"

#include <gtest/gtest.h>

#include "encode/encoded_change.h"
#include "produce/event_headers.h"

namespace bw {
namespace {

TransactionInfo streamed_txn() {
    TransactionInfo txn;
    txn.xid = 571;
    txn.commit_lsn = 53195800;
    txn.end_lsn = 53195832;
    txn.commit_time_micros = 1764583200123456;
    return txn;
}

TEST(TransactionOrder, NumbersEventsPerTransactionAndPerCollection) {
    TransactionOrder order(true);
    order.begin(streamed_txn());
    EXPECT_EQ(order.next("public.a", 10).total, 1u);
    const EventOrder second = order.next("public.b", 20);
    EXPECT_EQ(second.total, 2u);
    EXPECT_EQ(second.in_collection, 1u);
    EXPECT_EQ(second.lsn, 20u);
    EXPECT_EQ(order.next("public.a", 30).in_collection, 2u);
    order.begin(streamed_txn());
    EXPECT_EQ(order.next("public.a", 40).in_collection, 1u);

    TransactionInfo snapshot = streamed_txn();
    snapshot.snapshot = true;
    order.begin(snapshot);
    EXPECT_FALSE(order.next("public.a", 50).numbered());
    TransactionOrder off(false);
    off.begin(streamed_txn());
    EXPECT_FALSE(off.next("public.a", 50).numbered());
}

TEST(TransactionRecords, BeginAndEndAsDebeziumWritesThemWithoutSchemas) {
    EnvelopeConfig config;
    config.kind = EnvelopeKind::Debezium;
    config.json = true;
    config.json_schemas = false;
    TransactionRecords records(config);
    records.begin_transaction();
    EXPECT_FALSE(records.begun());
    const TransactionInfo txn = streamed_txn();
    const auto begin = records.begin_record(txn, 53195829);
    EXPECT_EQ(begin.key, R"({"id":"571:53195829"})");
    EXPECT_EQ(begin.value, R"({"status":"BEGIN","id":"571:53195829","event_count":null,)"
                           R"("data_collections":null,"ts_ms":1764583200123})");
    EXPECT_TRUE(records.begun());
    records.count("s1.a", {1, 1, 53195829});
    records.count("s1.b", {2, 1, 53195830});
    records.count("s1.a", {3, 2, 53195831});
    const auto end = records.end_record(txn);
    EXPECT_EQ(end.key, R"({"id":"571:53195832"})");
    EXPECT_EQ(end.value, R"({"status":"END","id":"571:53195832","event_count":3,)"
                         R"("data_collections":[{"data_collection":"s1.a","event_count":2},)"
                         R"({"data_collection":"s1.b","event_count":1}],"ts_ms":1764583200123})");
    records.begin_transaction();
    EXPECT_FALSE(records.begun());
    EXPECT_EQ(records.end_record(txn).value,
              R"({"status":"END","id":"571:53195832","event_count":0,"data_collections":[],)"
              R"("ts_ms":1764583200123})");
}

TEST(TransactionRecords, AvroHasSchemasForTheRegistryAndJsonSchemasFrameEachRecord) {
    EnvelopeConfig avro;
    TransactionRecords binary(avro);
    EXPECT_NE(binary.value_schema_json().find("io.debezium.connector.common."
                                              "TransactionMetadataValue"),
              std::string::npos);
    EnvelopeConfig framed;
    framed.kind = EnvelopeKind::Debezium;
    framed.json = true;
    TransactionRecords connect(framed);
    EXPECT_TRUE(connect.value_schema_json().empty());
    const auto begin = connect.begin_record(streamed_txn(), 1);
    EXPECT_EQ(begin.key.rfind(R"({"schema":{"type":"struct")", 0), 0u) << begin.key;
    EXPECT_NE(begin.key.find(R"(,"payload":{"id":"571:1"}})"), std::string::npos) << begin.key;
}

TEST(EventHeaders, CarryTheEventsPlaceWhenNumbered) {
    EventHeaders headers;
    headers.begin_transaction(streamed_txn());
    const MessageHeaders& numbered = headers.next("insert", "public.a", 1, {2, 1, 53195830});
    ASSERT_EQ(numbered.size(), 10u);
    EXPECT_STREQ(numbered[7].name, "bw.txn_id");
    EXPECT_EQ(numbered[7].value, "571:53195830");
    EXPECT_EQ(numbered[8].value, "2");
    EXPECT_EQ(numbered[9].value, "1");
    EXPECT_EQ(headers.next("delete", "public.a", 1).size(), 7u);
    const MessageHeaders& record = headers.transaction_record("end");
    ASSERT_EQ(record.size(), 4u);
    EXPECT_EQ(record[0].value, "end");
    EXPECT_EQ(headers.next_outbox_message({3, 1, 7}).size(), 8u);
    EXPECT_STREQ(headers.next_outbox_message({3, 1, 7})[4].name, "bw.txn_index");
}

}  // namespace
}  // namespace bw
