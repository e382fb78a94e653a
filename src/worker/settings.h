// Configuration: every bottledwater.* GUC, defined once here with its check hook. The worker
// reads these after connecting, so `ALTER DATABASE ... SET bottledwater.x` applies per database.
#pragma once

#include <string>

namespace bw {

enum class OnError { Exit, Log };
enum class WorkerFormat { Avro, Json };
enum class InitialSnapshot { Consistent, Incremental };
enum class DeliveryMode { AtLeastOnce, ExactlyOnce };

extern char* setting_kafka_brokers;
extern int setting_output_format;  // WorkerFormat
extern char* setting_schema_registry_url;
extern char* setting_schema_registry_user_info;
extern char* setting_schema_registry_ca_file;
extern char* setting_topic_prefix;
extern bool setting_allow_unkeyed;
extern bool setting_message_headers;
extern int setting_envelope;  // EnvelopeKind
extern bool setting_json_schemas;
extern char* setting_publication;  // publication names; empty: every table
extern char* setting_slot_name;
extern int setting_on_error;  // OnError
extern bool setting_skip_snapshot;
extern char* setting_kafka_config;
extern char* setting_topic_config;
extern char* setting_kafka_secret_config;
extern int setting_poll_interval_ms;
extern int setting_snapshot_chunk_rows;
extern int setting_snapshot_chunk_kb;
extern bool setting_snapshot_new_tables;
extern int setting_initial_snapshot;  // InitialSnapshot
extern int setting_max_workers;
extern int setting_delivery;  // DeliveryMode
extern char* setting_offsets_topic;
extern char* setting_transaction_topic;  // empty: none
extern int setting_transaction_interval_ms;

void define_settings();

// The topic of a table under bottledwater.envelope in database `database`: topic_for_table, or
// for the debezium envelope debezium_topic_for_table (see topic_namer.h). The name is passed in,
// since the worker names topics outside any transaction (at a watermark) too.
std::string envelope_topic(const char* topic_prefix, const char* database,
                           const std::string& schema_name, const std::string& table_name);

// The slot a database's worker uses when bottledwater.slot_name is not set: one per database,
// "bottledwater_" and the database name in the characters a slot name may hold (letters
// lowercased, any other byte as two hex digits after '_'), cut to fit. Two databases that map
// to one name are refused by the slot's database check.
void default_slot_name(const char* dbname, char* out /* NAMEDATALEN bytes */);

// The slot the worker of `database` (named `dbname`) uses, `configured` being the
// bottledwater.slot_name it sees: that name when set; else the slot 0.1.0 created for this
// database under its single default name "bottledwater", so that an upgrade resumes where it
// stopped; else default_slot_name. The worker and bw_drop_slot both ask this.
void resolve_slot_name(const char* configured, unsigned int database, const char* dbname,
                       char* out /* NAMEDATALEN bytes */);

}  // namespace bw
