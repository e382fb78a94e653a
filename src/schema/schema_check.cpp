// Avro schema validation with avro-c (see schema_check.h).
#include "schema/schema_check.h"

#include <avro.h>

#include <stdexcept>

namespace bw {

void check_schema_json(const std::string& schema_json) {
    avro_schema_t schema = nullptr;
    if (avro_schema_from_json_length(schema_json.data(), schema_json.size(), &schema) != 0)
        throw std::runtime_error(std::string("generated an invalid Avro schema (") +
                                 avro_strerror() + "): " + schema_json);
    avro_schema_decref(schema);
}

}  // namespace bw
