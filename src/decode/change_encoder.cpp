// Row change → encoded key and value (see change_encoder.h).
#include "decode/change_encoder.h"

extern "C" {
#include "access/detoast.h"
#include "access/htup_details.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
}

#include "produce/topic_namer.h"

namespace bw {

EnvelopeConfig envelope_config(EnvelopeKind kind, OutputFormat format, bool json_schemas,
                               const std::string& topic_prefix, const std::string& database,
                               bool transaction_metadata) {
    EnvelopeConfig config;
    config.transaction_metadata = transaction_metadata;
    config.kind = kind;
    config.json = format == OutputFormat::Json;
    config.json_schemas = json_schemas;
    config.version = BW_VERSION;
    config.database = database;
    if (config.database.empty() && kind == EnvelopeKind::Debezium) {
        const char* name = get_database_name(MyDatabaseId);
        config.database = name ? name : "";
    }
    config.logical_name = debezium_logical_name(topic_prefix, config.database);
    return config;
}

TypeMapping type_mapping(EnvelopeKind kind) {
    return kind == EnvelopeKind::Debezium ? TypeMapping::Connect : TypeMapping::Avro;
}

ChangeEncoder::ChangeEncoder(ChangeEnvelope& envelope)
    : envelope_(envelope),
      key_writer_(envelope.make_writer()),
      old_key_writer_(envelope.make_writer()) {}

namespace {

// The change's rows, for the envelope to write where it places them.
class DecodedRows final : public RowImages {
public:
    DecodedRows(TableSchema& table, const ChangeEncoder::Row& old_row,
                const ChangeEncoder::Row& new_row)
        : table_(table), old_row_(old_row), new_row_(new_row) {}

