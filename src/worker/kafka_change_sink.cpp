// The worker's ChangeSink (see kafka_change_sink.h). Runs inside the output plugin's callbacks,
// under its guard_cpp: exceptions become an ERROR, and the worker restarts from the slot.
#include "worker/kafka_change_sink.h"

extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/syscache.h"
}

#include "encode/avro_binary_text.h"
#include "encode/debezium_envelope.h"
#include "encode/outbox_payload.h"
#include "encode/row_buffer.h"
#include "pg_boundary.h"
#include "produce/topic_namer.h"
#include "registry/wire_format.h"
#include "worker/settings.h"
#include "worker/worker_lifecycle.h"

namespace bw {

// bottledwater.message_headers off: messages carry no record headers (see README for their cost).
static const MessageHeaders kNoHeaders;
// A truncate is told from a tombstone by this header alone, so it always has it.
static const MessageHeaders kTruncateHeader = {{"bw.op", "truncate"}};

namespace {

// Delivery reports are served at least this often inside a large transaction.
constexpr uint64_t kPollEveryMessages = 1000;
// How long an unreachable schema registry is left alone before the next try.
constexpr long kRegistryRetryMs = 1000;
// About two seconds of a full queue (rounds of up to 100 ms) before it counts as backoff.
constexpr int kQuietFullRounds = 20;
// Owners in TopicOwners of the topics that are no table's: below any relation's OID.
constexpr uint32_t kTransactionTopicOwner = 0;
constexpr uint32_t kOffsetsTopicOwner = 1;
constexpr bool is_relation(uint32_t owner) {
    return owner > kOffsetsTopicOwner;
}
// How much of a key a message shows.
constexpr size_t kKeyShownBytes = 200;

const char kOwnTopicHint[] =
    "Each table needs a topic of its own: rename one of the tables, or stream them from "
    "databases with different bottledwater.topic_prefix values; the transaction topic "
    "(bottledwater.transaction_topic), the offsets topic (bottledwater.offsets_topic) and the "
    "topics bw_emit() writes under the debezium envelope in Avro are no table's either.";

const char kRaiseLimitsHint[] =
    "Raise message.max.bytes in bottledwater.kafka_config, together with the broker's "
    "message.max.bytes and the topic's max.message.bytes, or set bottledwater.on_error = log "
    "to skip such changes.";

// Cut at a UTF-8 character boundary, and said so.
std::string shortened(std::string text) {
    if (text.size() <= kKeyShownBytes) return text;
    size_t cut = kKeyShownBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) cut--;
    const size_t full = text.size();
    text.resize(cut);
    return text + "... (" + std::to_string(full) + " bytes)";
}

}  // namespace

KafkaChangeSink::KafkaChangeSink(KafkaSink& kafka, Delivery& delivery, WorkerState* state,
                                 std::string topic_prefix, SchemaRegistryClient* registry,
                                 TransactionRecords* transaction_records,
                                 std::string transaction_topic)
    : kafka_(kafka), delivery_(delivery), state_(state), topic_prefix_(std::move(topic_prefix)),
      registry_(registry), transaction_records_(transaction_records),
      transaction_topic_(std::move(transaction_topic)) {
    kafka_.set_failure_judge([this](const DeliveryFailure& failure, std::string& reason) {
        return judge_failed_delivery(failure, reason);
    });
    if (transaction_records_ != nullptr)
        owners_.claim(kTransactionTopicOwner, "the transaction topic", transaction_topic_);
}

void KafkaChangeSink::reserve_offsets_topic(const std::string& topic) {
    owners_.claim(kOffsetsTopicOwner, "the offsets topic", topic);
}

void KafkaChangeSink::begin_transaction(const TransactionInfo& txn) {
    const std::optional<TxnId> id = delivery_.begin_transaction(txn.end_lsn);
    current_skipped_ = !id;
    current_ = id.value_or(0);
    headers_.begin_transaction(txn);
    in_snapshot_ = txn.snapshot;
    txn_ = &txn;
    if (transaction_records_ != nullptr) transaction_records_->begin_transaction();
}

void KafkaChangeSink::table_schema(const TableDescription& table) {
    topics_.erase(table.relid);
}

// Under table churn every per-relation cache would otherwise grow without bound: the topic's
// entry, its owner, the producer's topic handle and the registry ids of its subjects go.
void KafkaChangeSink::table_dropped(uint32_t relid) {
    topics_.erase(relid);
    const std::optional<std::string> topic = owners_.release(relid);
    if (!topic) return;
    kafka_.forget_topic(*topic);
    if (registry_ != nullptr) {
        registry_->forget_subject(*topic + "-key");
        registry_->forget_subject(*topic + "-value");
    }
}

