// Produce phase: the text form of librdkafka properties in bottledwater.kafka_config and
// bottledwater.topic_config, "name=value; name=value", parsed into the list KafkaSink takes.
#pragma once

#include <stdexcept>
#include <string_view>

#include "produce/kafka_sink.h"

namespace bw {

// Semicolons separate entries because values such as broker lists contain commas. Whitespace
// around names and values is dropped; empty entries are ignored. Throws std::invalid_argument
// naming, by its position among the entries, the one that has no '=' or no name.
KafkaProperties parse_kafka_properties(std::string_view text);

// Whether a property's value is a credential, which belongs in bottledwater.kafka_secret_config
// rather than in settings other roles can read.
bool is_secret_kafka_property(std::string_view name);

}  // namespace bw
