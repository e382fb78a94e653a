// Encode phase: the envelope, i.e. what the messages of one row change look like. The decoder
// supplies the key and the rows (RowImages); an envelope frames them into messages for the sink:
// `row` (each row as its own record, the original format) or `debezium` (what Debezium's
// PostgreSQL connector writes). One interface, so the decoder's walk over the rows is shared.
#pragma once

#include <memory>
#include <string>

#include "encode/encoded_change.h"
#include "encode/outbox_payload.h"
#include "encode/row_writer.h"
#include "schema/avro_schema.h"

namespace bw {

// The rows of the change being framed, written on demand into the envelope's writer.
class RowImages {
public:
    virtual ~RowImages() = default;
    // The old row, where the WAL has one (every column under REPLICA IDENTITY FULL, the key
    // columns otherwise; nulls stand for what it lacks).
    virtual bool has_old_row() const = 0;
    // Writes the old or the new row as one value of the table's row record.
    virtual void write_row(RowWriter& writer, bool old_row) const = 0;
};

// Where the change comes from: what an envelope that describes its source needs.
struct ChangeOrigin {
    const TableDescription* table = nullptr;
    const TransactionInfo* txn = nullptr;
    uint64_t lsn = 0;  // of the change's WAL record; the snapshot's position for its rows
    bool replica_identity_full = false;
};

enum class EnvelopeKind { Row, Debezium };

struct EnvelopeConfig {
    EnvelopeKind kind = EnvelopeKind::Row;
    bool json = false;          // JSON text, else Avro binary
    bool json_schemas = true;   // debezium JSON: {"schema": ..., "payload": ...}
    std::string logical_name;   // debezium: the topic prefix, source.name
    std::string database;       // debezium: source.db
    std::string version;        // debezium: source.version, bottledwater's
    // Number each transaction's events (the transaction topic is on): the debezium envelope
    // fills each event's `transaction` block, the sink counts them and writes BEGIN and END.
    bool transaction_metadata = false;
};

class ChangeEnvelope {
public:
    explicit ChangeEnvelope(bool transaction_metadata) : order_(transaction_metadata) {}
    virtual ~ChangeEnvelope() = default;

    // Each transaction's events are numbered from 1 again.
    void begin_transaction(const TransactionInfo& txn) { order_.begin(txn); }
    // The next event's place in its transaction, for a message framed outside the envelope.
    EventOrder number_event(std::string_view collection, uint64_t lsn) {
        return order_.next(collection, lsn);
    }

    // A writer of the envelope's format, for the keys and rows the decoder writes.
    virtual std::unique_ptr<RowWriter> make_writer() const = 0;

    // Sets the table's key and value schema texts (what is registered or shipped) from its key
    // record (null: no identity) and row record.
    virtual void describe(TableDescription& table, const AvroTypePtr& key_record,
                          const AvroTypePtr& row_record) const = 0;

    // One insert, update or delete; `key` is the encoded key, null for a table without one.
    virtual void change(ChangeOp op, const ChangeOrigin& origin, const std::string* key,
                        const RowImages& rows, ChangeSink& sink) = 0;

    // An update that moved the row's key: the old key's end, then the row under its new key.
    virtual void key_moved(const ChangeOrigin& origin, const std::string& old_key,
                           const std::string& new_key, const RowImages& rows,
                           ChangeSink& sink) = 0;

    // Whether a TRUNCATE becomes a message (the decoder frames it: see encode_truncate).
    virtual bool sends_truncate() const = 0;

    // A bw_emit() of the transaction `txn`, decoded at `lsn`: as the envelope frames it.
    virtual void outbox_message(OutboxMessage message, const TransactionInfo& txn, uint64_t lsn,
                                ChangeSink& sink) = 0;

protected:
    TransactionOrder order_;
};

std::unique_ptr<ChangeEnvelope> make_envelope(const EnvelopeConfig& config);

// Hands one message to the sink: a key (or none) and a value (or none, a tombstone), with its
// place in the transaction (unnumbered for a tombstone that follows an event).
void emit_change(ChangeSink& sink, ChangeOp op, const TableDescription& table,
                 const std::string* key, const std::string* value, EventOrder order,
                 EnvelopeHeader header = EnvelopeHeader());

}  // namespace bw
