// Outbox messages out of logical decoding messages (see outbox_decoding.h).
#include "decode/outbox_decoding.h"

extern "C" {
#include "postgres.h"
}

#include <cstring>
#include <string>

#include "encode/outbox_payload.h"
#include "snapshot/chunk_reconciler.h"

namespace bw {

// Non-transactional messages are left out: they are decoded even when the transaction that
// wrote them rolls back, and outside commit order, so they cannot publish "atomically with the
// rows". Foreign bytes under our prefix (a direct pg_logical_emit_message) would be met again on
// every replay, so they are skipped with a warning rather than stalling the stream.
void decode_logical_message(ChangeEnvelope& envelope, ChangeSink& sink, bool transactional,
                            const char* prefix, size_t size, const char* bytes,
                            const TransactionInfo& txn, uint64_t lsn) {
    if (!transactional && strcmp(prefix, kWatermarkPrefix) == 0)
        return sink.watermark(std::string_view(bytes, size), lsn);
    if (!transactional || strcmp(prefix, kOutboxPrefix) != 0) return;
    OutboxMessage message;
    std::string malformed;
    try {
        message = decode_outbox_payload(std::string_view(bytes, size));
    } catch (const MalformedOutboxPayload& e) {
        malformed = e.what();
    }
    if (malformed.empty()) return envelope.outbox_message(message, txn, lsn, sink);
    ereport(WARNING,
            (errmsg("bottledwater: skipping a logical decoding message with prefix \"%s\" that "
                    "bw_emit() did not write: %s",
                    kOutboxPrefix, malformed.c_str()),
             errhint("Publish outbox messages with bw_emit(topic, key, value).")));
}

}  // namespace bw
