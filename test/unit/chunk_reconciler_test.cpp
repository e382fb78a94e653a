// Unit tests for the stream side of incremental snapshots: which chunk rows reach the sink at the
// watermark, as the stream changes, deletes and truncates keys of the chunk being held.
#include "snapshot/chunk_reconciler.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bw {
namespace {

// Records what reaches the sink: "begin snapshot@lsn", "schema", "insert key=value",
// "delete key", "commit".
class RecordingSink final : public ChangeSink {
public:
    void begin_transaction(const TransactionInfo& txn) override {
        events.push_back(std::string("begin") + (txn.snapshot ? " snapshot@" : "@") +
                         std::to_string(txn.end_lsn));
    }
    void table_schema(const TableDescription&) override { events.push_back("schema"); }
    void change(const EncodedChange& c) override {
        events.push_back(std::string(change_op_name(c.op)) + " " + std::string(c.key) +
                         (c.has_value ? "=" + std::string(c.value) : ""));
    }
    void truncate(const EncodedChange&) override { events.push_back("truncate"); }
    void outbox_message(const OutboxMessage&) override {}
    void commit_transaction(const TransactionInfo&) override { events.push_back("commit"); }
    std::vector<std::string> events;
};

TableDescription table(uint32_t relid) {
    TableDescription t;
    t.relid = relid;
    t.qualified_name = "public.t";
    return t;
}

SnapshotChunk chunk_of(uint32_t relid, std::vector<std::pair<std::string, std::string>> rows,
                       bool last = false) {
    SnapshotChunk chunk;
    chunk.request = relid;
    chunk.table = table(relid);
    for (const auto& [key, value] : rows) chunk.rows.add(key, value);
    if (!rows.empty()) chunk.next_position = {rows.back().first};
    chunk.last = last;
    return chunk;
}

void stream_change(ChunkReconciler& r, const TableDescription& t, ChangeOp op, std::string key,
                   const char* value) {
    TransactionInfo txn;
    txn.end_lsn = 50;
    r.begin_transaction(txn);
    EncodedChange c;
    c.op = op;
    c.table = &t;
    c.has_key = true;
    c.key = key;
    c.has_value = value != nullptr;
    if (value) c.value = value;
    r.change(c);
    r.commit_transaction(txn);
}

TEST(ChunkReconciler, RowsTheStreamDidNotTouchAreSentAtTheWatermark) {
    RecordingSink sink;
    ChunkReconciler r(sink);
    r.open(chunk_of(7, {{"1", "a"}, {"2", "b"}}), "slot/1");
    EXPECT_TRUE(r.chunk_open());
    EXPECT_TRUE(sink.events.empty());
    r.watermark("slot/1", 100);
    EXPECT_EQ(sink.events, (std::vector<std::string>{"begin snapshot@100", "schema", "insert 1=a",
                                                     "insert 2=b", "commit"}));
    EXPECT_FALSE(r.chunk_open());
}

TEST(ChunkReconciler, AKeyChangedOrDeletedBeforeTheWatermarkIsLeftToTheStream) {
    RecordingSink sink;
    ChunkReconciler r(sink);
    const TableDescription t = table(7);
    r.open(chunk_of(7, {{"1", "a"}, {"2", "b"}, {"3", "c"}}), "slot/1");
    stream_change(r, t, ChangeOp::Update, "1", "a2");
    stream_change(r, t, ChangeOp::Delete, "3", nullptr);
    r.watermark("slot/1", 100);
    // The deleted key is not resurrected, the updated one not sent older than the stream's.
    EXPECT_EQ(sink.events, (std::vector<std::string>{"begin@50", "update 1=a2", "commit",
                                                     "begin@50", "delete 3", "commit",
                                                     "begin snapshot@100", "schema", "insert 2=b",
                                                     "commit"}));
}

TEST(ChunkReconciler, ChangesOfOtherTablesAndAfterTheWatermarkLeaveTheChunkAlone) {
    RecordingSink sink;
    ChunkReconciler r(sink);
    const TableDescription other = table(8);
    r.open(chunk_of(7, {{"1", "a"}}), "slot/1");
    stream_change(r, other, ChangeOp::Delete, "1", nullptr);
    r.watermark("slot/1", 100);
    stream_change(r, table(7), ChangeOp::Delete, "1", nullptr);
    EXPECT_EQ(sink.events[5], "insert 1=a");
    EXPECT_EQ(sink.events.back(), "commit");
    EXPECT_EQ(sink.events[sink.events.size() - 2], "delete 1");
}

TEST(ChunkReconciler, AnotherWorkersWatermarkIsIgnored) {
    RecordingSink sink;
    ChunkReconciler r(sink);
    r.open(chunk_of(7, {{"1", "a"}}), watermark_payload("mine", 3));
    r.watermark(watermark_payload("theirs", 3), 90);
    r.watermark(watermark_payload("mine", 2), 95);
    EXPECT_TRUE(r.chunk_open());
    EXPECT_TRUE(sink.events.empty());
    r.watermark(watermark_payload("mine", 3), 100);
    EXPECT_FALSE(r.chunk_open());
}

TEST(ChunkReconciler, ATruncateEmptiesTheChunkButItsPositionAdvances) {
    RecordingSink sink;
    ChunkReconciler r(sink);
    r.open(chunk_of(7, {{"1", "a"}, {"2", "b"}}), "slot/1");
    const TableDescription truncated = table(7);
    EncodedChange truncate;
    truncate.op = ChangeOp::Truncate;
    truncate.table = &truncated;
    r.truncate(truncate);
    r.watermark("slot/1", 100);
    EXPECT_EQ(sink.events, (std::vector<std::string>{"truncate"}));
    const std::vector<SentChunk> acked = r.take_acknowledged(100);
    ASSERT_EQ(acked.size(), 1u);
    EXPECT_EQ(acked[0].rows_sent, 0);
    EXPECT_EQ(acked[0].next_position, (std::vector<std::string>{"2"}));
    EXPECT_FALSE(acked[0].discarded);
}

TEST(ChunkReconciler, ASchemaChangeOfTheTableDiscardsTheChunkToBeReadAgain) {
    RecordingSink sink;
    ChunkReconciler r(sink);
    r.open(chunk_of(7, {{"1", "a"}}), "slot/1");
    r.table_schema(table(7));
    r.watermark("slot/1", 100);
    EXPECT_EQ(sink.events, (std::vector<std::string>{"schema"}));
    const std::vector<SentChunk> acked = r.take_acknowledged(100);
    ASSERT_EQ(acked.size(), 1u);
    EXPECT_TRUE(acked[0].discarded);
}

TEST(ChunkReconciler, APositionIsAcknowledgedOnlyOnceKafkaHasTheWatermarksTransaction) {
    RecordingSink sink;
    ChunkReconciler r(sink);
    r.open(chunk_of(7, {{"1", "a"}}, true), "slot/1");
    r.watermark("slot/1", 100);
    EXPECT_TRUE(r.awaiting_acknowledgement());
    EXPECT_TRUE(r.take_acknowledged(99).empty());
    const std::vector<SentChunk> acked = r.take_acknowledged(100);
    ASSERT_EQ(acked.size(), 1u);
    EXPECT_EQ(acked[0].rows_sent, 1);
    EXPECT_TRUE(acked[0].last);
    EXPECT_FALSE(r.awaiting_acknowledgement());
}

TEST(ChunkReconciler, ShortKeysSurviveTheMoveIntoTheOpenChunk) {
    // Keys short enough for the small-string buffer: the index must point at the stored rows.
    RecordingSink sink;
    ChunkReconciler r(sink);
    std::vector<std::pair<std::string, std::string>> rows;
    for (int i = 0; i < 100; i++) rows.emplace_back(std::to_string(i), "v");
    r.open(chunk_of(7, rows), "slot/1");
    for (int i = 0; i < 100; i += 2)
        stream_change(r, table(7), ChangeOp::Delete, std::to_string(i), nullptr);
    sink.events.clear();
    r.watermark("slot/1", 100);
    EXPECT_EQ(sink.events.size(), 50u + 3u);
    EXPECT_EQ(sink.events[2], "insert 1=v");
}

TEST(ChunkReconciler, ChunkRowsCarryTheSchemaVersionTheStreamGaveTheSameSchema) {
    std::vector<uint32_t> versions;
    class VersionSink final : public ChangeSink {
    public:
        explicit VersionSink(std::vector<uint32_t>& versions) : versions_(versions) {}
        void begin_transaction(const TransactionInfo&) override {}
        void table_schema(const TableDescription&) override {}
        void change(const EncodedChange& c) override {
            versions_.push_back(c.table->schema_version);
        }
        void truncate(const EncodedChange&) override {}
        void outbox_message(const OutboxMessage&) override {}
        void commit_transaction(const TransactionInfo&) override {}

    private:
        std::vector<uint32_t>& versions_;
    } sink(versions);
    ChunkReconciler r(sink);
    auto chunk_with_schema = [](const char* value_schema) {
        SnapshotChunk chunk = chunk_of(7, {{"1", "a"}});
        chunk.table.value_schema_json = value_schema;
        chunk.table.schema_version = 1;  // as the reader numbers every table
        return chunk;
    };
    // Not announced by the stream: the stream's first number.
    r.open(chunk_with_schema("A"), "slot/1");
    r.watermark("slot/1", 100);
    // The stream announced this schema as its third version.
    TableDescription streamed = table(7);
    streamed.value_schema_json = "A";
    streamed.schema_version = 3;
    r.table_schema(streamed);
    r.open(chunk_with_schema("A"), "slot/2");
    r.watermark("slot/2", 110);
    // Read under a schema the stream has not announced yet: its next number.
    r.open(chunk_with_schema("B"), "slot/3");
    r.watermark("slot/3", 120);
    EXPECT_EQ(versions, (std::vector<uint32_t>{1, 3, 4}));
}

}  // namespace
}  // namespace bw
