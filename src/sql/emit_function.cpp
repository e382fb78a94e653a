// bw_emit(topic, key, value): the outbox. Writes a transactional logical decoding message under
// kOutboxPrefix, so the worker produces it to `topic` when, and only if, the calling transaction
// commits, in its place among that transaction's changes.
extern "C" {
#include "postgres.h"
#include "fmgr.h"
#include "replication/message.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif
}

#include <optional>
#include <string>

#include "encode/outbox_payload.h"
#include "pg_boundary.h"

namespace {

std::optional<std::string_view> optional_bytes(FunctionCallInfo fcinfo, int arg) {
    if (PG_ARGISNULL(arg)) return std::nullopt;
    // text and bytea share the varlena layout: one C function serves both SQL signatures.
    const bytea* bytes = PG_GETARG_BYTEA_PP(arg);
    return std::string_view(VARDATA_ANY(bytes), VARSIZE_ANY_EXHDR(bytes));
}

}  // namespace

extern "C" {

PG_FUNCTION_INFO_V1(bw_emit);
Datum bw_emit(PG_FUNCTION_ARGS) {
    if (PG_ARGISNULL(0))
        ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
                        errmsg("bottledwater: bw_emit needs a topic"),
                        errhint("Name the Kafka topic the message goes to.")));
    const text* topic_text = PG_GETARG_TEXT_PP(0);
    const std::string_view topic(VARDATA_ANY(topic_text), VARSIZE_ANY_EXHDR(topic_text));
    char illegal[256] = "";
    bw::guard_cpp("checking the topic", [&] {
        strlcpy(illegal, bw::illegal_topic_reason(topic).c_str(), sizeof illegal);
    });
    if (illegal[0] != '\0')
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("bottledwater: \"%.*s\" is not a legal Kafka topic name: %s",
                               static_cast<int>(Min(topic.size(), 300)), topic.data(), illegal),
                        errhint("Use 1 to 249 of the characters [A-Za-z0-9._-].")));

    char* payload = nullptr;
    size_t payload_size = 0;
    bw::guard_cpp("encoding the outbox message", [&] {
        const std::string encoded = bw::encode_outbox_payload(
            {topic, optional_bytes(fcinfo, 1), optional_bytes(fcinfo, 2)});
        payload = static_cast<char*>(palloc(encoded.size()));
        memcpy(payload, encoded.data(), encoded.size());
        payload_size = encoded.size();
    });
#if PG_VERSION_NUM >= 170000
    const XLogRecPtr lsn = LogLogicalMessage(bw::kOutboxPrefix, payload, payload_size, true, false);
#else
    const XLogRecPtr lsn = LogLogicalMessage(bw::kOutboxPrefix, payload, payload_size, true);
#endif
    pfree(payload);
    PG_RETURN_LSN(lsn);
}

}  // extern "C"
