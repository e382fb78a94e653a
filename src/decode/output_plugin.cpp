// The logical decoding callbacks: startup parses options and chooses the sink, begin/commit frame
// each committed transaction (streaming of in-progress transactions is never enabled, so only
// committed ones arrive, in commit order), change and truncate encode rows through the table's
// cached schema. Everything a change allocates lives in a context reset after that change.
#include "decode/output_plugin.h"

extern "C" {
#include "postgres.h"
#include "commands/defrem.h"
#include "datatype/timestamp.h"
#include "replication/logical.h"
#include "replication/output_plugin.h"
#include "replication/reorderbuffer.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
}

#include <unordered_set>

#include "decode/capture_set.h"
#include "decode/change_encoder.h"
#include "decode/outbox_decoding.h"
#include "decode/sql_output.h"
#include "decode/stream_target.h"
#include "decode/table_schema.h"
#include "pg_boundary.h"

namespace bw {

ChangeSink* worker_change_sink = nullptr;

int64_t unix_micros(int64_t timestamp) {
    return timestamp + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

namespace {

struct PluginOptions {
    OutputFormat format = OutputFormat::Avro;
    EnvelopeKind envelope = EnvelopeKind::Row;
    bool json_schemas = true;
    std::string topic_prefix;
    std::string database;  // the worker's, which decodes outside a transaction
    bool allow_unkeyed = false;
    bool transaction_details = true;
    bool transaction_metadata = false;
    std::vector<std::string> publication_names;  // none: every table
};

// All state of one decoding session. Deleted by a reset callback on the decoding context's
// memory, so it is freed whether the session ends cleanly or by an error.
struct DecodingSession {
    DecodingSession(LogicalDecodingContext* ctx, const PluginOptions& options)
        : options(options),
          envelope(make_envelope(envelope_config(options.envelope, options.format,
                                                 options.json_schemas, options.topic_prefix,
                                                 options.database,
                                                 options.transaction_metadata))),
          capture(options.publication_names, ctx->context),
          schemas(ctx->context, *envelope, type_mapping(options.envelope)),
          encoder(*envelope) {}

    PluginOptions options;
    std::unique_ptr<ChangeEnvelope> envelope;
    CaptureSet capture;
    SchemaCache schemas;
    ChangeEncoder encoder;
    std::unique_ptr<SqlOutput> sql_output;
    ChangeSink* sink = nullptr;
    TransactionInfo txn;
    MemoryContext change_context = nullptr;
    MemoryContextCallback cleanup;
};

DecodingSession* session_of(LogicalDecodingContext* ctx) {
    return static_cast<DecodingSession*>(ctx->output_plugin_private);
}

bool parse_bool_option(DefElem* option) {
    bool value;
    if (option->arg == nullptr) return true;  // a bare option name means on
    if (!parse_bool(strVal(option->arg), &value))
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("bottledwater: option \"%s\" has invalid value \"%s\"",
                               option->defname, strVal(option->arg)),
                        errhint("Use true or false.")));
    return value;
}

PluginOptions parse_options(List* options) {
    PluginOptions parsed;
    ListCell* cell;
    foreach (cell, options) {
        DefElem* option = (DefElem*)lfirst(cell);
        if (strcmp(option->defname, "format") == 0) {
            const char* value = option->arg ? strVal(option->arg) : "";
            if (strcmp(value, "avro") == 0)
                parsed.format = OutputFormat::Avro;
            else if (strcmp(value, "json") == 0)
                parsed.format = OutputFormat::Json;
            else
                ereport(ERROR,
                        (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                         errmsg("bottledwater: option \"format\" has invalid value \"%s\"", value),
                         errhint("Valid formats are avro and json.")));
        } else if (strcmp(option->defname, "envelope") == 0) {
            const char* value = option->arg ? strVal(option->arg) : "";
            if (strcmp(value, "row") == 0)
                parsed.envelope = EnvelopeKind::Row;
            else if (strcmp(value, "debezium") == 0)
                parsed.envelope = EnvelopeKind::Debezium;
            else
                ereport(ERROR,
                        (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                         errmsg("bottledwater: option \"envelope\" has invalid value \"%s\"",
                                value),
                         errhint("Valid envelopes are row and debezium.")));
        } else if (strcmp(option->defname, "json_schemas") == 0) {
            parsed.json_schemas = parse_bool_option(option);
        } else if (strcmp(option->defname, "topic_prefix") == 0) {
            parsed.topic_prefix = option->arg ? strVal(option->arg) : "";
        } else if (strcmp(option->defname, "database") == 0) {
            parsed.database = option->arg ? strVal(option->arg) : "";
        } else if (strcmp(option->defname, "allow_unkeyed") == 0) {
            parsed.allow_unkeyed = parse_bool_option(option);
        } else if (strcmp(option->defname, "include_transaction_details") == 0) {
            parsed.transaction_details = parse_bool_option(option);
        } else if (strcmp(option->defname, "transaction_metadata") == 0) {
            parsed.transaction_metadata = parse_bool_option(option);
        } else if (strcmp(option->defname, "publication_names") == 0) {
            const char* value = option->arg ? strVal(option->arg) : "";
            parsed.publication_names.clear();
            if (!split_publication_names(value, &parsed.publication_names))
                ereport(ERROR,
                        (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                         errmsg("bottledwater: option \"publication_names\" has invalid value "
                                "\"%s\"",
                                value),
                         errhint("Give publication names separated by commas.")));
        } else {
            ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                            errmsg("bottledwater: unknown option \"%s\"", option->defname),
                            errhint("Valid options are format, envelope, json_schemas, "
                                    "topic_prefix, allow_unkeyed, include_transaction_details, "
                                    "transaction_metadata and publication_names.")));
        }
    }
    return parsed;
}