// Registered when a table is first seen at a schema version (table_schema() forgets the old
// one); the registry client answers repeated registrations from memory. Keyed by relation, so
// two tables whose names look alike never share an entry; a second table for one topic is an
// error, never rows of two tables in one topic.
const KafkaChangeSink::TableTopic& KafkaChangeSink::topic_of(const TableDescription& table) {
    auto found = topics_.find(table.relid);
    if (found != topics_.end()) return found->second;
    TableTopic entry;
    entry.topic =
        envelope_topic(topic_prefix_.c_str(), state_->dbname, table.schema_name, table.table_name);
    entry.table = table.qualified_name;
    entry.key_schema_json = table.key_schema_json;
    // A table dropped and created again under its name: the old relation's claim is stale, and
    // the sweep of dropped relations may not have come round to it yet.
    const TopicOwner* rival = owners_.rival(table.relid, entry.topic);
    if (rival != nullptr && is_relation(rival->relid) &&
        !SearchSysCacheExists1(RELOID, ObjectIdGetDatum(rival->relid)))
        table_dropped(rival->relid);
    try {
        owners_.claim(table.relid, table.qualified_name, entry.topic);
    } catch (const TopicCollision& e) {
        throw ReportableError(ERRCODE_DUPLICATE_OBJECT, std::string("bottledwater: ") + e.what(),
                              "", kOwnTopicHint);
    }
    if (registry_ != nullptr) register_schemas(table, entry);
    return topics_.emplace(table.relid, std::move(entry)).first->second;
}

std::string KafkaChangeSink::describe_change(const TableTopic& table,
                                             std::optional<std::string_view> key) const {
    std::string text = "table \"" + table.table + "\", ";
    if (!key) return text + "null key";
    if (registry_ == nullptr) return text + "key " + shortened(std::string(*key));
    try {
        return text + "key " +
               shortened(avro_binary_as_json(table.key_schema_json,
                                             key->substr(std::min<size_t>(key->size(), 5))));
    } catch (const std::exception& e) {
        return text + "key of " + std::to_string(key->size()) + " bytes (" + e.what() + ")";
    }
}

// Called from inside poll() (see KafkaSink::FailureJudge), so it must not throw. Only a refusal
// that concerns the one message is given up, under on_error = log: a null key on a compacted
// topic (every message of that table's topic has one, so the batch Kafka refused holds no other
// table's changes). A batch too large for the topic may hold good changes with the big one, so it
// always stops the worker, with what to configure.
bool KafkaChangeSink::judge_failed_delivery(const DeliveryFailure& failure, std::string& reason) {
    const TopicOwner* owner = owners_.owner_of(failure.topic);
    const auto entry = owner ? topics_.find(owner->relid) : topics_.end();
    // The table may have been dropped since, and forgotten: then the topic must do.
    const std::string what =
        "Kafka cannot take " +
        (entry != topics_.end()
             ? "the change of " + describe_change(entry->second, failure.key)
             : "a change on topic \"" + std::string(failure.topic) +
                   "\" of a table since dropped") +
        ": ";
    if (failure.error == RD_KAFKA_RESP_ERR_INVALID_RECORD && !failure.key) {
        reason = what + "topic \"" + std::string(failure.topic) + "\" refused it (" +
                 rd_kafka_err2str(failure.error) +
                 "): a topic with cleanup.policy=compact takes no message without a key; give "
                 "the table a primary key or use a topic with cleanup.policy=delete";
        if (owner == nullptr || !on_error_skips_table(owner->table, reason, Skipped::OneChange))
            return false;
        ++skipped_;
        return true;
    }
    if (failure.error == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        reason = what + "topic \"" + std::string(failure.topic) +
                 "\" refused its batch as too large (" + rd_kafka_err2str(failure.error) +
                 "): keep message.max.bytes in bottledwater.kafka_config at or below the "
                 "topic's max.message.bytes and the broker's message.max.bytes";
        return false;
    }
    reason = what + reason;
    return false;
}

