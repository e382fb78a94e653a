// Configuration: every bottledwater.* GUC, defined once here with its check hook. The worker
// reads these after connecting, so `ALTER DATABASE ... SET bottledwater.x` applies per database.
#pragma once

namespace bw {

enum class OnError { Exit, Log };
enum class WorkerFormat { Avro, Json };

extern char* setting_kafka_brokers;
extern int setting_output_format;  // WorkerFormat
extern char* setting_schema_registry_url;
extern char* setting_schema_registry_user_info;
extern char* setting_schema_registry_ca_file;
extern char* setting_topic_prefix;
extern bool setting_allow_unkeyed;
extern char* setting_publication;  // publication names; empty: every table
extern char* setting_slot_name;
// bottledwater.slot_name when nothing sets it.
constexpr const char* kDefaultSlotName = "bottledwater";
extern int setting_on_error;  // OnError
extern bool setting_skip_snapshot;
extern char* setting_kafka_config;
extern char* setting_topic_config;
extern char* setting_kafka_secret_config;
extern int setting_poll_interval_ms;
extern int setting_max_workers;

void define_settings();

}  // namespace bw
