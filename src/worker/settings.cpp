// Configuration: the bottledwater.* GUC table. Settings a worker reads at start are PGC_SUSET so
// that `ALTER DATABASE ... SET` can override them per database; max_workers sizes shared memory.
#include "worker/settings.h"

extern "C" {
#include "postgres.h"
#include "miscadmin.h"
#include "replication/slot.h"
#include "utils/guc.h"
}

#include <cstdio>
#include <cstring>
#include <string>
#include <stdexcept>

#include "decode/capture_set.h"
#include "encode/change_envelope.h"
#include "produce/kafka_properties.h"
#include "produce/topic_namer.h"

namespace bw {

char* setting_kafka_brokers = nullptr;
int setting_output_format = static_cast<int>(WorkerFormat::Avro);
char* setting_schema_registry_url = nullptr;
char* setting_schema_registry_user_info = nullptr;
char* setting_schema_registry_ca_file = nullptr;
char* setting_topic_prefix = nullptr;
bool setting_allow_unkeyed = false;
bool setting_message_headers = false;
int setting_envelope = static_cast<int>(EnvelopeKind::Row);
bool setting_json_schemas = true;
char* setting_publication = nullptr;
char* setting_slot_name = nullptr;
int setting_on_error = static_cast<int>(OnError::Exit);
bool setting_skip_snapshot = false;
char* setting_kafka_config = nullptr;
char* setting_topic_config = nullptr;
char* setting_kafka_secret_config = nullptr;
int setting_poll_interval_ms = 25;
int setting_snapshot_chunk_rows = 4096;
int setting_snapshot_chunk_kb = 16384;
bool setting_snapshot_new_tables = false;
int setting_initial_snapshot = static_cast<int>(InitialSnapshot::Consistent);
int setting_max_workers = 8;
int setting_delivery = static_cast<int>(DeliveryMode::AtLeastOnce);
char* setting_offsets_topic = nullptr;
char* setting_transaction_topic = nullptr;
int setting_transaction_interval_ms = 50;

namespace {

const struct config_enum_entry format_options[] = {
    {"avro", static_cast<int>(WorkerFormat::Avro), false},
    {"json", static_cast<int>(WorkerFormat::Json), false},
    {nullptr, 0, false},
};

const struct config_enum_entry envelope_options[] = {
    {"row", static_cast<int>(EnvelopeKind::Row), false},
    {"debezium", static_cast<int>(EnvelopeKind::Debezium), false},
    {nullptr, 0, false},
};

const struct config_enum_entry initial_snapshot_options[] = {
    {"consistent", static_cast<int>(InitialSnapshot::Consistent), false},
    {"incremental", static_cast<int>(InitialSnapshot::Incremental), false},
    {nullptr, 0, false},
};

const struct config_enum_entry delivery_options[] = {
    {"at_least_once", static_cast<int>(DeliveryMode::AtLeastOnce), false},
    {"exactly_once", static_cast<int>(DeliveryMode::ExactlyOnce), false},
    {nullptr, 0, false},
};

const struct config_enum_entry on_error_options[] = {
    {"exit", static_cast<int>(OnError::Exit), false},
    {"log", static_cast<int>(OnError::Log), false},
    {nullptr, 0, false},
};

bool check_property_list(const char* text, KafkaProperties* parsed) {
    try {
        *parsed = parse_kafka_properties(text ? text : "");
        return true;
    } catch (const std::exception& e) {
        GUC_check_errmsg("invalid librdkafka property list: %s", e.what());
        GUC_check_errhint(
            "Use name=value pairs separated by semicolons, e.g. "
            "'security.protocol=SSL; ssl.ca.location=/etc/ssl/ca.pem'.");
        return false;
    }
}

// kafka_config and topic_config: readable where they are stored (pg_db_role_setting is readable
// by every role), so credentials are refused here and have a home of their own.
bool check_properties(char** newval, void** extra, GucSource source) {
    KafkaProperties parsed;
    if (!check_property_list(*newval, &parsed)) return false;
    for (const auto& property : parsed) {
        if (!is_secret_kafka_property(property.first)) continue;
        GUC_check_errmsg("librdkafka property \"%s\" holds a secret", property.first.c_str());
        GUC_check_errhint(
            "Set it in bottledwater.kafka_secret_config, in postgresql.conf or with ALTER "
            "SYSTEM: only superusers can read that setting.");
        return false;
    }
    return true;
}

bool check_secret_properties(char** newval, void** extra, GucSource source) {
    KafkaProperties parsed;
    return check_property_list(*newval, &parsed);
}

// Kafka's topic characters; GUC_check_errmsg names `what` when another one is there.
bool only_topic_chars(const char* value, const char* what) {
    for (const char* c = value; *c; c++) {
        if (!(isalnum(static_cast<unsigned char>(*c)) || *c == '.' || *c == '_' || *c == '-')) {
            GUC_check_errmsg("%s \"%s\" contains a character Kafka does not allow in topic names",
                             what, value);
            GUC_check_errhint("Use only ASCII letters, digits, '.', '_' and '-'.");
            return false;
        }
    }
    return true;
}

bool check_topic_prefix(char** newval, void** extra, GucSource source) {
    if (!only_topic_chars(*newval ? *newval : "", "topic prefix")) return false;
    if (*newval && strlen(*newval) > 100) {
        GUC_check_errmsg("topic prefix is longer than 100 characters");
        return false;
    }
    return true;
}

// `what` names the setting in GUC_check_errmsg.
bool legal_topic_name(const char* topic, const char* what) {
    if (!only_topic_chars(topic, what)) return false;
    if (topic[0] == '\0' || strlen(topic) > 249 || strcmp(topic, ".") == 0 ||
        strcmp(topic, "..") == 0) {
        GUC_check_errmsg("%s \"%s\" is not a Kafka topic name", what, topic);
        GUC_check_errhint("Give 1 to 249 characters, other than \".\" and \"..\".");
        return false;
    }
    return true;
}

bool check_offsets_topic(char** newval, void** extra, GucSource source) {
    return legal_topic_name(*newval ? *newval : "", "offsets topic");
}

// Empty: no transaction topic.
bool check_transaction_topic(char** newval, void** extra, GucSource source) {
    const char* topic = *newval ? *newval : "";
    return topic[0] == '\0' || legal_topic_name(topic, "transaction topic");
}

// Empty means the per-database default (see default_slot_name).
bool check_slot_name(char** newval, void** extra, GucSource source) {
    const char* name = *newval ? *newval : "";
    if (strlen(name) >= NAMEDATALEN) {
        GUC_check_errmsg("replication slot name must have at most %d characters", NAMEDATALEN - 1);
        return false;
    }
    for (const char* c = name; *c; c++) {
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) {
            GUC_check_errmsg("replication slot name \"%s\" contains invalid character", name);
            GUC_check_errhint(
                "Replication slot names may only contain lower case letters, "
                "numbers, and the underscore character.");
            return false;
        }
    }
    return true;
}

// Only the syntax: the publications live in the worker's database, which may not be this one.
bool check_publication(char** newval, void** extra, GucSource source) {
    std::vector<std::string> names;
    if (split_publication_names(*newval ? *newval : "", &names)) return true;
    GUC_check_errmsg("invalid list of publication names \"%s\"", *newval);
    GUC_check_errhint(
        "Give publication names separated by commas, e.g. 'orders_pub, billing_pub'.");
    return false;
}

bool check_url(char** newval, void** extra, GucSource source) {
    const char* url = *newval ? *newval : "";
    if (*url == '\0' || strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
        return true;
    GUC_check_errmsg("schema registry URL \"%s\" does not start with http:// or https://", url);
    return false;
}

}  // namespace

std::string envelope_topic(const char* topic_prefix, const char* database,
                           const std::string& schema_name, const std::string& table_name) {
    if (static_cast<EnvelopeKind>(setting_envelope) != EnvelopeKind::Debezium)
        return topic_for_table(topic_prefix, schema_name, table_name);
    return debezium_topic_for_table(debezium_logical_name(topic_prefix, database ? database : ""),
                                    schema_name, table_name);
}

void default_slot_name(const char* dbname, char* out) {
    std::string name = "bottledwater_";
    for (const char* c = dbname; *c; c++) {
        const unsigned char byte = static_cast<unsigned char>(*c);
        if ((byte >= 'a' && byte <= 'z') || (byte >= '0' && byte <= '9') || byte == '_') {
            name.push_back(static_cast<char>(byte));
        } else if (byte >= 'A' && byte <= 'Z') {
            name.push_back(static_cast<char>(byte - 'A' + 'a'));
        } else {
            char hex[4];
            snprintf(hex, sizeof hex, "_%02x", byte);
            name += hex;
        }
    }
    strlcpy(out, name.c_str(), NAMEDATALEN);
}

void define_settings() {
    DefineCustomStringVariable("bottledwater.kafka_brokers",
                               "Kafka bootstrap servers the workers produce to.",
                               "A comma-separated host:port list.", &setting_kafka_brokers,
                               "localhost:9092", PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomEnumVariable("bottledwater.output_format",
                             "Encoding of Kafka keys and values: avro or json.", nullptr,
                             &setting_output_format, static_cast<int>(WorkerFormat::Avro),
                             format_options, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("bottledwater.schema_registry_url",
                               "Confluent-compatible schema registry for output_format avro.",
                               nullptr, &setting_schema_registry_url, "", PGC_SUSET, 0, check_url,
                               nullptr, nullptr);
    // The password must not be readable by other roles: superuser-only, and kept out of SHOW ALL.
    DefineCustomStringVariable("bottledwater.schema_registry_user_info",
                               "Basic authentication for the schema registry, 'user:password'.",
                               nullptr, &setting_schema_registry_user_info, "", PGC_SUSET,
                               GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("bottledwater.schema_registry_ca_file",
                               "PEM file of the CAs that verify the schema registry's certificate.",
                               nullptr, &setting_schema_registry_ca_file, "", PGC_SUSET, 0,
                               nullptr, nullptr, nullptr);
    DefineCustomStringVariable("bottledwater.topic_prefix", "Prepended to every topic name.",
                               nullptr, &setting_topic_prefix, "", PGC_SUSET, 0, check_topic_prefix,
                               nullptr, nullptr);
    DefineCustomBoolVariable("bottledwater.allow_unkeyed",
                             "Stream tables without a primary key or replica identity index, "
                             "with null Kafka keys.",
                             nullptr, &setting_allow_unkeyed, false, PGC_SUSET, 0, nullptr, nullptr,
                             nullptr);
    DefineCustomBoolVariable("bottledwater.message_headers",
                             "Give every Kafka message bw.* record headers: operation, commit "
                             "LSN, xid, commit time, position in its transaction, table, schema "
                             "version.",
                             nullptr, &setting_message_headers, false, PGC_SUSET, 0, nullptr,
                             nullptr, nullptr);
    DefineCustomEnumVariable("bottledwater.envelope",
                             "What each change's messages look like: row (bottledwater's own) or "
                             "debezium (Debezium's PostgreSQL connector's change events).",
                             nullptr, &setting_envelope, static_cast<int>(EnvelopeKind::Row),
                             envelope_options, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("bottledwater.transaction_topic",
                               "Topic of each transaction's BEGIN and END records, as Debezium's "
                               "provide.transaction.metadata writes them; empty: none.",
                               "Also fills each event's transaction block (debezium envelope) or "
                               "its bw.txn_id, bw.total_order and bw.data_collection_order "
                               "headers.",
                               &setting_transaction_topic, "", PGC_SUSET, 0,
                               check_transaction_topic, nullptr, nullptr);
    DefineCustomBoolVariable("bottledwater.json_schemas",
                             "Under the debezium envelope in JSON, wrap each key and value as "
                             "Kafka Connect's JsonConverter does with schemas.enable=true.",
                             nullptr, &setting_json_schemas, true, PGC_SUSET, 0, nullptr, nullptr,
                             nullptr);
    DefineCustomStringVariable("bottledwater.publication",
                               "Publications whose tables, operations and rows the worker streams.",
                               "A comma-separated list; empty streams every table.",
                               &setting_publication, "", PGC_SUSET, 0, check_publication, nullptr,
                               nullptr);
    DefineCustomStringVariable(
        "bottledwater.slot_name", "Replication slot of the worker (one per database).",
        "Empty: bottledwater_<database>.", &setting_slot_name, "", PGC_SUSET, 0, check_slot_name,
        nullptr, nullptr);
    DefineCustomEnumVariable("bottledwater.on_error",
                             "What a worker does with a change it cannot encode or produce "
                             "permanently: exit (and retry from the slot) or log it.",
                             nullptr, &setting_on_error, static_cast<int>(OnError::Exit),
                             on_error_options, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("bottledwater.skip_snapshot",
                             "Start streaming at the new slot without dumping existing rows.",
                             nullptr, &setting_skip_snapshot, false, PGC_SUSET, 0, nullptr, nullptr,
                             nullptr);
    DefineCustomStringVariable("bottledwater.kafka_config",
                               "librdkafka producer properties, 'name=value; name=value'.", nullptr,
                               &setting_kafka_config, "", PGC_SUSET, GUC_SUPERUSER_ONLY,
                               check_properties, nullptr, nullptr);
    // Credentials: not settable per database or role (PGC_SIGHUP keeps them out of
    // pg_db_role_setting), and hidden from other roles like schema_registry_user_info.
    DefineCustomStringVariable("bottledwater.kafka_secret_config",
                               "librdkafka properties that hold credentials, 'name=value; ...'.",
                               "Added to kafka_config; only superusers can read it.",
                               &setting_kafka_secret_config, "", PGC_SIGHUP,
                               GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL, check_secret_properties,
                               nullptr, nullptr);
    DefineCustomStringVariable(
        "bottledwater.topic_config", "librdkafka topic properties, 'name=value; name=value'.",
        nullptr, &setting_topic_config, "", PGC_SUSET, 0, check_properties, nullptr, nullptr);
    DefineCustomIntVariable("bottledwater.poll_interval_ms",
                            "How long a worker sleeps when it has caught up with the WAL.", nullptr,
                            &setting_poll_interval_ms, 25, 1, 60000, PGC_SUSET, GUC_UNIT_MS,
                            nullptr, nullptr, nullptr);
    DefineCustomIntVariable("bottledwater.snapshot_chunk_rows",
                            "Rows an incremental snapshot reads per chunk, between two passes "
                            "of decoding.",
                            "At most one chunk is sent twice after a crash.",
                            &setting_snapshot_chunk_rows, 4096, 1, 1000000, PGC_SUSET, 0, nullptr,
                            nullptr, nullptr);
    DefineCustomIntVariable("bottledwater.snapshot_chunk_bytes",
                            "Encoded bytes after which an incremental snapshot's chunk ends "
                            "before snapshot_chunk_rows rows.",
                            "Bounds the memory of the chunk a worker holds until its watermark; "
                            "the row that reaches it is the chunk's last.",
                            &setting_snapshot_chunk_kb, 16384, 1, INT_MAX / 1024, PGC_SUSET,
                            GUC_UNIT_KB, nullptr, nullptr, nullptr);
    DefineCustomBoolVariable("bottledwater.snapshot_new_tables",
                             "Snapshot incrementally every table that enters the capture set "
                             "while the worker runs (added to a publication).",
                             nullptr, &setting_snapshot_new_tables, false, PGC_SUSET, 0, nullptr,
                             nullptr, nullptr);
    DefineCustomEnumVariable("bottledwater.initial_snapshot",
                             "How a new slot's existing rows are sent: consistent (one "
                             "transaction, before streaming) or incremental (in chunks, while "
                             "streaming).",
                             nullptr, &setting_initial_snapshot,
                             static_cast<int>(InitialSnapshot::Consistent),
                             initial_snapshot_options, PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomEnumVariable("bottledwater.delivery",
                             "at_least_once (a crash may repeat changes) or exactly_once (Kafka "
                             "transactions; read_committed consumers see each change once).",
                             nullptr, &setting_delivery,
                             static_cast<int>(DeliveryMode::AtLeastOnce), delivery_options,
                             PGC_SUSET, 0, nullptr, nullptr, nullptr);
    DefineCustomStringVariable("bottledwater.offsets_topic",
                               "Compacted topic where exactly_once records the highest commit "
                               "LSN Kafka holds of each slot.",
                               "Created when missing; shared by every database of a cluster.",
                               &setting_offsets_topic, "_bottledwater_offsets", PGC_SUSET, 0,
                               check_offsets_topic, nullptr, nullptr);
    DefineCustomIntVariable("bottledwater.transaction_interval_ms",
                            "Under exactly_once, how long a Kafka transaction collects "
                            "PostgreSQL transactions before it commits.",
                            nullptr, &setting_transaction_interval_ms, 50, 1, 600000, PGC_SUSET,
                            GUC_UNIT_MS, nullptr, nullptr, nullptr);
    // A postmaster-level setting can only be defined while the library is preloaded; loaded later
    // (as an output plugin, or by CREATE EXTENSION) it has no workers to size anyway.
    if (process_shared_preload_libraries_in_progress)
        DefineCustomIntVariable(
            "bottledwater.max_workers", "Databases that can be streamed at the same time.",
            nullptr, &setting_max_workers, 8, 1, 1024, PGC_POSTMASTER, 0, nullptr, nullptr,
            nullptr);
    MarkGUCPrefixReserved("bottledwater");
}

// The name 0.1.0 gave every database's slot.
constexpr char kReleasedDefaultSlotName[] = "bottledwater";

void resolve_slot_name(const char* configured, unsigned int database, const char* dbname,
                       char* out) {
    if (configured != nullptr && configured[0] != '\0') {
        strlcpy(out, configured, NAMEDATALEN);
        return;
    }
    ReplicationSlot* released = SearchNamedReplicationSlot(kReleasedDefaultSlotName, true);
    if (released != nullptr && released->data.database == database &&
        strcmp(NameStr(released->data.plugin), "bottledwater") == 0) {
        strlcpy(out, kReleasedDefaultSlotName, NAMEDATALEN);
        return;
    }
    default_slot_name(dbname, out);
}

}  // namespace bw