// A schema the registry rejects (incompatible under the subject's rule, not valid) is rejected
// again on replay: under on_error = exit the worker stops on it; under log the table's changes
// at this schema version are given up. Any other refusal (credentials, a wrong URL, a proxy)
// says nothing about the schema and would skip every table, so RegistryRefused always stops
// the worker.
void KafkaChangeSink::register_schemas(const TableDescription& table, TableTopic& entry) {
    const std::string value_subject = entry.topic + "-value";
    if (latest_record_name(value_subject) == kMessageValueRecord)
        throw ReportableError(ERRCODE_DUPLICATE_OBJECT,
                              "bottledwater: table \"" + table.qualified_name +
                                  "\" would be written to topic \"" + entry.topic +
                                  "\", whose subject \"" + value_subject +
                                  "\" holds the outbox messages bw_emit() wrote there",
                              "", kOwnTopicHint);
    try {
        if (!table.key_schema_json.empty())
            entry.key_schema_id = register_schema(entry.topic + "-key", table.key_schema_json);
        entry.value_schema_id = register_schema(value_subject, table.value_schema_json);
    } catch (const SchemaRejected& e) {
        if (!on_error_skips_table(table.qualified_name, e.what(), Skipped::UntilSchemaChanges))
            throw;
        entry.rejected = true;
    }
}

bool KafkaChangeSink::on_error_skips_table(const std::string& table, const std::string& reason,
                                           Skipped skipped) {
    if (static_cast<OnError>(setting_on_error) == OnError::Exit) return false;
    report_worker_error(state_, reason.c_str());
    ereport(WARNING, (errmsg(skipped == Skipped::OneChange
                                 ? "bottledwater: skipping a change of table \"%s\": %s"
                             : skipped == Skipped::OneOutboxMessage
                                 ? "bottledwater: skipping an outbox message to topic \"%s\": %s"
                             : skipped == Skipped::OneTransactionRecord
                                 ? "bottledwater: skipping a record of transaction topic \"%s\": "
                                   "%s"
                                 : "bottledwater: skipping the changes of table \"%s\" until "
                                   "its schema changes: %s",
                             table.c_str(), reason.c_str()),
                      errhint("bottledwater.on_error = log gives up what cannot be sent; "
                              "bw_status() counts it in messages_skipped.")));
    return true;
}

// An unreachable or failing registry (connection refused, timeout, 5xx) holds decoding in
// backoff until it answers; any other answer (a schema it rejects) is the caller's.
template <typename Ask>
auto KafkaChangeSink::ask_registry(Ask ask) {
    for (;;) {
        char failure[512] = "";
        std::optional<decltype(ask())> answer;
        try {
            answer = ask();
        } catch (const RegistryUnavailable& e) {
            strlcpy(failure, e.what(), sizeof failure);
        }
        if (answer) {
            end_back_off();
            if (registry_was_down_) {
                // The registry may have lost what it held while it was away (an in-memory one,
                // one restored from a backup): every other table asks for its ids again.
                registry_->forget();
                topics_.clear();
                outbox_value_ids_.clear();
                transaction_key_schema_id_ = transaction_value_schema_id_ = -1;
                registry_was_down_ = false;
            }
            return std::move(*answer);
        }
        registry_was_down_ = true;
        kafka_.poll(0);  // keep serving delivery reports while waiting
        check_health();
        leave_if_stop_requested();
        back_off(failure, kRegistryRetryMs);
    }
}

int KafkaChangeSink::register_schema(const std::string& subject, const std::string& schema_json) {
    return ask_registry([&] { return registry_->register_schema(subject, schema_json); });
}

std::string KafkaChangeSink::latest_record_name(const std::string& subject) {
    return ask_registry([&] { return registry_->latest_record_name(subject); });
}

void KafkaChangeSink::change(const EncodedChange& change) {
    produce(change, current_);
}

void KafkaChangeSink::produce(const EncodedChange& change, TxnId txn) {
    if (current_skipped_) return;  // Kafka holds this transaction already
    const TableTopic& table = topic_of(*change.table);
    count_event(change.table->qualified_name, change.order);
    // Numbered before a skip, so a consumer sees the gap.
    const MessageHeaders& headers =
        setting_message_headers
            ? headers_.next(in_snapshot_ ? "snapshot" : change_op_name(change.op),
                            change.table->qualified_name, change.table->schema_version,
                            change.order)
        : change.op == ChangeOp::Truncate ? kTruncateHeader
                                          : kNoHeaders;
    const MessageHeaders& all_headers = with_envelope_header(headers, change.header);
    if (table.rejected) {
        ++skipped_;
        return;
    }
    std::optional<std::string_view> key;
    std::optional<std::string_view> value;
    if (change.has_key) {
        key = change.key;
        if (registry_ != nullptr) {
            confluent_frame_into(framed_key_, table.key_schema_id, *key);
            key = framed_key_;
        }
    }
    if (change.has_value) {
        value = change.value;
        if (registry_ != nullptr) {
            confluent_frame_into(framed_value_, table.value_schema_id, *value);
            value = framed_value_;
        }
    }
    produce_or_refuse(table.topic, table.table, Skipped::OneChange, key, value, all_headers, txn,
                      [&] { return "the change of " + describe_change(table, key); });
    clear_row_buffer(framed_key_);
    clear_row_buffer(framed_value_);
    after_produced();
}

