// The rows SQL consumers (pg_logical_slot_get_changes, pg_recvlogical) receive from the output
// plugin: transaction framing, table schemas and changes wrapped around the encoded key and value.
// JSON format: one JSON object a row. Avro format: one Avro binary record a row, of the schema
// envelope_schema_json() gives (also returned by SQL bw_envelope_schema()).
#pragma once

#include <string>

#include "encode/encoded_change.h"

namespace bw {

const char* envelope_schema_json();

class SqlEnvelope {
public:
    // `transaction_details`: whether rows carry xid, commit LSN and commit time (tests turn them
    // off to get stable output).
    SqlEnvelope(bool json, bool transaction_details)
        : json_(json), transaction_details_(transaction_details) {}

    bool json() const { return json_; }

    const std::string& begin(const TransactionInfo& txn);
    const std::string& commit(const TransactionInfo& txn);
    const std::string& schema(const TransactionInfo& txn, const TableDescription& table);
    const std::string& change(const TransactionInfo& txn, const EncodedChange& change);
    const std::string& truncate(const TransactionInfo& txn, const TableDescription& table);
    // Avro rows carry the topic in `table`.
    const std::string& outbox_message(const TransactionInfo& txn, const OutboxMessage& message);

private:
    enum class Op { Begin, Commit, Schema, Insert, Update, Delete, Truncate, Message };
    struct Row {
        Op op;
        const TransactionInfo* txn;
        const TableDescription* table = nullptr;
        bool with_schemas = false;
        const EncodedChange* change = nullptr;
        const OutboxMessage* message = nullptr;
    };
    const std::string& render(const Row& row);
    void render_json(const Row& row);
    void render_avro(const Row& row);

    bool json_;
    bool transaction_details_;
    std::string out_;
};

}  // namespace bw
