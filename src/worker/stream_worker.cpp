// The per-database worker (see stream_worker.h). Decoding happens in this process: the output
// plugin's callbacks hand encoded changes to a KafkaChangeSink, and the worker confirms on its
// slot only the LSN its AckTracker reports as acknowledged by Kafka.
//
// Error handling: anything unexpected raises ERROR, which in a background worker ends the process
// with exit code 1; the postmaster restarts it after bgw_restart_time and it replays from the
// slot with a fresh producer. A configuration (or a slot) the worker can never run with ends it
// with exit code 0 (not restarted) and state `error`. The KafkaSink and the sink are heap objects
// owned by this file's statics, never stack objects that an ERROR's longjmp would skip.
//
// SIGTERM: see worker_lifecycle.h.
#include "worker/stream_worker.h"

extern "C" {
#include "postgres.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "replication/decode.h"
#include "replication/logical.h"
#include "replication/slot.h"
#include "replication/snapbuild.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "decode/capture_set.h"
#include "decode/output_plugin.h"
#include "encode/change_envelope.h"
#include "pg_boundary.h"
#include "produce/kafka_properties.h"
#include "produce/topic_namer.h"
#include "worker/incremental_snapshot.h"
#include "worker/kafka_change_sink.h"
#include "worker/launcher.h"
#include "worker/settings.h"
#include "worker/slot_confirmer.h"
#include "worker/slot_retention.h"
#include "worker/snapshot_scan.h"
#include "worker/worker_delivery.h"
#include "worker/worker_lifecycle.h"
#include "worker/worker_state.h"

namespace bw {

namespace {

// Owned for the life of the process; see the file comment.
KafkaSink* kafka = nullptr;
Delivery* delivery = nullptr;
KafkaChangeSink* sink = nullptr;
TransactionRecords* transaction_records = nullptr;  // with bottledwater.transaction_topic
SchemaRegistryClient* registry = nullptr;
WorkerState* my_state = nullptr;

// WAL left after a pass beyond which the worker counts as catching up rather than keeping up.
constexpr XLogRecPtr kCatchingUpBytes = 16 * 1024 * 1024;
// How long a clean shutdown waits for Kafka to acknowledge what is in flight.
constexpr int kShutdownFlushMs = 10000;

// XL_ROUTINE() is a C99 compound literal; C++ needs a named object.
XLogReaderRoutine local_wal_routine = {read_local_xlog_page, wal_segment_open, wal_segment_close};

// The plugin hands changes to worker_change_sink, never to these; CreateDecodingContext wants them.
void no_prepare_write(LogicalDecodingContext*, XLogRecPtr, TransactionId, bool) {}
void no_write(LogicalDecodingContext*, XLogRecPtr, TransactionId, bool) {}

const char* output_format_name() {
    return static_cast<WorkerFormat>(setting_output_format) == WorkerFormat::Json ? "json" : "avro";
}

List* plugin_options() {
    MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
    List* options = list_make2(
        makeDefElem(pstrdup("format"), (Node*)makeString(pstrdup(output_format_name())), -1),
        makeDefElem(pstrdup("allow_unkeyed"),
                    (Node*)makeString(pstrdup(setting_allow_unkeyed ? "true" : "false")), -1));
    if (setting_publication[0] != '\0')
        options = lappend(
            options, makeDefElem(pstrdup("publication_names"),
                                 (Node*)makeString(pstrdup(setting_publication)), -1));
    if (setting_transaction_topic[0] != '\0')
        options = lappend(options, makeDefElem(pstrdup("transaction_metadata"),
                                               (Node*)makeString(pstrdup("true")), -1));
    if (static_cast<EnvelopeKind>(setting_envelope) == EnvelopeKind::Debezium)
        options = list_concat(
            options,
            list_make4(makeDefElem(pstrdup("envelope"), (Node*)makeString(pstrdup("debezium")), -1),
                       makeDefElem(pstrdup("database"),
                                   (Node*)makeString(pstrdup(my_state->dbname)), -1),
                       makeDefElem(pstrdup("json_schemas"),
                                   (Node*)makeString(pstrdup(setting_json_schemas ? "true"
                                                                                  : "false")),
                                   -1),
                       makeDefElem(pstrdup("topic_prefix"),
                                   (Node*)makeString(pstrdup(setting_topic_prefix)), -1)));
    MemoryContextSwitchTo(old);
    return options;
}

void create_producer(const char* slot_name) {
    char message[1024] = "";
    try {
        KafkaSinkConfig config;
        config.brokers = setting_kafka_brokers ? setting_kafka_brokers : "";
        config.kafka_config =
            parse_kafka_properties(setting_kafka_config ? setting_kafka_config : "");
        for (auto& secret : parse_kafka_properties(
                 setting_kafka_secret_config ? setting_kafka_secret_config : ""))
            config.kafka_config.push_back(std::move(secret));
        config.topic_config =
            parse_kafka_properties(setting_topic_config ? setting_topic_config : "");
        config.transactional_id = worker_transactional_id(my_state->dbname, slot_name);
        kafka = new KafkaSink(config);
        kafka->set_log_sink([](int level, std::string_view facility, std::string_view text) {
            // Served inside poll() on this thread; LOG never longjmps.
            if (level <= 4)
                ereport(LOG, (errmsg("bottledwater: librdkafka %.*s: %.*s",
                                     static_cast<int>(facility.size()), facility.data(),
                                     static_cast<int>(text.size()), text.data())));
        });
        if (static_cast<WorkerFormat>(setting_output_format) == WorkerFormat::Avro) {
            SchemaRegistryOptions options;
            options.base_url = setting_schema_registry_url;
            options.basic_auth = setting_schema_registry_user_info;
            options.ca_file = setting_schema_registry_ca_file;
            registry = new SchemaRegistryClient(options);
        }
    } catch (const std::exception& e) {
        strlcpy(message, e.what(), sizeof message);
    }
    if (message[0] != '\0')
        exit_with_config_error(message,
                               "Check bottledwater.kafka_config, kafka_secret_config and "
                               "topic_config.");
}

// A Kafka that does not answer is no configuration error: it ends the worker with an ERROR, and
// the next start tries again.
void start_delivering(const char* slot_name) {
    guard_cpp("readying delivery to Kafka", [&] {
        delivery = start_delivery(*kafka, my_state, my_state->dbname, slot_name);
        if (setting_transaction_topic[0] != '\0') {
            EnvelopeConfig format;
            format.kind = static_cast<EnvelopeKind>(setting_envelope);
            format.json = static_cast<WorkerFormat>(setting_output_format) == WorkerFormat::Json;
            format.json_schemas = setting_json_schemas;
            transaction_records = new TransactionRecords(format);
        }
        sink = new KafkaChangeSink(*kafka, *delivery, my_state,
                                   setting_topic_prefix ? setting_topic_prefix : "", registry,
                                   transaction_records, setting_transaction_topic);
        sink->reserve_offsets_topic(setting_offsets_topic);
    });
}

// A publication missing at start is a configuration error, reported once rather than retried.
// One dropped later fails decoding at the drop's place in the WAL (see capture_set.cpp).
void check_publications_exist() {
    StartTransactionCommand();
    const char* missing = missing_publication(setting_publication);
    char* message = missing ? psprintf("publication \"%s\" named in bottledwater.publication "
                                       "does not exist in database \"%s\"",
                                       missing, my_state->dbname)
                            : nullptr;
    CommitTransactionCommand();
    if (message)
        exit_with_config_error(message,
                               "Create it with CREATE PUBLICATION in this database, or change "
                               "bottledwater.publication.");
}

// Waits until Kafka has acknowledged everything produced so far. A stop request leaves at once:
// the caller holds an ephemeral slot, which goes away with the process, so nothing half done
// survives.
void wait_for_all_acknowledged() {
    guard_cpp("committing the snapshot", [&] { delivery->finish(streaming_waiter(my_state)); });
    while (kafka->acks().pending_transactions() > 0 || kafka->acks().in_flight() > 0) {
        guard_cpp("waiting for the snapshot's acknowledgements", [&] {
            kafka->flush(100);
            sink->check_health();
        });
        exit_if_postmaster_died();
        if (stop_requested()) leave_after_sigterm("the next start takes the snapshot again");
    }
}

// Under initial_snapshot = incremental the tables are queued before the slot is created: the
// chunks, read once streaming begins, see every change committed before the slot's start.
void queue_initial_snapshot() {
    StartTransactionCommand();
    const bool queued = queue_every_captured_table();
    CommitTransactionCommand();
    if (!queued)
        exit_with_config_error(
            "bottledwater.initial_snapshot = incremental needs the extension in this database",
            psprintf("CREATE EXTENSION bottledwater (or ALTER EXTENSION bottledwater UPDATE) in "
                     "database %s: its table keeps the snapshot's progress. Or set "
                     "bottledwater.initial_snapshot = 'consistent'.",
                     quote_identifier(my_state->dbname)));
}

// Creates the slot and, for a consistent first snapshot (neither skip_snapshot nor
// initial_snapshot = incremental), dumps every table from the slot's initial snapshot before the
// slot is made persistent: a worker that dies mid-snapshot leaves no slot, and its restart takes
// a new snapshot from scratch.
void create_slot(const char* slot_name) {
    const bool consistent =
        !setting_skip_snapshot &&
        static_cast<InitialSnapshot>(setting_initial_snapshot) == InitialSnapshot::Consistent;
    if (!setting_skip_snapshot && !consistent) queue_initial_snapshot();
    StartTransactionCommand();
    // SnapBuildInitialSnapshot needs a read-only REPEATABLE READ transaction with no snapshot.
    XactIsoLevel = XACT_REPEATABLE_READ;
    XactReadOnly = true;
    // Until the slot persists, the ephemeral slot and the snapshot go with the process.
    set_sigterm_interrupts(true);
    if (stop_requested()) leave_after_sigterm("the next start creates the slot");
#if PG_VERSION_NUM >= 170000
    // Not a failover slot, and not one synced from a primary.
    ReplicationSlotCreate(slot_name, true, RS_EPHEMERAL, false, false, false);
#else
    ReplicationSlotCreate(slot_name, true, RS_EPHEMERAL, false);
#endif
    worker_change_sink = sink;
    LogicalDecodingContext* ctx = CreateInitDecodingContext(
        "bottledwater", plugin_options(), consistent, InvalidXLogRecPtr,
        &local_wal_routine, no_prepare_write, no_write, nullptr);
    DecodingContextFindStartpoint(ctx);
    if (consistent) {
        RestoreTransactionSnapshot(SnapBuildInitialSnapshot(ctx->snapshot_builder), MyProc);
        PushActiveSnapshot(GetTransactionSnapshot());
        set_worker_phase(my_state, WorkerPhase::Snapshot);
        sink->set_active_phase(WorkerPhase::Snapshot);
        ereport(LOG,
                (errmsg("bottledwater: snapshot of database \"%s\" started", my_state->dbname)));
        scan_snapshot(*sink, my_state, setting_allow_unkeyed, setting_publication,
                      MyReplicationSlot->data.confirmed_flush);
        wait_for_all_acknowledged();
        PopActiveSnapshot();
        ereport(LOG,
                (errmsg("bottledwater: snapshot of database \"%s\" acknowledged by Kafka "
                        "(%lld rows)",
                        my_state->dbname, static_cast<long long>(kafka->acks().acknowledged()))));
    }
    FreeDecodingContext(ctx);
    set_sigterm_interrupts(false);
    ReplicationSlotPersist();
    ReplicationSlotRelease();
    CommitTransactionCommand();
    sink->set_active_phase(WorkerPhase::Streaming);
    ereport(LOG, (errmsg("bottledwater: created replication slot \"%s\"", slot_name)));
}

// A slot PostgreSQL has invalidated can never stream again, and a restart would only fail again:
// say why, and how to start afresh.
void refuse_invalidated_slot(const char* slot_name) {
    const SlotRetention retention = slot_retention(slot_name, GetFlushRecPtr(nullptr));
    if (retention.invalidation == nullptr) return;
    const char* db = quote_literal_cstr(my_state->dbname);
    exit_with_config_error(
        psprintf("replication slot \"%s\" was invalidated: %s; it cannot stream", slot_name,
                 retention.invalidation),
        psprintf("Start again with a new snapshot (consumers receive every row again): SELECT "
                 "bw_drop_slot(%s); SELECT bw_start(%s);",
                 db, db));
}

// A missing slot is created only at bw_start's request (see MissingSlot): a worker started from
// the autostart list whose slot is gone may run on a copied data directory, and a new slot would
// send a second snapshot to the topics the original server still feeds.
void ensure_slot(const char* slot_name, MissingSlot missing_slot) {
    ReplicationSlot* existing = SearchNamedReplicationSlot(slot_name, true);
    if (existing == nullptr) {
        if (missing_slot != MissingSlot::Create)
            exit_with_config_error(
                psprintf("replication slot \"%s\" is missing; only bw_start creates a new one",
                         slot_name),
                psprintf("If this data directory was copied from another server (a base backup "
                         "or a file copy), that server's slot did not come with it. To start "
                         "afresh with a new slot and a new snapshot: SELECT bw_start(%s);",
                         quote_literal_cstr(my_state->dbname)));
        create_slot(slot_name);
        return;
    }
    if (existing->data.database != MyDatabaseId)
        exit_with_config_error(
            psprintf("replication slot \"%s\" belongs to another database", slot_name),
            "Give each database its own slot: ALTER DATABASE ... SET "
            "bottledwater.slot_name = '...'.");
    if (strcmp(NameStr(existing->data.plugin), "bottledwater") != 0)
        exit_with_config_error(
            psprintf("replication slot \"%s\" uses output plugin \"%s\", not bottledwater",
                     slot_name, NameStr(existing->data.plugin)),
            "Drop it or choose another bottledwater.slot_name.");
    refuse_invalidated_slot(slot_name);
}

// The offsets topic keeps exactly_once's stored LSNs for every database of the cluster, read
// back at each start: transaction records there would be taken for them, or compacted away,
// whatever delivery this database uses.
void refuse_transaction_topic_on_offsets_topic() {
    const char* transaction_topic = setting_transaction_topic;
    bool collide = false;
    guard_cpp("comparing the transaction and offsets topics", [&] {
        collide = transaction_topic[0] != '\0' &&
                  kafka_topics_collide(transaction_topic, setting_offsets_topic);
    });
    if (!collide) return;
    exit_with_config_error(
        psprintf("the transaction topic \"%s\" (bottledwater.transaction_topic) is the offsets "
                 "topic \"%s\" (bottledwater.offsets_topic)%s",
                 transaction_topic, setting_offsets_topic,
                 strcmp(transaction_topic, setting_offsets_topic) == 0
                     ? ""
                     : " to Kafka, for which topic names that differ only in '.' and '_' collide"),
        psprintf("Give the transaction topic a name of its own: ALTER DATABASE %s SET "
                 "bottledwater.transaction_topic = '...'; the offsets topic is shared by every "
                 "database of the cluster.",
                 quote_identifier(my_state->dbname)));
}

// Rows of two databases' same-named tables must not meet in one topic: a second running worker
// with the same topic prefix is refused before it takes a slot or a snapshot. The debezium
// envelope's topics all start with its logical name and a '.', which is what it claims.
void claim_topics() {
    refuse_transaction_topic_on_offsets_topic();
    const char* prefix = setting_topic_prefix ? setting_topic_prefix : "";
    char claimed[sizeof my_state->topic_prefix];
    strlcpy(claimed, prefix, sizeof claimed);
    if (static_cast<EnvelopeKind>(setting_envelope) == EnvelopeKind::Debezium)
        guard_cpp("naming the debezium topics", [&] {
            strlcpy(claimed, (debezium_logical_name(prefix, my_state->dbname) + ".").c_str(),
                    sizeof claimed);
        });
    char rival[NAMEDATALEN];
    if (claim_topic_prefix(my_state, claimed, rival)) return;
    exit_with_config_error(
        psprintf("the worker of database \"%s\" already writes to Kafka with topic prefix "
                 "\"%s\", so tables of the same name would share topics",
                 rival, claimed),
        psprintf("Give each streamed database a topic prefix of its own: ALTER DATABASE %s SET "
                 "bottledwater.topic_prefix = '%s.';",
                 quote_identifier(my_state->dbname), my_state->dbname));
}

void publish_progress(XLogRecPtr confirmed) {
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    my_state->last_commit_lsn = sink->last_commit_lsn();
    my_state->confirmed_lsn = confirmed;
    my_state->produced = static_cast<int64>(kafka->acks().produced());
    my_state->acknowledged = static_cast<int64>(kafka->acks().acknowledged());
    my_state->skipped = static_cast<int64>(sink->skipped());
    if (my_state->phase == WorkerPhase::Backoff && kafka->last_error().empty())
        my_state->phase = WorkerPhase::Streaming;
    LWLockRelease(worker_states->lock);
}

// Confirms on the slot what Kafka has acknowledged (`decoded_to` as for SlotConfirmer::confirm)
// and shows it in bw_status.
void confirm_and_publish(SlotConfirmer& confirmer, XLogRecPtr decoded_to) {
    confirmer.confirm(decoded_to);
    publish_progress(confirmer.confirmed());
}

void guarded_poll(int timeout_ms) {
    guard_cpp("serving Kafka delivery reports", [&] {
        kafka->poll(timeout_ms);
        sink->check_health();
    });
    exit_if_postmaster_died();
}

// Before a chunk of an incremental snapshot is read (a worker's thread is busy for a while).
void send_queued() {
    if (kafka->acks().in_flight() == 0) return;
    guard_cpp("sending to Kafka", [&] {
        kafka->send_queued();
        sink->check_health();
    });
}

// A pass has ended: every commit before `decoded_to` has been through the sink.
void end_pass(SlotConfirmer& confirmer, XLogRecPtr decoded_to) {
    guard_cpp("delivering to Kafka", [&] { delivery->between_passes(decoded_to); });
    guarded_poll(0);
    confirm_and_publish(confirmer, decoded_to);
}

// Between passes of a worker that keeps up with the WAL (`decoded_to` as for end_pass). What the
// pass produced is sent at once (a flush does not wait for linger.ms, which is long so that
// catching up sends full batches), its acknowledgements are served and confirmed on the slot at
// once, not a poll interval later; the rest of the poll interval is slept, so under a steady
// load each request to Kafka carries a poll interval's changes instead of a few. An incremental
// snapshot with work left does not sleep: its next chunk is read after the next pass.
void send_and_wait_for_wal(SlotConfirmer& confirmer, XLogRecPtr decoded_to, bool sleep) {
    const TimestampTz start = GetCurrentTimestamp();
    if (kafka->acks().in_flight() > 0) {
        guard_cpp("sending to Kafka", [&] {
            kafka->flush(setting_poll_interval_ms);
            sink->check_health();
        });
        confirm_and_publish(confirmer, decoded_to);
    }
    const long left =
        setting_poll_interval_ms - TimestampDifferenceMilliseconds(start, GetCurrentTimestamp());
    if (left <= 0 || !sleep) return;
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left,
                    PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
}

// Waits (a bounded time) for Kafka's reports on what is in flight, then confirms on the slot
// every transaction acknowledged with all before it. A failed delivery does not end the wait:
// transactions before it may still be on their way, and the tracker confirms nothing past it.
void deliver_in_flight(SlotConfirmer& confirmer, XLogRecPtr decoded_to) {
    const TimestampTz deadline =
        TimestampTzPlusMilliseconds(GetCurrentTimestamp(), kShutdownFlushMs);
    while (kafka->acks().in_flight() > 0 && GetCurrentTimestamp() < deadline && !kafka->fatal()) {
        kafka->poll(100);
        exit_if_postmaster_died();
    }
    if (!kafka->fatal()) confirmer.confirm(decoded_to);
    confirmer.save(GetCurrentTimestamp());
    publish_progress(confirmer.confirmed());
}

[[noreturn]] void shut_down(SlotConfirmer& confirmer, LogicalDecodingContext* ctx) {
    ereport(LOG, (errmsg("bottledwater: worker of database \"%s\" stopping; flushing Kafka",
                         my_state->dbname)));
    guard_cpp("committing to Kafka", [&] { delivery->finish(shutdown_waiter(kShutdownFlushMs)); });
    deliver_in_flight(confirmer, ctx->reader->EndRecPtr);
    leave_after_sigterm("the next start resumes from the slot");
}

// An ERROR while streaming (a change that cannot be sent under on_error = exit, a
// failed delivery, a registry refusal) stops the worker, and the postmaster starts it again to
// replay from the slot. What was produced before that change is delivered and confirmed first:
// otherwise every restart would drop the earlier, separate transactions from the queue with it,
// and one bad row would hold back everything committed before it. Done after the error is
// reported and cleaned up, as PostgreSQL's apply worker does before disabling a subscription.
[[noreturn]] void stop_on_error(SlotConfirmer& confirmer) {
    HOLD_INTERRUPTS();
    EmitErrorReport();
    AbortOutOfAnyTransaction();
    FlushErrorState();
    // Nothing pending past the failure may be confirmed: only the acknowledged prefix.
    deliver_in_flight(confirmer, InvalidXLogRecPtr);
    proc_exit(1);
}

[[noreturn]] void decode_until_stopped(SlotConfirmer& confirmer, LogicalDecodingContext* ctx);

[[noreturn]] void stream(const char* slot_name) {
#if PG_VERSION_NUM >= 180000
    // An invalidated slot is an error here, as it is later in CreateDecodingContext before 18.
    ReplicationSlotAcquire(slot_name, true, true);
#else
    ReplicationSlotAcquire(slot_name, true);
#endif
    worker_change_sink = start_incremental_snapshots(*sink, my_state, slot_name, send_queued);
    LogicalDecodingContext* ctx =
        CreateDecodingContext(InvalidXLogRecPtr, plugin_options(), false, &local_wal_routine,
                              no_prepare_write, no_write, nullptr);
    XLogBeginRead(ctx->reader, MyReplicationSlot->data.restart_lsn);
    // Whoever sees `streaming` sees the snapshot's counts with it.
    publish_progress(MyReplicationSlot->data.confirmed_flush);
    set_worker_phase(my_state, WorkerPhase::Streaming);
    ereport(LOG, (errmsg("bottledwater: streaming database \"%s\" from slot \"%s\" at %X/%X",
                         my_state->dbname, slot_name,
                         static_cast<uint32>(MyReplicationSlot->data.confirmed_flush >> 32),
                         static_cast<uint32>(MyReplicationSlot->data.confirmed_flush))));

    // The confirmer lives past a longjmp into the catch block: a static, not a stack object.
    static SlotConfirmer* confirmer = nullptr;
    confirmer = new SlotConfirmer(*delivery, MyReplicationSlot->data.confirmed_flush);
    PG_TRY();
    {
        decode_until_stopped(*confirmer, ctx);
    }
    PG_CATCH();
    {
        stop_on_error(*confirmer);
    }
    PG_END_TRY();
    pg_unreachable();
}

// Far behind the WAL's end (catching up after a stop or an outage).
bool catching_up(LogicalDecodingContext* ctx) {
    return GetFlushRecPtr(nullptr) - ctx->reader->EndRecPtr >= kCatchingUpBytes;
}

[[noreturn]] void decode_until_stopped(SlotConfirmer& confirmer, LogicalDecodingContext* ctx) {
    for (;;) {
        if (stop_requested()) shut_down(confirmer, ctx);
        if (ConfigReloadPending) {
            ConfigReloadPending = false;
            ProcessConfigFile(PGC_SIGHUP);
        }
        // read_local_xlog_page would wait for WAL past the flush pointer; bound the pass instead.
        const XLogRecPtr end_of_wal = GetFlushRecPtr(nullptr);
        delivery->set_catching_up(catching_up(ctx));
        uint64_t records = 0;
        while (ctx->reader->EndRecPtr < end_of_wal && !stop_requested()) {
            char* errm = nullptr;
            XLogRecord* record = XLogReadRecord(ctx->reader, &errm);
            if (errm) elog(ERROR, "bottledwater: could not read WAL for decoding: %s", errm);
            if (record != nullptr) LogicalDecodingProcessRecord(ctx, ctx->reader);
            if (++records % 1000 == 0) {
                guarded_poll(0);
                confirm_and_publish(confirmer, InvalidXLogRecPtr);
            }
            CHECK_FOR_INTERRUPTS();
        }
        delivery->set_catching_up(catching_up(ctx));
        end_pass(confirmer, ctx->reader->EndRecPtr);
        if (!kafka->last_error().empty() && kafka->acks().in_flight() > 0) {
            report_worker_error(my_state, kafka->last_error().c_str());
            set_worker_phase(my_state, WorkerPhase::Backoff);
        } else if (kafka->acks().pending_transactions() == 0 && kafka->acks().in_flight() == 0) {
            // Everything decoded so far is in Kafka: whatever went wrong before is past.
            clear_worker_error(my_state);
        }
        const bool snapshot_busy = run_incremental_snapshots(confirmer.confirmed());
        // Catching up, the next pass starts at once.
        if (!catching_up(ctx))
            send_and_wait_for_wal(confirmer, ctx->reader->EndRecPtr, !snapshot_busy);
    }
}

}  // namespace

}  // namespace bw

using namespace bw;

extern "C" {

PGDLLEXPORT void bw_worker_main(Datum main_arg) {
    char dbname[NAMEDATALEN];
    strlcpy(dbname, MyBgworkerEntry->bgw_extra, sizeof dbname);

    install_sigterm_handler();
    pqsignal(SIGHUP, SignalHandlerForConfigReload);
    BackgroundWorkerUnblockSignals();

    my_state = claim_worker_state(dbname);
    if (my_state == nullptr) proc_exit(0);

    BackgroundWorkerInitializeConnection(dbname, nullptr, 0);
    // The worker is superuser inside a database whose owner may not be: with the database's
    // search_path, an operator planted in a schema listed before pg_catalog would run as
    // superuser. PostgreSQL's own apply workers do the same.
    SetConfigOption("search_path", "", PGC_SUSET, PGC_S_OVERRIDE);
    pgstat_report_appname("bottledwater");

    if (static_cast<WorkerFormat>(setting_output_format) == WorkerFormat::Avro &&
        (setting_schema_registry_url == nullptr || setting_schema_registry_url[0] == '\0'))
        exit_with_config_error(
            "output_format avro needs bottledwater.schema_registry_url",
            psprintf("Set it (ALTER DATABASE %s SET bottledwater.schema_registry_url = '...', or "
                     "in postgresql.conf), or set bottledwater.output_format = 'json'.",
                     quote_identifier(dbname)));
    check_publications_exist();

    claim_topics();
    char slot_name[NAMEDATALEN];
    resolve_slot_name(setting_slot_name, MyDatabaseId, my_state->dbname, slot_name);
    LWLockAcquire(worker_states->lock, LW_EXCLUSIVE);
    strlcpy(my_state->slot_name, slot_name, sizeof my_state->slot_name);
    LWLockRelease(worker_states->lock);
    create_producer(slot_name);
    start_delivering(slot_name);
    ensure_slot(slot_name, static_cast<MissingSlot>(DatumGetInt32(main_arg)));
    stream(slot_name);
}

}  // extern "C"
