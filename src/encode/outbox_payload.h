// Encode phase: the payload of an outbox message, the logical decoding message bw_emit() writes
// under the prefix kOutboxPrefix and the decoder turns into one Kafka message. Layout, each
// length 4 bytes big-endian: topic length, topic; key length (0xFFFFFFFF for a null key), key;
// value length (0xFFFFFFFF for a null value, a tombstone), value. Bytes round-trip exactly.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "encode/transaction_order.h"

namespace bw {

inline constexpr char kOutboxPrefix[] = "bottledwater.outbox";

struct OutboxMessage {
    std::string_view topic;
    std::optional<std::string_view> key;
    std::optional<std::string_view> value;
    // Set by the envelope, not part of the payload: the event's place in its transaction, and
    // the Avro schema the value is of, registered under <topic>-value (empty: the value goes
    // as it is, never registry-framed).
    EventOrder order;
    std::string_view value_schema_json;
};

// The payload is not one bw_emit() writes (someone called pg_logical_emit_message with our
// prefix and other bytes).
class MalformedOutboxPayload : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Kafka's rule for topic names: [A-Za-z0-9._-], 1 to 249 characters, not "." or "..". Returns
// what is wrong, or "" for a legal name.
std::string illegal_topic_reason(std::string_view topic);

std::string encode_outbox_payload(const OutboxMessage& message);
// Views into `payload`. Throws MalformedOutboxPayload, also for an illegal topic.
OutboxMessage decode_outbox_payload(std::string_view payload);

}  // namespace bw
