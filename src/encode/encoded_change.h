// What the decoder hands on for each transaction and change, already encoded: the one interface
// between decoding and its two consumers (SQL functions through OutputPluginWrite, and the
// worker's Kafka producer).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "encode/transaction_order.h"

namespace bw {

struct OutboxMessage;  // encode/outbox_payload.h

// Truncate: the table was emptied (TRUNCATE); its change has the key record with every field
// null and no value.
enum class ChangeOp { Insert, Update, Delete, Truncate };

const char* change_op_name(ChangeOp op);

// The encoding of one table at one schema version.
struct TableDescription {
    uint32_t relid = 0;           // the relation's OID: what identifies the table in caches
    std::string schema_name;      // PostgreSQL schema ("public")
    std::string table_name;       // PostgreSQL table name, unquoted
    std::string qualified_name;   // schema_name + "." + table_name
    std::string key_schema_json;  // empty for an unkeyed table
    std::string value_schema_json;
    uint32_t schema_version = 0;  // bumped each time the table's schema text changes
};

// Where a snapshot row stands among its snapshot's rows, as Debezium's source.snapshot says:
// the consistent snapshot's first row, a table's first or last, its very last (see
// snapshot/snapshot_marks.h), any other; or a row of an incremental snapshot.
enum class SnapshotMark { Row, First, FirstInTable, LastInTable, Last, Incremental };

// Debezium's name of the mark (its SnapshotRecord's): "true", "first", ... "incremental".
const char* snapshot_mark_name(SnapshotMark mark);

struct TransactionInfo {
    uint32_t xid = 0;
    uint64_t commit_lsn = 0;         // start of the commit record
    uint64_t end_lsn = 0;            // end of the commit record: what a consumer confirms
    int64_t commit_time_micros = 0;  // since the Unix epoch, UTC
    bool snapshot = false;  // snapshot rows (the first snapshot's, a chunk's) as one transaction
    SnapshotMark snapshot_mark = SnapshotMark::Row;  // of the snapshot row being encoded
};

// A header the envelope gives one message, whether or not bottledwater.message_headers is on.
struct EnvelopeHeader {
    const char* name = nullptr;  // none
    std::string_view value;
};

struct EncodedChange {
    ChangeOp op = ChangeOp::Insert;
    const TableDescription* table = nullptr;
    bool has_key = false;  // false for an unkeyed table streamed under allow_unkeyed
    std::string_view key;
    bool has_value = false;  // false for a delete (a tombstone)
    std::string_view value;
    // Numbered when the transaction topic is on (see transaction_order.h); its lsn is set even
    // for a change that sends no message.
    EventOrder order;
    EnvelopeHeader header;
    // False for a truncate the envelope sends no message for: sinks that keep state (the chunk
    // an incremental snapshot holds) hear of it all the same, and those that write leave it out.
    bool sends_message = true;
};

class ChangeSink {
public:
    virtual ~ChangeSink() = default;
    virtual void begin_transaction(const TransactionInfo& txn) = 0;
    // Called before the first change of a table at each schema version it is seen at.
    virtual void table_schema(const TableDescription& table) = 0;
    virtual void change(const EncodedChange& change) = 0;
    // A TRUNCATE of the table, in its place among the transaction's changes (op Truncate).
    virtual void truncate(const EncodedChange& change) = 0;
    // A bw_emit() of the transaction, in its place among the transaction's changes.
    virtual void outbox_message(const OutboxMessage& message) = 0;
    virtual void commit_transaction(const TransactionInfo& txn) = 0;
    // The relation was dropped: whatever the sink keeps for it can go.
    virtual void table_dropped(uint32_t /* relid */) {}
    // A watermark of an incremental snapshot (a non-transactional message under
    // kWatermarkPrefix), decoded at `lsn`, outside any transaction.
    virtual void watermark(std::string_view /* payload */, uint64_t /* lsn */) {}
};

}  // namespace bw