void delete_session(void* arg) {
    DecodingSession* session = static_cast<DecodingSession*>(arg);
    attach_schema_invalidations(nullptr);
    attach_capture_invalidations(nullptr);
    delete session;
}

// Tables without a key are left out unless allow_unkeyed; either way the log says so once.
bool should_stream(DecodingSession* session, TableSchema& table) {
    if (table.keyed) return true;
    log_unkeyed_table(table, !session->options.allow_unkeyed ? "its changes are skipped"
                             : table.key_record ? "its changes are keyed by the whole row "
                                                  "(REPLICA IDENTITY FULL)"
                                                : "its changes are sent with a null key");
    return session->options.allow_unkeyed;
}

void announce(DecodingSession* session, TableSchema& table) {
    if (table.announced) return;
    session->sink->table_schema(table.description);
    table.announced = true;
}

HeapTuple new_tuple_of(ReorderBufferChange* change) {
#if PG_VERSION_NUM >= 170000
    return change->data.tp.newtuple;
#else
    return change->data.tp.newtuple ? &change->data.tp.newtuple->tuple : nullptr;
#endif
}

HeapTuple old_tuple_of(ReorderBufferChange* change) {
#if PG_VERSION_NUM >= 170000
    return change->data.tp.oldtuple;
#else
    return change->data.tp.oldtuple ? &change->data.tp.oldtuple->tuple : nullptr;
#endif
}

}  // namespace
}  // namespace bw

using namespace bw;

