// Rendering of the SQL consumers' rows (see sql_envelope.h).
#include "encode/sql_envelope.h"

#include <cinttypes>
#include <cstdio>

#include "encode/avro_binary_writer.h"
#include "encode/json_text.h"
#include "encode/outbox_payload.h"

namespace bw {

static const char* const kOpNames[] = {"begin",  "commit", "schema",  "insert",
                                       "update", "delete", "truncate", "message"};

const char* envelope_schema_json() {
    return R"({"type":"record","name":"bottledwater.Envelope","fields":[)"
           R"({"name":"op","type":{"type":"enum","name":"bottledwater.Operation","symbols":)"
           R"(["begin","commit","schema","insert","update","delete","truncate","message"]}},)"
           R"({"name":"xid","type":"long"},)"
           R"({"name":"lsn","type":"long"},)"
           R"({"name":"commit_time_micros","type":"long"},)"
           R"({"name":"table","type":["null","string"]},)"
           R"({"name":"key_schema","type":["null","string"]},)"
           R"({"name":"value_schema","type":["null","string"]},)"
           R"({"name":"key","type":["null","bytes"]},)"
           R"({"name":"value","type":["null","bytes"]}]})";
}

const std::string& SqlEnvelope::begin(const TransactionInfo& txn) {
    return render({Op::Begin, &txn});
}

const std::string& SqlEnvelope::commit(const TransactionInfo& txn) {
    return render({Op::Commit, &txn});
}

const std::string& SqlEnvelope::schema(const TransactionInfo& txn, const TableDescription& table) {
    return render({Op::Schema, &txn, &table, true});
}

const std::string& SqlEnvelope::change(const TransactionInfo& txn, const EncodedChange& change) {
    Op op = change.op == ChangeOp::Insert   ? Op::Insert
            : change.op == ChangeOp::Update ? Op::Update
                                            : Op::Delete;
    return render({op, &txn, change.table, false, &change});
}

const std::string& SqlEnvelope::truncate(const TransactionInfo& txn,
                                         const TableDescription& table) {
    return render({Op::Truncate, &txn, &table});
}

const std::string& SqlEnvelope::outbox_message(const TransactionInfo& txn,
                                               const OutboxMessage& message) {
    Row row{Op::Message, &txn};
    row.message = &message;
    return render(row);
}

const std::string& SqlEnvelope::render(const Row& row) {
    out_.clear();
    if (json_)
        render_json(row);
    else
        render_avro(row);
    return out_;
}

void SqlEnvelope::render_json(const Row& row) {
    out_ += R"({"op": ")";
    out_ += kOpNames[static_cast<int>(row.op)];
    out_ += '"';
    bool framing = row.op == Op::Begin || row.op == Op::Commit;
    if (framing && transaction_details_) {
        char details[128];
        std::snprintf(details, sizeof details,
                      R"(, "xid": %u, "lsn": "%X/%X", "commit_time_micros": %)" PRId64,
                      row.txn->xid, static_cast<unsigned>(row.txn->end_lsn >> 32),
                      static_cast<unsigned>(row.txn->end_lsn), row.txn->commit_time_micros);
        out_ += details;
    }
    if (row.table) {
        out_ += R"(, "table": )";
        append_json_string(out_, row.table->qualified_name);
    }
    if (row.change) {
        out_ += R"(, "key": )";
        if (row.change->has_key)
            out_ += row.change->key;
        else
            out_ += "null";
        out_ += R"(, "value": )";
        if (row.change->has_value)
            out_ += row.change->value;
        else
            out_ += "null";
    }
    if (row.message) {
        // The bytes shown as text: the Avro form carries binary keys and values exactly.
        auto text_or_null = [this](std::optional<std::string_view> part) {
            if (part)
                append_json_string(out_, *part);
            else
                out_ += "null";
        };
        out_ += R"(, "topic": )";
        append_json_string(out_, row.message->topic);
        out_ += R"(, "key": )";
        text_or_null(row.message->key);
        out_ += R"(, "value": )";
        text_or_null(row.message->value);
    }
    out_ += '}';
}

void SqlEnvelope::render_avro(const Row& row) {
    AvroBinaryWriter writer;
    auto optional = [&writer](bool present, std::string_view bytes) {
        writer.write_long(present ? 1 : 0);  // union branch: null or the value
        if (present) writer.write_bytes(bytes.data(), bytes.size());
    };
    writer.write_int(static_cast<int>(row.op));
    writer.write_long(transaction_details_ ? row.txn->xid : 0);
    writer.write_long(transaction_details_ ? static_cast<int64_t>(row.txn->end_lsn) : 0);
    writer.write_long(transaction_details_ ? row.txn->commit_time_micros : 0);
    if (row.message)
        optional(true, row.message->topic);
    else
        optional(row.table != nullptr, row.table ? row.table->qualified_name : std::string_view());
    bool key_schema = row.with_schemas && !row.table->key_schema_json.empty();
    optional(key_schema, key_schema ? row.table->key_schema_json : std::string_view());
    optional(row.with_schemas,
             row.with_schemas ? row.table->value_schema_json : std::string_view());
    if (row.message) {
        optional(row.message->key.has_value(), row.message->key.value_or(std::string_view()));
        optional(row.message->value.has_value(), row.message->value.value_or(std::string_view()));
    } else {
        optional(row.change && row.change->has_key,
                 row.change ? row.change->key : std::string_view());
        optional(row.change && row.change->has_value,
                 row.change ? row.change->value : std::string_view());
    }
    out_ = writer.bytes();
}

}  // namespace bw
