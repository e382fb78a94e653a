// Incremental snapshots, the stream side: a ChangeSink in front of the worker's sink that holds
// the chunk of a table just read, drops from it every key the stream changes before the chunk's
// watermark is decoded (the streamed change is newer), and at the watermark sends what is left
// as snapshot rows. Pure C++: it sees encoded keys and values only.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "encode/encoded_change.h"

namespace bw {

// The prefix of the worker's watermark messages (non-transactional logical decoding messages).
extern const char kWatermarkPrefix[];

// What identifies one chunk's watermark: the worker (its slot, so that other workers' watermarks
// are ignored, and its process) and the chunk's number in that process.
std::string watermark_payload(const std::string& worker, uint64_t chunk_number);

// The encoded rows of a chunk, keys and values end to end in one buffer: a chunk of thousands
// of rows costs a few allocations, not two per row.
class ChunkRows {
public:
    void add(std::string_view key, std::string_view value);
    size_t size() const { return rows_.size(); }
    bool empty() const { return rows_.empty(); }
    // The keys' and values' bytes.
    size_t bytes() const { return bytes_.size(); }
    // Views into the buffer: valid until the next add().
    std::string_view key(size_t i) const { return {bytes_.data() + rows_[i].at, rows_[i].key}; }
    std::string_view value(size_t i) const {
        return {bytes_.data() + rows_[i].at + rows_[i].key, rows_[i].value};
    }

private:
    struct Row {
        size_t at;  // the key's first byte, the value following it
        size_t key;
        size_t value;
    };
    std::string bytes_;
    std::vector<Row> rows_;
};

// One chunk as read: rows of one table in key order, encoded as the stream encodes them, and
// where the next chunk starts.
struct SnapshotChunk {
    uint32_t request = 0;  // the table that was asked for (a partition, for a partitioned one)
    TableDescription table;  // what the rows are sent as (the root, for a partition)
    ChunkRows rows;
    std::vector<std::string> next_position;  // the last key read, as text; empty: none read
    bool last = false;                       // the table has no rows past this chunk
    int64_t read_time_micros = 0;
};

// A chunk whose rows were handed to the sink at its watermark, waiting for Kafka.
struct SentChunk {
    uint32_t request = 0;
    uint64_t lsn = 0;  // the watermark's: acknowledged once the slot may confirm it
    int64_t rows_sent = 0;
    std::vector<std::string> next_position;
    bool last = false;
    bool discarded = false;  // the table's schema changed before the watermark: read it again
};

class ChunkReconciler final : public ChangeSink {
public:
    explicit ChunkReconciler(ChangeSink& stream) : stream_(stream) {}

    // Holds `chunk` until the watermark `payload` is decoded. One chunk at a time.
    void open(SnapshotChunk chunk, std::string payload);
    bool chunk_open() const { return open_.has_value(); }
    // The chunk is given up unsent (its table's snapshot was cancelled).
    void close_unsent() { open_.reset(); }

    // Chunks sent (or discarded) whose watermark is at or below `acknowledged_lsn`, oldest first.
    std::vector<SentChunk> take_acknowledged(uint64_t acknowledged_lsn);
    bool awaiting_acknowledgement() const { return !sent_.empty(); }
    // Whether a chunk of table `request` was sent and is not acknowledged yet.
    bool awaiting_acknowledgement(uint32_t request) const;

    void begin_transaction(const TransactionInfo& txn) override;
    void table_schema(const TableDescription& table) override;
    void change(const EncodedChange& change) override;
    void truncate(const EncodedChange& change) override;
    void outbox_message(const OutboxMessage& message) override;
    void commit_transaction(const TransactionInfo& txn) override;
    void table_dropped(uint32_t relid) override;
    void watermark(std::string_view payload, uint64_t lsn) override;

private:
    struct OpenChunk {
        SnapshotChunk chunk;
        std::string payload;
        // Row indexes by key, built when the stream first changes the table while the chunk is
        // held (most chunks see no change of their table); a key the stream changed is erased,
        // and its row is not sent.
        std::unordered_map<std::string_view, size_t> live;
        bool indexed = false;
        bool truncated = false;  // every row read is gone
        bool schema_changed = false;
    };
    void index_rows();
    bool concerns(uint32_t relid) const { return open_ && open_->chunk.table.relid == relid; }
    uint32_t stream_version(const TableDescription& table) const;

    // The schema version the stream last announced for each table, and a hash of its schema
    // texts: chunk rows are numbered as the stream numbers the same schema.
    struct Announced {
        uint32_t version;
        size_t schema_hash;
    };
    static size_t schema_hash(const TableDescription& table);

    ChangeSink& stream_;
    std::optional<OpenChunk> open_;
    std::deque<SentChunk> sent_;
    std::unordered_map<uint32_t, Announced> announced_;
};

}  // namespace bw