extern "C" {

static void bw_startup(LogicalDecodingContext* ctx, OutputPluginOptions* output_options,
                       bool is_init) {
    PluginOptions options = parse_options(ctx->output_plugin_options);
    MemoryContext old = MemoryContextSwitchTo(ctx->context);
    DecodingSession* session = nullptr;
    guard_cpp("starting decoding", [&] {
        session = new DecodingSession(ctx, options);
        if (worker_change_sink) {
            session->sink = worker_change_sink;
        } else {
            session->sql_output = std::make_unique<SqlOutput>(
                ctx, options.format == OutputFormat::Json, options.transaction_details);
            session->sink = session->sql_output.get();
        }
    });
    session->change_context =
        AllocSetContextCreate(ctx->context, "bottledwater change", ALLOCSET_DEFAULT_SIZES);
    session->cleanup.func = delete_session;
    session->cleanup.arg = session;
    MemoryContextRegisterResetCallback(ctx->context, &session->cleanup);
    MemoryContextSwitchTo(old);

    ctx->output_plugin_private = session;
    output_options->output_type = options.format == OutputFormat::Json
                                      ? OUTPUT_PLUGIN_TEXTUAL_OUTPUT
                                      : OUTPUT_PLUGIN_BINARY_OUTPUT;
    output_options->receive_rewrites = false;
    attach_schema_invalidations(&session->schemas);
    attach_capture_invalidations(&session->capture);
}

static void bw_shutdown(LogicalDecodingContext* ctx) {
    // The session itself goes with ctx->context (see delete_session).
    attach_schema_invalidations(nullptr);
    attach_capture_invalidations(nullptr);
}

static void bw_begin(LogicalDecodingContext* ctx, ReorderBufferTXN* txn) {
    DecodingSession* session = session_of(ctx);
    session->txn.xid = txn->xid;
    session->txn.commit_lsn = txn->final_lsn;
    session->txn.end_lsn = txn->end_lsn;
    session->txn.commit_time_micros = unix_micros(txn->xact_time.commit_time);
    guard_cpp("beginning a transaction", [&] {
        session->envelope->begin_transaction(session->txn);
        session->sink->begin_transaction(session->txn);
    });
}

static void bw_commit(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, XLogRecPtr commit_lsn) {
    DecodingSession* session = session_of(ctx);
    guard_cpp("committing a transaction", [&] { session->sink->commit_transaction(session->txn); });
}

static void bw_change(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, Relation relation,
                      ReorderBufferChange* change) {
    DecodingSession* session = session_of(ctx);
    ChangeOp op;
    switch (change->action) {
        case REORDER_BUFFER_CHANGE_INSERT: op = ChangeOp::Insert; break;
        case REORDER_BUFFER_CHANGE_UPDATE: op = ChangeOp::Update; break;
        case REORDER_BUFFER_CHANGE_DELETE: op = ChangeOp::Delete; break;
        default: return;
    }
    MemoryContext old = MemoryContextSwitchTo(session->change_context);
    guard_cpp("forgetting dropped tables", [&] {
        for (Oid dropped : session->schemas.forget_dropped()) session->sink->table_dropped(dropped);
        session->capture.forget_dropped();
    });
    const TableCapture* published = nullptr;
    guard_cpp("looking up the capture set", [&] {
        if (session->capture.publishes(relation, op))
            published = &session->capture.lookup(relation);
    });
    if (published != nullptr) {
        const TableCapture& captured = *published;
        StreamTarget target =
            open_stream_target(relation, captured.stream_as, &captured.target_map, ctx->context);
        HeapTuple old_tuple = to_stream_target(target, old_tuple_of(change));
        HeapTuple new_tuple = to_stream_target(target, new_tuple_of(change));
        ChangeOp send_as;
        if (filter_change(captured.row_filter, op, old_tuple, new_tuple, &send_as)) {
            if (send_as == ChangeOp::Delete && op == ChangeOp::Update) {
                // The row stopped matching: its key goes, from the old row if the WAL has one.
                if (old_tuple == nullptr) old_tuple = new_tuple;
                new_tuple = nullptr;
            } else if (send_as == ChangeOp::Insert && op == ChangeOp::Update) {
                old_tuple = nullptr;
            }
            guard_cpp("encoding a change", [&] {
                TableSchema& table = session->schemas.lookup(target.relation, captured.columns);
                if (!should_stream(session, table)) return;
                announce(session, table);
                session->encoder.encode(send_as, target.relation, table, old_tuple, new_tuple,
                                        session->txn, change->lsn, *session->sink);
            });
        }
        close_stream_target(target);
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(session->change_context);
}

// As pgoutput: a partition streamed as an ancestor sends no truncate of its own. Truncating the
// ancestor lists it with its partitions, so its topic gets one truncate; truncating only some
// partitions empties part of the ancestor's table, which one message cannot say, and is left
// out with a warning.
static bool truncated_as_itself(Relation relation, const TableCapture& captured, int count,
                                Relation relations[]) {
    if (!OidIsValid(captured.stream_as) || captured.stream_as == RelationGetRelid(relation))
        return true;
    for (int i = 0; i < count; i++)
        if (RelationGetRelid(relations[i]) == captured.stream_as) return false;
    ereport(WARNING,
            (errmsg("bottledwater: TRUNCATE of partition \"%s.%s\" is not sent: its rows stream "
                    "as table \"%s.%s\", of which it empties only a part",
                    get_namespace_name(RelationGetNamespace(relation)),
                    RelationGetRelationName(relation),
                    get_namespace_name(get_rel_namespace(captured.stream_as)),
                    get_rel_name(captured.stream_as)),
             errhint("Truncate the partitioned table itself for consumers to see it, or stream "
                     "its partitions as tables of their own (a publication without "
                     "publish_via_partition_root).")));
    return false;
}

static void bw_truncate(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, int relation_count,
                        Relation relations[], ReorderBufferChange* change) {
    DecodingSession* session = session_of(ctx);
    MemoryContext old = MemoryContextSwitchTo(session->change_context);
    guard_cpp("reporting a truncate", [&] {
        for (int i = 0; i < relation_count; i++) {
            if (!session->capture.publishes(relations[i], ChangeOp::Truncate)) continue;
            const TableCapture& captured = session->capture.lookup(relations[i]);
            if (!truncated_as_itself(relations[i], captured, relation_count, relations)) continue;
            TableSchema& table = session->schemas.lookup(relations[i], captured.columns);
            if (!should_stream(session, table)) continue;
            announce(session, table);
            session->encoder.encode_truncate(relations[i], table, change->lsn, *session->sink);
        }
    });
    MemoryContextSwitchTo(old);
    MemoryContextReset(session->change_context);
}

static void bw_message(LogicalDecodingContext* ctx, ReorderBufferTXN* txn, XLogRecPtr message_lsn,
                       bool transactional, const char* prefix, Size message_size,
                       const char* message) {
    DecodingSession* session = session_of(ctx);
    MemoryContext old = MemoryContextSwitchTo(session->change_context);
    guard_cpp("decoding a message", [&] {
        decode_logical_message(*session->envelope, *session->sink, transactional, prefix,
                               message_size, message, session->txn, message_lsn);
    });
    MemoryContextSwitchTo(old);
    MemoryContextReset(session->change_context);
}

PGDLLEXPORT void _PG_output_plugin_init(OutputPluginCallbacks* callbacks) {
    callbacks->startup_cb = bw_startup;
    callbacks->begin_cb = bw_begin;
    callbacks->change_cb = bw_change;
    callbacks->truncate_cb = bw_truncate;
    callbacks->commit_cb = bw_commit;
    callbacks->message_cb = bw_message;
    callbacks->shutdown_cb = bw_shutdown;
}

}  // extern "C"
