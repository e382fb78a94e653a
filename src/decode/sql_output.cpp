// Output rows for SQL consumers (see sql_output.h).
#include "decode/sql_output.h"

extern "C" {
#include "lib/stringinfo.h"
#include "replication/output_plugin.h"
}

namespace bw {

void SqlOutput::write_row(const std::string& row, bool last) {
    OutputPluginPrepareWrite(ctx_, last);
    appendBinaryStringInfo(ctx_->out, row.data(), static_cast<int>(row.size()));
    OutputPluginWrite(ctx_, last);
}

void SqlOutput::write_begin_once() {
    if (begin_written_) return;
    write_row(envelope_.begin(*txn_), false);
    begin_written_ = true;
}

void SqlOutput::begin_transaction(const TransactionInfo& txn) {
    txn_ = &txn;
    begin_written_ = false;
}

void SqlOutput::table_schema(const TableDescription& table) {
    if (envelope_.json()) return;  // JSON rows carry no schemas; Avro readers need them
    write_begin_once();
    write_row(envelope_.schema(*txn_, table), false);
}

void SqlOutput::change(const EncodedChange& change) {
    write_begin_once();
    write_row(envelope_.change(*txn_, change), false);
}

// The SQL envelope's truncate row names the table; the null key is for Kafka's compacted topics.
void SqlOutput::truncate(const EncodedChange& change) {
    if (!change.sends_message) return;
    write_begin_once();
    write_row(envelope_.truncate(*txn_, *change.table), false);
}

void SqlOutput::outbox_message(const OutboxMessage& message) {
    write_begin_once();
    write_row(envelope_.outbox_message(*txn_, message), false);
}

void SqlOutput::commit_transaction(const TransactionInfo& txn) {
    if (begin_written_) write_row(envelope_.commit(txn), true);
    begin_written_ = false;
}

}  // namespace bw
