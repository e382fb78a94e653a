// Encode phase: the records of the transaction topic, as Debezium's provide.transaction.metadata
// writes them. Per captured transaction a BEGIN before its first event and an END after its last:
// key {id}, value {status, id, event_count, data_collections: [{data_collection, event_count}],
// ts_ms}, in the envelope's format (Avro for the registry, Avro JSON, or Kafka Connect's JSON
// with or without schemas). Also keeps the transaction's event counts for its END.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "encode/change_envelope.h"

namespace bw {

class TransactionRecords {
public:
    explicit TransactionRecords(const EnvelopeConfig& config);

    // What the registry holds for the topic's subjects (Avro), or "" (JSON).
    const std::string& key_schema_json() const { return key_schema_json_; }
    const std::string& value_schema_json() const { return value_schema_json_; }

    // Forgets the counts of the transaction before.
    void begin_transaction();
    // Whether the transaction's BEGIN has been made: before its first event, or its first
    // captured change that sends nothing (Debezium's BEGIN of a TRUNCATE it skips).
    bool begun() const { return begun_; }
    // One numbered event of `collection` (a table's schema.table, or kOutboxCollection).
    void count(std::string_view collection, const EventOrder& order);

    struct Record {
        const std::string& key;
        const std::string& value;
    };
    // Valid until the next call. BEGIN's id names the position of the first change (`lsn`),
    // END's the commit's end, as Debezium's ids do.
    Record begin_record(const TransactionInfo& txn, uint64_t lsn);
    Record end_record(const TransactionInfo& txn);

private:
    Record record(const char* status, const std::string& id, const TransactionInfo& txn,
                  bool with_counts);
    const std::string& framed(const std::string& schema, const std::string& payload,
                              std::string& buffer) const;

    bool connect_framing_;
    AvroTypePtr key_type_;
    AvroTypePtr value_type_;
    std::string key_schema_json_;
    std::string value_schema_json_;
    std::string connect_key_schema_;
    std::string connect_value_schema_;
    std::unique_ptr<RowWriter> key_writer_;
    std::unique_ptr<RowWriter> value_writer_;
    std::string framed_key_;
    std::string framed_value_;
    bool begun_ = false;
    uint64_t total_ = 0;
    // In the order each collection first appears in the transaction.
    std::vector<std::pair<std::string, uint64_t>> counts_;
    std::unordered_map<std::string, size_t> index_;
};

}  // namespace bw
