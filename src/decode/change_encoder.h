// Turns one decoded row change into its encoded key and rows and hands them to the envelope,
// which frames them into messages for the sink; an UPDATE that moves the key is told apart, and
// TOAST values the WAL omits are filled from the old row or marked as unchanged.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/htup.h"
#include "utils/rel.h"
}

#include <memory>

#include "decode/table_schema.h"
#include "encode/change_envelope.h"
#include "encode/row_writer.h"

namespace bw {

enum class OutputFormat { Avro, Json };

// The envelope's configuration in this database: the debezium envelope names its source after
// the topic prefix (bottledwater.topic_prefix without its trailing '.', else the database's
// name) and the database: `database`, or when empty this one's, which needs a transaction.
// `transaction_metadata`: see EnvelopeConfig.
EnvelopeConfig envelope_config(EnvelopeKind kind, OutputFormat format, bool json_schemas,
                               const std::string& topic_prefix, const std::string& database,
                               bool transaction_metadata = false);
TypeMapping type_mapping(EnvelopeKind kind);

class ChangeEncoder {
public:
    explicit ChangeEncoder(ChangeEnvelope& envelope);

    // Tuples may be null where the WAL has none (the old row of most updates). Every value a
    // table holds has a branch in its schema, so every change can be encoded. `lsn` is the
    // change's own position in the WAL.
    void encode(ChangeOp op, Relation relation, TableSchema& table, HeapTuple old_tuple,
                HeapTuple new_tuple, const TransactionInfo& txn, uint64_t lsn, ChangeSink& sink);
    // A TRUNCATE of the table: its key record with every field null (every key field is a
    // nullable union, and no row's key is all null but a whole-row key's all-null row, which
    // the truncate removed too), so that it decodes with the table's key schema and a compacted
    // topic takes it; no value. An unkeyed table's has a null key, as its other changes. Where
    // the envelope sends no truncates it is reported too, marked as sending no message.
    void encode_truncate(Relation relation, const TableSchema& table, uint64_t lsn,
                         ChangeSink& sink);

    // A deformed tuple, palloc'd in the per-change memory context.
    struct Row {
        Datum* values = nullptr;
        bool* nulls = nullptr;
    };

    // Writes a row as one value of the table's row record.
    static void write_row(TableSchema& table, const Row& row, RowWriter& writer);

private:
    static Row deform(Relation relation, HeapTuple tuple);
    void write_key(const TableSchema& table, const Row& row, RowWriter& writer);

    ChangeEnvelope& envelope_;
    std::unique_ptr<RowWriter> key_writer_;
    std::unique_ptr<RowWriter> old_key_writer_;
};

}  // namespace bw
