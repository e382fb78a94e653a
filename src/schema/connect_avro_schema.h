// Kafka Connect's schema as its Avro converter registers it (Confluent's AvroData, which
// Apicurio's converter shares): records named by their Connect name split into namespace and
// name, and each type's Connect annotations kept as connect.* properties, so that an
// AvroConverter reads our events back into the Connect schemas Debezium's consumers expect.
#pragma once

#include <string>

#include "schema/avro_schema.h"

namespace bw {

std::string render_connect_avro_schema(const AvroType& schema);

}  // namespace bw
