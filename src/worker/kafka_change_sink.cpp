// The worker's ChangeSink (see kafka_change_sink.h). Runs inside the output plugin's callbacks,
// under its guard_cpp: exceptions become an ERROR, and the worker restarts from the slot.
#include "worker/kafka_change_sink.h"

extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
}

#include "produce/topic_namer.h"
#include "registry/wire_format.h"
#include "worker/settings.h"
#include "worker/stream_worker.h"

namespace bw {

namespace {

// Delivery reports are served at least this often inside a large transaction.
constexpr uint64_t kPollEveryMessages = 1000;
// How long an unreachable schema registry is left alone before the next try.
constexpr long kRegistryRetryMs = 1000;
// About two seconds of a full queue (rounds of up to 100 ms) before it counts as backoff.
constexpr int kQuietFullRounds = 20;

}  // namespace

void KafkaChangeSink::begin_transaction(const TransactionInfo& txn) {
    current_ = kafka_.acks().begin_transaction(txn.end_lsn);
}

void KafkaChangeSink::table_schema(const TableDescription& table) {
    topics_.erase(table.qualified_name);
}

// Registered when a table is first seen at a schema version (table_schema() forgets the old
// one); the registry client answers repeated registrations from memory.
const KafkaChangeSink::TableTopic& KafkaChangeSink::topic_of(const TableDescription& table) {
    auto found = topics_.find(table.qualified_name);
    if (found != topics_.end()) return found->second;
    TableTopic entry;
    entry.topic = topic_for_table(topic_prefix_, table.schema_name, table.table_name);
    if (registry_ != nullptr) register_schemas(table, entry);
    return topics_.emplace(table.qualified_name, std::move(entry)).first->second;
}

// A schema the registry rejects (incompatible under the subject's rule, not valid) is rejected
// again on replay: under on_error = exit the worker stops on it; under log the table's changes
// at this schema version are given up. Refused credentials are a configuration error that
// would skip every table, so they always stop the worker.
void KafkaChangeSink::register_schemas(const TableDescription& table, TableTopic& entry) {
    try {
        if (!table.key_schema_json.empty())
            entry.key_schema_id = register_schema(entry.topic + "-key", table.key_schema_json);
        entry.value_schema_id = register_schema(entry.topic + "-value", table.value_schema_json);
    } catch (const SchemaRejected& e) {
        const bool refused_credentials = e.http_status() == 401 || e.http_status() == 403;
        if (refused_credentials || !on_error_skips(table, e.what(), Skipped::UntilSchemaChanges))
            throw;
        entry.rejected = true;
    }
}

bool KafkaChangeSink::on_error_skips(const TableDescription& table, const char* reason,
                                     Skipped skipped) {
    if (static_cast<OnError>(setting_on_error) == OnError::Exit) return false;
    report_worker_error(state_, reason);
    ereport(WARNING, (errmsg(skipped == Skipped::OneChange
                                 ? "bottledwater: skipping a change of table \"%s\": %s"
                                 : "bottledwater: skipping the changes of table \"%s\" until "
                                   "its schema changes: %s",
                             table.qualified_name.c_str(), reason),
                      errhint("bottledwater.on_error = log gives up what cannot be sent; "
                              "bw_status() counts it in messages_skipped.")));
    return true;
}

// An unreachable or failing registry (connection refused, timeout, 5xx) holds decoding in
// backoff until it answers; a schema it rejects is an error for the caller.
int KafkaChangeSink::register_schema(const std::string& subject, const std::string& schema_json) {
    for (;;) {
        char failure[512] = "";
        int id = -1;
        try {
            id = registry_->register_schema(subject, schema_json);
        } catch (const RegistryUnavailable& e) {
            strlcpy(failure, e.what(), sizeof failure);
        }
        if (failure[0] == '\0') {
            end_back_off();
            if (registry_was_down_) {
                // The registry may have lost what it held while it was away (an in-memory one,
                // one restored from a backup): every other table asks for its ids again.
                registry_->forget();
                topics_.clear();
                registry_was_down_ = false;
            }
            return id;
        }
        registry_was_down_ = true;
        kafka_.poll(0);  // keep serving delivery reports while waiting
        check_health();
        leave_if_stop_requested();
        back_off(failure, kRegistryRetryMs);
    }
}

void KafkaChangeSink::change(const EncodedChange& change) {
    produce(change, current_);
}

void KafkaChangeSink::produce(const EncodedChange& change, TxnId txn) {
    const TableTopic& table = topic_of(*change.table);
    if (table.rejected) {
        ++skipped_;
        return;
    }
    const std::string& topic = table.topic;
    std::optional<std::string_view> key;
    std::optional<std::string_view> value;
    if (change.has_key) {
        key = change.key;
        if (registry_ != nullptr) key = framed_key_ = confluent_frame(table.key_schema_id, *key);
    }
    if (change.has_value) {
        value = change.value;
        if (registry_ != nullptr)
            value = framed_value_ = confluent_frame(table.value_schema_id, *value);
    }
    for (;;) {
        ProduceResult result;
        try {
            result = kafka_.produce(topic, key, value, txn);
        } catch (const KafkaError& e) {
            // Under on_error = log this one message is given up and the stream goes on.
            if (kafka_.fatal() || !on_error_skips(*change.table, e.what(), Skipped::OneChange))
                throw;
            ++skipped_;
            return;
        }
        if (result == ProduceResult::Queued) break;
        wait_for_queue_space();
    }
    full_rounds_ = 0;
    end_back_off();
    if (++since_poll_ >= kPollEveryMessages) {
        since_poll_ = 0;
        kafka_.poll(0);
        check_health();
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

// Kafka has no truncate; consumers see the rows' deletes only if they are decoded as deletes.
// XXX a truncate could be announced with a tombstone per key, which needs a scan of old keys.
void KafkaChangeSink::truncate(const TableDescription& table) {}

// Replaying would meet the same value again: under on_error = exit the worker stops on it.
bool KafkaChangeSink::skips_unencodable(const TableDescription& table, const char* reason) {
    if (!on_error_skips(table, reason, Skipped::OneChange)) return false;
    ++skipped_;
    return true;
}

void KafkaChangeSink::commit_transaction(const TransactionInfo& txn) {
    kafka_.acks().end_transaction(current_);
    last_commit_lsn_ = txn.end_lsn;
}

void KafkaChangeSink::check_health() const {
    if (kafka_.fatal()) throw KafkaError("fatal producer error: " + kafka_.last_error());
    if (kafka_.acks().failed()) throw KafkaError(kafka_.acks().first_failure());
}

}  // namespace bw
