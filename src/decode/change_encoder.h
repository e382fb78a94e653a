// Turns one decoded row change into encoded key and value bytes and hands it to the sink:
// an UPDATE that moves the key becomes a DELETE of the old key and an INSERT of the new row,
// and TOAST values the WAL omits are filled from the old row or marked as unchanged.
#pragma once

extern "C" {
#include "postgres.h"
#include "access/htup.h"
#include "utils/rel.h"
}

#include <memory>

#include "decode/table_schema.h"
#include "encode/row_writer.h"

namespace bw {

enum class OutputFormat { Avro, Json };

class ChangeEncoder {
public:
    explicit ChangeEncoder(OutputFormat format);

    // Tuples may be null where the WAL has none (the old row of most updates). Every value a
    // table holds has a branch in its schema, so every change can be encoded.
    void encode(ChangeOp op, Relation relation, TableSchema& table, HeapTuple old_tuple,
                HeapTuple new_tuple, ChangeSink& sink);
    // A TRUNCATE of the table: its key record with every field null (every key field is a
    // nullable union, and no row's key is all null but a whole-row key's all-null row, which
    // the truncate removed too), so that it decodes with the table's key schema and a compacted
    // topic takes it; no value. An unkeyed table's has a null key, as its other changes.
    void encode_truncate(Relation relation, const TableSchema& table, ChangeSink& sink);

    // A deformed tuple, palloc'd in the per-change memory context.
    struct Row {
        Datum* values = nullptr;
        bool* nulls = nullptr;
    };

private:
    static Row deform(Relation relation, HeapTuple tuple);
    void write_key(const TableSchema& table, const Row& row, RowWriter& writer);
    void write_value(TableSchema& table, const Row& row);
    void emit(ChangeOp op, const TableSchema& table, RowWriter* key, RowWriter* value,
              ChangeSink& sink);

    std::unique_ptr<RowWriter> key_writer_;
    std::unique_ptr<RowWriter> old_key_writer_;
    std::unique_ptr<RowWriter> value_writer_;
};

}  // namespace bw
