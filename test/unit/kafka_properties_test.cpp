// The kafka_config / topic_config text: entries, and errors that never quote what was written.
#include <gtest/gtest.h>

#include "produce/kafka_properties.h"

namespace bw {
namespace {

TEST(KafkaProperties, ParsesEntriesTrimmedSkippingEmptyOnes) {
    const KafkaProperties parsed =
        parse_kafka_properties(" security.protocol = SASL_SSL ;; linger.ms=5; ");
    const KafkaProperties expected = {{"security.protocol", "SASL_SSL"}, {"linger.ms", "5"}};
    EXPECT_EQ(parsed, expected);
}

std::string error_of(std::string_view text) {
    try {
        parse_kafka_properties(text);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "";
}

TEST(KafkaProperties, ErrorsNameTheEntryByPositionNeverByItsText) {
    EXPECT_EQ(error_of("linger.ms=5; sasl.password s3cret"),
              "entry 2 is not of the form name=value");
    EXPECT_EQ(error_of("; =s3cret"), "entry 1 has no name");
}

TEST(KafkaProperties, CredentialsAreSecretsKeyFilePathsAreNot) {
    for (const char* name : {"sasl.password", "ssl.key.password", "ssl.key.pem",
                             "ssl.keystore.password", "sasl.oauthbearer.client.secret",
                             "sasl.oauthbearer.config"})
        EXPECT_TRUE(is_secret_kafka_property(name)) << name;
    for (const char* name : {"sasl.username", "ssl.key.location", "security.protocol", "acks"})
        EXPECT_FALSE(is_secret_kafka_property(name)) << name;
}

}  // namespace
}  // namespace bw