    bool has_old_row() const override { return old_row_.values != nullptr; }
    void write_row(RowWriter& writer, bool old_row) const override {
        ChangeEncoder::write_row(table_, old_row ? old_row_ : new_row_, writer);
    }

private:
    TableSchema& table_;
    const ChangeEncoder::Row& old_row_;
    const ChangeEncoder::Row& new_row_;
};

}  // namespace

ChangeEncoder::Row ChangeEncoder::deform(Relation relation, HeapTuple tuple) {
    TupleDesc descriptor = RelationGetDescr(relation);
    Row row;
    row.values = (Datum*)palloc(descriptor->natts * sizeof(Datum));
    row.nulls = (bool*)palloc(descriptor->natts * sizeof(bool));
    heap_deform_tuple(tuple, descriptor, row.values, row.nulls);
    return row;
}

static bool is_unchanged_toast(const ColumnEncoding& column, const Datum* values,
                               const bool* nulls) {
    int i = column.attribute_index;
    return !nulls[i] && column.codec->is_varlena() &&
           VARATT_IS_EXTERNAL_ONDISK(DatumGetPointer(values[i]));
}

void ChangeEncoder::write_key(const TableSchema& table, const Row& row, RowWriter& writer) {
    for (size_t k : table.key_columns)
        if (is_unchanged_toast(table.columns[k], row.values, row.nulls))
            elog(ERROR, "bottledwater: the WAL holds no value for key column %d of table \"%s\"",
                 table.columns[k].attribute_index + 1, table.description.qualified_name.c_str());
    writer.reset();
    writer.begin_record(*table.key_record);
    for (size_t k = 0; k < table.key_columns.size(); k++) {
        const ColumnEncoding& column = table.columns[table.key_columns[k]];
        writer.field(table.key_record->fields[k]);
        column.codec->write(writer, row.values[column.attribute_index],
                            row.nulls[column.attribute_index], false, column.required);
    }
    writer.end_record();
}

// An UPDATE leaves TOAST values it did not change out of the new row, as pointers to out-of-line
// storage that decoding may no longer read (VACUUM may have removed it since). The old row holds
// them inline where it holds them at all: every column under REPLICA IDENTITY FULL, and the key
// columns otherwise, since PostgreSQL logs the old key of an UPDATE whenever it is out of line.
static void fill_from_old_row(const TableSchema& table, ChangeEncoder::Row& row,
                              const ChangeEncoder::Row& old_row) {
    for (const ColumnEncoding& column : table.columns) {
        int i = column.attribute_index;
        if (!(table.replica_identity_full || column.in_identity)) continue;
        if (!is_unchanged_toast(column, row.values, row.nulls)) continue;
        if (is_unchanged_toast(column, old_row.values, old_row.nulls)) continue;
        row.values[i] = old_row.values[i];
        row.nulls[i] = old_row.nulls[i];
    }
}

static void log_unchanged_toast(TableSchema& table, const char* sent_as) {
    if (table.unchanged_toast_logged) return;
    ereport(LOG, (errmsg("bottledwater: an UPDATE of table \"%s\" left a TOAST value unchanged; "
                         "it is sent as %s",
                         table.description.qualified_name.c_str(), sent_as),
                  errhint("ALTER TABLE %s REPLICA IDENTITY FULL to receive every value.",
                          table.description.qualified_name.c_str())));
    table.unchanged_toast_logged = true;
}

void ChangeEncoder::write_row(TableSchema& table, const Row& row, RowWriter& writer) {
    writer.begin_record(*table.value_record);
    for (size_t c = 0; c < table.columns.size(); c++) {
        const ColumnEncoding& column = table.columns[c];
        int i = column.attribute_index;
        writer.field(table.value_record->fields[c]);
        if (!is_unchanged_toast(column, row.values, row.nulls)) {
            column.codec->write(writer, row.values[i], row.nulls[i], column.may_be_unchanged_toast,
                                column.required);
        } else if (column.may_be_unchanged_toast && !column.in_identity) {
            column.codec->write_unchanged_toast(writer);
            log_unchanged_toast(table, "the unchanged_toast_value marker");
        } else if (table.mapping == TypeMapping::Connect && !column.in_identity) {
            column.codec->write_unavailable(writer, column.required);
            log_unchanged_toast(table, "Debezium's placeholder __debezium_unavailable_value");
        } else {
            elog(ERROR, "bottledwater: the WAL holds no value for column %d of table \"%s\"",
                 i + 1, table.description.qualified_name.c_str());
        }
    }
    writer.end_record();
}

void ChangeEncoder::encode_truncate(Relation relation, const TableSchema& table, uint64_t lsn,
                                    ChangeSink& sink) {
    EncodedChange change;
    change.op = ChangeOp::Truncate;
    change.table = &table.description;
    change.sends_message = envelope_.sends_truncate();
    // One the envelope skips is no event, but Debezium still opens its transaction's metadata.
    change.order = change.sends_message
                       ? envelope_.number_event(table.description.qualified_name, lsn)
                       : EventOrder{0, 0, lsn};
    if (change.sends_message && table.key_record) {
        const int columns = RelationGetDescr(relation)->natts;
        Row nulls;
        nulls.values = (Datum*)palloc0(columns * sizeof(Datum));
        nulls.nulls = (bool*)palloc(columns * sizeof(bool));
        memset(nulls.nulls, true, columns * sizeof(bool));
        write_key(table, nulls, *key_writer_);
        change.has_key = true;
        change.key = key_writer_->bytes();
    }
    sink.truncate(change);
}

void ChangeEncoder::encode(ChangeOp op, Relation relation, TableSchema& table, HeapTuple old_tuple,
                           HeapTuple new_tuple, const TransactionInfo& txn, uint64_t lsn,
                           ChangeSink& sink) {
    Row new_row, old_row;
    if (new_tuple) new_row = deform(relation, new_tuple);
    if (old_tuple) old_row = deform(relation, old_tuple);
    if (new_tuple && old_tuple) fill_from_old_row(table, new_row, old_row);
    ChangeOrigin origin;
    origin.table = &table.description;
    origin.txn = &txn;
    origin.lsn = lsn;
    origin.replica_identity_full = table.replica_identity_full;
    if (op == ChangeOp::Delete && !table.key_record) {
        // Without an identity nothing says which row went: consumers get the bare event.
        emit_change(sink, op, table.description, nullptr, nullptr,
                    envelope_.number_event(table.description.qualified_name, lsn));
        return;
    }
    const Row& key_row = op == ChangeOp::Delete ? old_row : new_row;
    if (!key_row.values) {
        elog(WARNING, "bottledwater: %s on table \"%s\" without row data in the WAL; skipped",
             change_op_name(op), table.description.qualified_name.c_str());
        return;
    }
    const DecodedRows rows(table, old_row, new_row);
    const std::string* key = nullptr;
    if (table.key_record) {
        write_key(table, key_row, *key_writer_);
        key = &key_writer_->bytes();
    }
    if (op == ChangeOp::Update && table.key_record && old_tuple) {
        write_key(table, old_row, *old_key_writer_);
        if (old_key_writer_->bytes() != *key) {
            envelope_.key_moved(origin, old_key_writer_->bytes(), *key, rows, sink);
            return;
        }
    }
    envelope_.change(op, origin, key, rows, sink);
}

}  // namespace bw
