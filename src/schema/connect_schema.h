// Kafka Connect's schema JSON for a schema of the model, as Kafka's JsonConverter writes it in
// every message with schemas.enable=true: a union with "null" is an optional type, a record a
// struct, and the connect_* annotations of AvroType give names, versions and parameters.
#pragma once

#include <string>

#include "schema/avro_schema.h"

namespace bw {

std::string render_connect_schema(const AvroType& schema);

}  // namespace bw
