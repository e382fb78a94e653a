// Decode phase: logical decoding messages as an outbox. A transactional message under the prefix
// kOutboxPrefix (what bw_emit() writes) becomes an outbox message for the sink, in its place
// among the transaction's changes; a non-transactional one under kWatermarkPrefix is an
// incremental snapshot's watermark; every other message is left to whoever wrote it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "encode/change_envelope.h"

namespace bw {

// `txn` is the transaction a transactional message belongs to; the envelope frames the outbox
// message for the sink.
void decode_logical_message(ChangeEnvelope& envelope, ChangeSink& sink, bool transactional,
                            const char* prefix, size_t size, const char* bytes,
                            const TransactionInfo& txn, uint64_t lsn);

}  // namespace bw
