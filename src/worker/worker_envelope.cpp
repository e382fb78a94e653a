// The worker's envelope, from its settings (see worker_envelope.h).
#include "worker/worker_envelope.h"

#include "worker/settings.h"

namespace bw {

std::unique_ptr<ChangeEnvelope> make_worker_envelope() {
    const OutputFormat format = static_cast<WorkerFormat>(setting_output_format) ==
                                        WorkerFormat::Json
                                    ? OutputFormat::Json
                                    : OutputFormat::Avro;
    return make_envelope(envelope_config(static_cast<EnvelopeKind>(setting_envelope), format,
                                         setting_json_schemas, setting_topic_prefix, ""));
}

TypeMapping worker_type_mapping() {
    return type_mapping(static_cast<EnvelopeKind>(setting_envelope));
}

}  // namespace bw