// The envelope's own header (a debezium key change's other key) is sent whatever
// message_headers says, as Debezium sends it.
const MessageHeaders& KafkaChangeSink::with_envelope_header(const MessageHeaders& headers,
                                                            const EnvelopeHeader& header) {
    if (header.name == nullptr) return headers;
    envelope_headers_ = headers;
    envelope_headers_.push_back({header.name, header.value});
    return envelope_headers_;
}

// Counted before a skip too: END then says what the consumer misses.
void KafkaChangeSink::count_event(std::string_view collection, const EventOrder& order) {
    if (transaction_records_ == nullptr || !order.numbered()) return;
    begin_transaction_record(order.lsn);
    transaction_records_->count(collection, order);
}

void KafkaChangeSink::begin_transaction_record(uint64_t lsn) {
    if (transaction_records_->begun()) return;
    produce_transaction_record(transaction_records_->begin_record(*txn_, lsn), "begin");
}

// On the transaction topic, in the transaction's Kafka transaction (exactly-once) and counted
// against its commit LSN like its events, so the slot waits for these records too.
void KafkaChangeSink::produce_transaction_record(const TransactionRecords::Record& record,
                                                 const char* op) {
    std::string_view key = record.key;
    std::string_view value = record.value;
    if (registry_ != nullptr) {
        if (transaction_key_schema_id_ < 0 || transaction_value_schema_id_ < 0) {
            transaction_key_schema_id_ = register_schema(
                transaction_topic_ + "-key", transaction_records_->key_schema_json());
            transaction_value_schema_id_ = register_schema(
                transaction_topic_ + "-value", transaction_records_->value_schema_json());
        }
        confluent_frame_into(framed_key_, transaction_key_schema_id_, key);
        confluent_frame_into(framed_value_, transaction_value_schema_id_, value);
        key = framed_key_;
        value = framed_value_;
    }
    const MessageHeaders& headers =
        setting_message_headers ? headers_.transaction_record(op) : kNoHeaders;
    produce_or_refuse(transaction_topic_, transaction_topic_, Skipped::OneTransactionRecord, key,
                      value, headers, current_, [&] {
        return std::string("the ") + op + " record of transaction " +
               std::to_string(txn_->xid) + " on topic \"" + transaction_topic_ + "\"";
    });
    clear_row_buffer(framed_key_);
    clear_row_buffer(framed_value_);
    after_produced();
}

void KafkaChangeSink::after_produced() {
    full_rounds_ = 0;
    end_back_off();
    if (++since_poll_ >= kPollEveryMessages) {
        since_poll_ = 0;
        kafka_.poll(0);
        check_health();
    }
}

// A message Kafka cannot take as it stands is named by table and key, and follows on_error:
// replaying would meet it again.
template <typename Describe>
void KafkaChangeSink::produce_or_refuse(std::string_view topic, const std::string& source,
                                        Skipped skipped,
                                        std::optional<std::string_view> key,
                                        std::optional<std::string_view> value,
                                        const MessageHeaders& headers, TxnId txn,
                                        Describe describe) {
    for (;;) {
        ProduceResult result;
        try {
            result = kafka_.produce(topic, key, value, txn, headers);
        } catch (const MessageRefused& e) {
            const std::string reason = "Kafka cannot take " + describe() + ": " + e.what();
            if (!on_error_skips_table(source, reason, skipped))
                throw ReportableError(ERRCODE_PROGRAM_LIMIT_EXCEEDED, "bottledwater: " + reason, "",
                                      kRaiseLimitsHint);
            ++skipped_;
            return;
        }
        if (result == ProduceResult::Queued) return;
        wait_for_queue_space();
    }
}

// One round of waiting for room in the producer queue; decoding stops while the caller repeats
// it. A queue that is full only because a large transaction outpaces Kafka drains within a few
// rounds and is not worth a state change; a broker error or a queue that stays full is shown as
// backoff. A stop request is honoured at once: whatever is unacknowledged is replayed from the
// slot by the next start.
void KafkaChangeSink::wait_for_queue_space() {
    kafka_.poll(100);  // returns as soon as delivery reports free some room
    check_health();
    leave_if_stop_requested();
    const std::string& error = kafka_.last_error();
    if (error.empty() && ++full_rounds_ < kQuietFullRounds) return;
    back_off(error.empty() ? "producer queue full; waiting for Kafka to acknowledge"
                           : error.c_str(),
             setting_poll_interval_ms);
}

