// Unit tests for the outbox payload bw_emit() writes and the decoder reads.
#include "encode/outbox_payload.h"

#include <gtest/gtest.h>

namespace bw {
namespace {

TEST(OutboxPayload, RoundTripsBytesExactlyAndNulls) {
    const std::string binary("\0\xff\x01k", 4);
    const std::string encoded =
        encode_outbox_payload({"orders.events", binary, std::nullopt, {}, {}});
    const OutboxMessage decoded = decode_outbox_payload(encoded);
    EXPECT_EQ(decoded.topic, "orders.events");
    ASSERT_TRUE(decoded.key.has_value());
    EXPECT_EQ(*decoded.key, binary);
    EXPECT_FALSE(decoded.value.has_value());

    const OutboxMessage empty = decode_outbox_payload(encode_outbox_payload({"t", "", "", {}, {}}));
    EXPECT_EQ(empty.key, std::optional<std::string_view>(""));
    EXPECT_EQ(empty.value, std::optional<std::string_view>(""));
}

TEST(OutboxPayload, ForeignBytesAreMalformed) {
    const std::string good = encode_outbox_payload({"t", "k", "v", {}, {}});
    EXPECT_THROW(decode_outbox_payload(good.substr(0, good.size() - 1)), MalformedOutboxPayload);
    EXPECT_THROW(decode_outbox_payload(good + "x"), MalformedOutboxPayload);
    EXPECT_THROW(decode_outbox_payload("{\"topic\": \"t\"}"), MalformedOutboxPayload);
    EXPECT_THROW(decode_outbox_payload(encode_outbox_payload({"bad topic", "k", "v", {}, {}})),
                 MalformedOutboxPayload);
}

TEST(OutboxPayload, TopicNamesFollowKafkasRule) {
    EXPECT_EQ(illegal_topic_reason("orders.events-v1_x"), "");
    EXPECT_EQ(illegal_topic_reason(std::string(249, 'a')), "");
    EXPECT_NE(illegal_topic_reason(std::string(250, 'a')), "");
    EXPECT_NE(illegal_topic_reason(""), "");
    EXPECT_NE(illegal_topic_reason("."), "");
    EXPECT_NE(illegal_topic_reason(".."), "");
    EXPECT_NE(illegal_topic_reason("caf\xc3\xa9"), "");
    EXPECT_NE(illegal_topic_reason("a/b"), "");
}

}  // namespace
}  // namespace bw
