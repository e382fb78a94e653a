// Unit tests for the headers each Kafka message carries.
#include "produce/event_headers.h"

#include <gtest/gtest.h>

#include <map>

namespace bw {
namespace {

std::map<std::string, std::string> as_map(const MessageHeaders& headers) {
    std::map<std::string, std::string> out;
    for (const MessageHeader& header : headers) out[header.name] = std::string(header.value);
    return out;
}

TEST(EventHeaders, CarryTheTransactionAndTheEventsPositionInIt) {
    EventHeaders headers;
    TransactionInfo txn;
    txn.xid = 745;
    txn.end_lsn = 0x1A00000F28ull;
    txn.commit_time_micros = 1764583200123456;
    headers.begin_transaction(txn);
    const std::map<std::string, std::string> first =
        as_map(headers.next("insert", "public.orders", 3));
    EXPECT_EQ(first, (std::map<std::string, std::string>{{"bw.op", "insert"},
                                                         {"bw.lsn", "1A/F28"},
                                                         {"bw.xid", "745"},
                                                         {"bw.commit_time", "1764583200123456"},
                                                         {"bw.txn_index", "0"},
                                                         {"bw.table", "public.orders"},
                                                         {"bw.schema_version", "3"}}));
    auto second = as_map(headers.next("delete", "sales.items", 1));
    EXPECT_EQ(second["bw.txn_index"], "1");
    EXPECT_EQ(second["bw.op"], "delete");
    EXPECT_EQ(second["bw.table"], "sales.items");
    EXPECT_EQ(second["bw.lsn"], "1A/F28");

    const auto message = as_map(headers.next_outbox_message());
    EXPECT_EQ(message, (std::map<std::string, std::string>{{"bw.op", "message"},
                                                           {"bw.lsn", "1A/F28"},
                                                           {"bw.xid", "745"},
                                                           {"bw.commit_time", "1764583200123456"},
                                                           {"bw.txn_index", "2"}}));
    EXPECT_EQ(as_map(headers.next("insert", "public.orders", 3))["bw.table"], "public.orders");

    txn.xid = 746;
    txn.end_lsn = 0x1A00001000ull;
    headers.begin_transaction(txn);
    auto next_txn = as_map(headers.next("update", "public.orders", 3));
    EXPECT_EQ(next_txn["bw.txn_index"], "0");
    EXPECT_EQ(next_txn["bw.xid"], "746");
    EXPECT_EQ(next_txn["bw.lsn"], "1A/1000");
}

}  // namespace
}  // namespace bw