void KafkaChangeSink::leave_if_stop_requested() {
    exit_if_postmaster_died();
    if (!stop_requested()) return;
    // XXX proc_exit from inside the decoder's C++ frames: nothing on this stack owns a
    // resource that the process exit does not release.
    leave_after_sigterm("changes Kafka has not acknowledged are replayed from the slot");
}

void KafkaChangeSink::back_off(const char* reason, long wait_ms) {
    if (!backing_off_) {
        set_worker_phase(state_, WorkerPhase::Backoff);
        backing_off_ = true;
    }
    report_worker_error(state_, reason);
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, wait_ms,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
}

void KafkaChangeSink::end_back_off() {
    if (!backing_off_) return;
    set_worker_phase(state_, active_phase_);
    clear_worker_error(state_);
    backing_off_ = false;
}

// Validated by bw_emit() and again when decoded, so the topic is legal. Outbox messages as
// given may go to another table's topic: bw_emit() is for trusted roles (see README). A value
// with a schema (the debezium envelope's op "m" in Avro) is framed with its id under
// <topic>-value, as a table's; its key goes as given.
void KafkaChangeSink::outbox_message(const OutboxMessage& message) {
    if (current_skipped_) return;
    count_event(kOutboxCollection, message.order);
    const MessageHeaders& headers =
        setting_message_headers ? headers_.next_outbox_message(message.order) : kNoHeaders;
    const std::string topic(message.topic);
    std::optional<std::string_view> value = message.value;
    if (registry_ != nullptr && value && !message.value_schema_json.empty()) {
        const int id = outbox_value_schema_id(topic, message.value_schema_json);
        if (id < 0) {
            ++skipped_;
            return;
        }
        confluent_frame_into(framed_value_, id, *value);
        value = framed_value_;
    }
    produce_or_refuse(topic, topic, Skipped::OneOutboxMessage, message.key, value, headers,
                      current_, [&] {
        return "the outbox message to topic \"" + std::string(message.topic) + "\", " +
               (message.key ? "key " + shortened(std::string(*message.key)) : "null key");
    });
    clear_row_buffer(framed_value_);
    after_produced();
}

// One subject, one kind of record: an op "m" schema goes under no subject that holds another
// record (a table's topic, the transaction topic), and no table's schema under one that holds
// it (register_schemas). The registry says, so that holds across restarts. Either refusal, and
// a schema the registry rejects, follow on_error for this message: -1 when it is skipped.
int KafkaChangeSink::outbox_value_schema_id(const std::string& topic,
                                            std::string_view schema_json) {
    if (const int* known = outbox_value_ids_.find(topic)) return *known;
    const std::string subject = topic + "-value";
    const std::string held = latest_record_name(subject);
    if (!held.empty() && held != kMessageValueRecord) {
        const std::string refusal = "subject \"" + subject + "\" holds " + held +
                                    " records, so topic \"" + topic +
                                    "\" takes no outbox message of schema " +
                                    kMessageValueRecord;
        if (!on_error_skips_table(topic, refusal, Skipped::OneOutboxMessage))
            throw ReportableError(ERRCODE_DUPLICATE_OBJECT, "bottledwater: " + refusal, "",
                                  kOwnTopicHint);
        return -1;
    }
    try {
        const int id = register_schema(subject, std::string(schema_json));
        return outbox_value_ids_.insert(topic, id);
    } catch (const SchemaRejected& e) {
        if (!on_error_skips_table(topic, e.what(), Skipped::OneOutboxMessage)) throw;
        return -1;
    }
}

// A truncate the envelope sends nothing for still opens the transaction's metadata, as
// Debezium's BEGIN of a TRUNCATE it skips.
void KafkaChangeSink::truncate(const EncodedChange& change) {
    if (change.sends_message) return produce(change, current_);
    if (current_skipped_ || transaction_records_ == nullptr || in_snapshot_) return;
    begin_transaction_record(change.order.lsn);
}

void KafkaChangeSink::commit_transaction(const TransactionInfo& txn) {
    if (!current_skipped_ && transaction_records_ != nullptr && transaction_records_->begun())
        produce_transaction_record(transaction_records_->end_record(txn), "end");
    if (!current_skipped_) delivery_.end_transaction(current_);
    last_commit_lsn_ = txn.end_lsn;
}

void KafkaChangeSink::check_health() const {
    if (kafka_.fatal()) throw KafkaError("fatal producer error: " + kafka_.last_error());
    if (kafka_.acks().failed()) throw KafkaError(kafka_.acks().first_failure());
}

}  // namespace bw
