// The envelope the worker's own readers of tables encode rows with (the first snapshot and the
// chunks of incremental ones): chosen and configured from the worker's settings, as the stream's
// decoding session is from the options the worker gives it, so that both encode alike.
#pragma once

#include <memory>

#include "decode/change_encoder.h"
#include "encode/change_envelope.h"

namespace bw {

// Needs a transaction (the debezium envelope names the database).
std::unique_ptr<ChangeEnvelope> make_worker_envelope();
// How that envelope maps PostgreSQL types.
TypeMapping worker_type_mapping();

}  // namespace bw
