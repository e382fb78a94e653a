// The worker's ChangeSink: each encoded change becomes one Kafka message on its table's topic,
// counted against its transaction in the producer's AckTracker (keyed by the commit's end LSN,
// the position a slot confirms). A full producer queue blocks decoding right here, in backoff,
// until Kafka drains it: that is the backpressure that keeps memory bounded.
#pragma once

#include <string>
#include <unordered_map>

#include "deliver/delivery.h"
#include "encode/encoded_change.h"
#include "encode/transaction_records.h"
#include "produce/capped_map.h"
#include "produce/event_headers.h"
#include "produce/kafka_sink.h"
#include "produce/topic_owners.h"
#include "registry/schema_registry_client.h"
#include "worker/worker_state.h"

namespace bw {

class KafkaChangeSink final : public ChangeSink {
public:
    // With a registry, keys and values are Avro binary: their schemas are registered under
    // `<topic>-key` and `<topic>-value` and each message carries the Confluent wire header.
    // Without one they are sent as the encoder made them (JSON).
    // Installs itself as the producer's judge of failed deliveries. `delivery` numbers the
    // transactions and may leave out one Kafka holds already (exactly-once after a restart).
    // With `transaction_records`, each captured transaction has a BEGIN and an END record on
    // `transaction_topic`, in its Kafka transaction, which no table's topic may be.
    KafkaChangeSink(KafkaSink& kafka, Delivery& delivery, WorkerState* state,
                    std::string topic_prefix, SchemaRegistryClient* registry,
                    TransactionRecords* transaction_records = nullptr,
                    std::string transaction_topic = "");

    // The exactly-once offsets topic, which every worker of the cluster reads: a table that
    // would write it is refused as two tables on one topic are.
    void reserve_offsets_topic(const std::string& topic);

    void begin_transaction(const TransactionInfo& txn) override;
    void table_schema(const TableDescription& table) override;
    void change(const EncodedChange& change) override;
    // On the table's topic like a change: its all-null key (framed with the key schema's id),
    // a null value, and the header bw.op = truncate whether or not message_headers is on. None
    // for a truncate the envelope sends no message for.
    void truncate(const EncodedChange& change) override;
    // To the topic bw_emit() named, with its key and value as given; a value the envelope gave
    // a schema is registry-framed (the debezium envelope's op "m" in Avro).
    void outbox_message(const OutboxMessage& message) override;
    // Opens the transaction's BEGIN, as Debezium does for the TRUNCATE it skips.
    void commit_transaction(const TransactionInfo& txn) override;
    void table_dropped(uint32_t relid) override;

    // Produces one message outside any decoded transaction's framing (the snapshot uses it with
    // its own AckTracker transaction).
    void produce(const EncodedChange& change, TxnId txn);

    uint64_t last_commit_lsn() const { return last_commit_lsn_; }
    // Changes given up under on_error = log since the worker started.
    uint64_t skipped() const { return skipped_; }

    // What the worker is doing (snapshot or streaming): the state shown again after a backoff.
    void set_active_phase(WorkerPhase phase) { active_phase_ = phase; }

    // Throws KafkaError when the producer can no longer be trusted to confirm anything: the
    // worker must exit and replay from the slot with a new producer.
    void check_health() const;

private:
    struct TableTopic {
        std::string topic;
        std::string table;            // qualified name, for messages
        std::string key_schema_json;  // to show an Avro key in messages
        int key_schema_id = -1;
        int value_schema_id = -1;
        // The registry refused this schema version and on_error = log: its changes are skipped
        // until the table's schema changes again.
        bool rejected = false;
    };
    const TableTopic& topic_of(const TableDescription& table);
    void register_schemas(const TableDescription& table, TableTopic& entry);
    // `table "s.t", key {...}`: how messages name one change (key as sent, framed or not).
    std::string describe_change(const TableTopic& table,
                                std::optional<std::string_view> key) const;
    // `source` is the table, or for an outbox message the topic, that on_error's warning names
    // with `skipped`; describe() names the message itself, called only when it is refused.
    enum class Skipped { OneChange, OneOutboxMessage, OneTransactionRecord, UntilSchemaChanges };
    template <typename Describe>
    void produce_or_refuse(std::string_view topic, const std::string& source, Skipped skipped,
                           std::optional<std::string_view> key,
                           std::optional<std::string_view> value, const MessageHeaders& headers,
                           TxnId txn, Describe describe);
    bool judge_failed_delivery(const DeliveryFailure& failure, std::string& reason);
    // Under on_error = log, warns and records the reason and returns true; under exit, false
    // (the caller rethrows and the worker stops). `skipped` says what is given up: one change,
    // one outbox message (then `table` is its topic), or every change of the table until its
    // schema changes.
    bool on_error_skips_table(const std::string& table, const std::string& reason,
                              Skipped skipped);
    // A numbered event of the transaction: BEGIN goes before the first, and it is counted for
    // END.
    void count_event(std::string_view collection, const EventOrder& order);
    const MessageHeaders& with_envelope_header(const MessageHeaders& headers,
                                               const EnvelopeHeader& header);
    void begin_transaction_record(uint64_t lsn);
    void produce_transaction_record(const TransactionRecords::Record& record, const char* op);
    // After each message handed to the producer: serves delivery reports now and then.
    void after_produced();
    void wait_for_queue_space();
    // ask() of the registry client, in backoff while the registry is unavailable.
    template <typename Ask>
    auto ask_registry(Ask ask);
    int register_schema(const std::string& subject, const std::string& schema_json);
    std::string latest_record_name(const std::string& subject);
    // The id to frame a registry-framed outbox value with; -1 when it is skipped (on_error).
    int outbox_value_schema_id(const std::string& topic, std::string_view schema_json);
    void leave_if_stop_requested();
    // Shows `backoff` with `reason` and sleeps; end_back_off() restores the working state.
    void back_off(const char* reason, long wait_ms);
    void end_back_off();

    KafkaSink& kafka_;
    Delivery& delivery_;
    WorkerState* state_;
    std::string topic_prefix_;
    SchemaRegistryClient* registry_;
    TransactionRecords* transaction_records_;
    std::string transaction_topic_;
    int transaction_key_schema_id_ = -1;
    int transaction_value_schema_id_ = -1;
    const TransactionInfo* txn_ = nullptr;  // the plugin's, valid until its commit
    std::unordered_map<uint32_t, TableTopic> topics_;  // by relation OID, this schema version
    TopicOwners owners_;
    // The schema id of each topic's registry-framed outbox messages, by topic bw_emit() names.
    CappedMap<std::string, int> outbox_value_ids_{1024};
    EventHeaders headers_;
    MessageHeaders envelope_headers_;
    bool in_snapshot_ = false;
    std::string framed_key_;
    std::string framed_value_;
    TxnId current_ = 0;
    bool current_skipped_ = false;  // Kafka holds the current transaction already
    uint64_t last_commit_lsn_ = 0;
    uint64_t since_poll_ = 0;
    uint64_t skipped_ = 0;
    bool backing_off_ = false;
    bool registry_was_down_ = false;
    int full_rounds_ = 0;
    WorkerPhase active_phase_ = WorkerPhase::Streaming;
};

}  // namespace bw
