// The stream side of incremental snapshots (see chunk_reconciler.h). Why dropping every key the
// stream changes between the read and the watermark is enough: a change committed before the
// chunk's snapshot is in the rows read (the reader makes sure no commit the stream has already
// seen is missing from that snapshot), and either decoded before the read, so sent before the
// chunk, or decoded after it, so its key is dropped; a change committed after the snapshot was
// taken and before the watermark was written is decoded before the watermark, so its key is
// dropped; one committed after the watermark is sent after the chunk. A chunk row therefore
// never reaches Kafka after a newer state of its key, and a deleted key is never sent again.
#include "snapshot/chunk_reconciler.h"

namespace bw {

const char kWatermarkPrefix[] = "bottledwater.watermark";

std::string watermark_payload(const std::string& worker, uint64_t chunk_number) {
    return worker + "/" + std::to_string(chunk_number);
}

void ChunkRows::add(std::string_view key, std::string_view value) {
    rows_.push_back(Row{bytes_.size(), key.size(), value.size()});
    bytes_.append(key);
    bytes_.append(value);
}

void ChunkReconciler::open(SnapshotChunk chunk, std::string payload) {
    open_.emplace();
    open_->chunk = std::move(chunk);
    open_->payload = std::move(payload);
}

// Views into the rows, which stay where they are until the chunk closes.
void ChunkReconciler::index_rows() {
    const ChunkRows& rows = open_->chunk.rows;
    open_->live.reserve(rows.size());
    for (size_t i = 0; i < rows.size(); i++) open_->live[rows.key(i)] = i;
    open_->indexed = true;
}

std::vector<SentChunk> ChunkReconciler::take_acknowledged(uint64_t acknowledged_lsn) {
    std::vector<SentChunk> done;
    while (!sent_.empty() && sent_.front().lsn <= acknowledged_lsn) {
        done.push_back(std::move(sent_.front()));
        sent_.pop_front();
    }
    return done;
}

bool ChunkReconciler::awaiting_acknowledgement(uint32_t request) const {
    for (const SentChunk& chunk : sent_)
        if (chunk.request == request) return true;
    return false;
}

void ChunkReconciler::begin_transaction(const TransactionInfo& txn) {
    stream_.begin_transaction(txn);
}

// A new schema version may encode the same key differently: the chunk is read again under it.
void ChunkReconciler::table_schema(const TableDescription& table) {
    if (concerns(table.relid)) open_->schema_changed = true;
    announced_[table.relid] = Announced{table.schema_version, schema_hash(table)};
    stream_.table_schema(table);
}

size_t ChunkReconciler::schema_hash(const TableDescription& table) {
    const std::hash<std::string> hash;
    return hash(table.key_schema_json) * 31 + hash(table.value_schema_json);
}

// The chunk's reader numbers every table 1, its schemas being new to it. The stream's number
// for the same schema texts is the one consumers see on its changes; a schema the stream has
// not announced yet (read after a DDL the stream has not met a change of the table since) is
// given the stream's next number, which is its number when the stream meets it next, unless
// another DDL comes between. A table the stream has not announced is 1, as the stream's first.
uint32_t ChunkReconciler::stream_version(const TableDescription& table) const {
    auto found = announced_.find(table.relid);
    if (found == announced_.end()) return table.schema_version;
    if (found->second.schema_hash == schema_hash(table)) return found->second.version;
    return found->second.version + 1;
}

void ChunkReconciler::change(const EncodedChange& change) {
    if (change.has_key && concerns(change.table->relid) && !open_->truncated) {
        if (!open_->indexed) index_rows();
        open_->live.erase(change.key);
    }
    stream_.change(change);
}

// Every row read is gone, or was replaced by rows the stream sends.
void ChunkReconciler::truncate(const EncodedChange& change) {
    if (concerns(change.table->relid)) {
        open_->truncated = true;
        open_->live.clear();
    }
    stream_.truncate(change);
}

void ChunkReconciler::outbox_message(const OutboxMessage& message) {
    stream_.outbox_message(message);
}

void ChunkReconciler::commit_transaction(const TransactionInfo& txn) {
    stream_.commit_transaction(txn);
}

void ChunkReconciler::table_dropped(uint32_t relid) {
    announced_.erase(relid);
    stream_.table_dropped(relid);
}

// The rows left are sent as one transaction of their own at the watermark's place in the WAL,
// in the order they were read.
void ChunkReconciler::watermark(std::string_view payload, uint64_t lsn) {
    if (!open_ || payload != open_->payload) return;
    SnapshotChunk& chunk = open_->chunk;
    chunk.table.schema_version = stream_version(chunk.table);
    SentChunk sent;
    sent.request = chunk.request;
    sent.lsn = lsn;
    sent.next_position = chunk.next_position;
    sent.last = chunk.last;
    sent.discarded = open_->schema_changed;
    const bool every_row_gone = open_->truncated || (open_->indexed && open_->live.empty());
    if (!sent.discarded && !every_row_gone) {
        TransactionInfo txn;
        txn.commit_lsn = lsn;
        txn.end_lsn = lsn;
        txn.commit_time_micros = chunk.read_time_micros;
        txn.snapshot = true;
        stream_.begin_transaction(txn);
        stream_.table_schema(chunk.table);
        for (size_t i = 0; i < chunk.rows.size(); i++) {
            if (open_->indexed) {
                auto found = open_->live.find(chunk.rows.key(i));
                if (found == open_->live.end() || found->second != i) continue;
            }
            EncodedChange change;
            change.op = ChangeOp::Insert;
            change.table = &chunk.table;
            change.has_key = true;
            change.key = chunk.rows.key(i);
            change.has_value = true;
            change.value = chunk.rows.value(i);
            stream_.change(change);
            sent.rows_sent++;
        }
        stream_.commit_transaction(txn);
    }
    sent_.push_back(std::move(sent));
    open_.reset();
}

}  // namespace bw
