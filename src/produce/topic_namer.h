// Produce phase: the Kafka topic of each table. `<prefix><table>` for tables in public,
// `<prefix><schema>.<table>` elsewhere; characters Kafka forbids are mapped deterministically.
#pragma once

#include <string>
#include <string_view>

namespace bw {

// Kafka allows [A-Za-z0-9._-] and at most 249 characters. The mapping is injective: every other
// byte of the UTF-8 name becomes "_x" and two lowercase hex digits ("my table" -> "my_x20table"),
// and so do '.' (the schema separator is the only dot a table adds) and the '_' of a literal
// "_x" (so no name reads as an escape); every other '_' is kept, so ordinary names read as
// themselves. A topic that would still be too long is cut to 240 characters and ended with '-'
// and 8 hex digits of the FNV-1a hash of the whole name.
std::string topic_for_table(std::string_view prefix, std::string_view schema_name,
                            std::string_view table_name);

// The debezium envelope's topics: `<logical name>.<schema>.<table>`, every schema named, as
// Debezium names them for topic.prefix = <logical name>; the names mapped and cut as above.
std::string debezium_topic_for_table(std::string_view logical_name, std::string_view schema_name,
                                     std::string_view table_name);

// Debezium's topic.prefix for a bottledwater.topic_prefix: the prefix without one trailing '.',
// or the database's name when that leaves nothing.
std::string debezium_logical_name(std::string_view topic_prefix, std::string_view database);

// The character mapping applied to one name (the prefix is checked, not mapped).
std::string escape_topic_chars(std::string_view name);

// Kafka refuses a topic that differs from an existing one only in '.' versus '_' (their metric
// names would be the same): two topics collide in Kafka when their foldings are equal.
std::string kafka_topic_folding(std::string_view topic);
bool kafka_topics_collide(std::string_view a, std::string_view b);

}  // namespace bw
