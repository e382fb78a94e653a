// Produce phase: parsing of the kafka_config / topic_config text (see kafka_properties.h).
#include "produce/kafka_properties.h"

#include <string>

namespace bw {

namespace {

std::string_view trim(std::string_view text) {
    const char* blanks = " \t\r\n";
    const size_t first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos) return {};
    const size_t last = text.find_last_not_of(blanks);
    return text.substr(first, last - first + 1);
}

}  // namespace

KafkaProperties parse_kafka_properties(std::string_view text) {
    KafkaProperties properties;
    // Errors name the entry by position only: its text may be a password.
    int position = 0;
    while (!text.empty()) {
        const size_t end = text.find(';');
        const std::string_view entry = trim(text.substr(0, end));
        text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
        if (entry.empty()) continue;
        position++;
        const size_t equals = entry.find('=');
        if (equals == std::string_view::npos)
            throw std::invalid_argument("entry " + std::to_string(position) +
                                        " is not of the form name=value");
        const std::string_view name = trim(entry.substr(0, equals));
        if (name.empty())
            throw std::invalid_argument("entry " + std::to_string(position) + " has no name");
        properties.emplace_back(std::string(name), std::string(trim(entry.substr(equals + 1))));
    }
    return properties;
}

bool is_secret_kafka_property(std::string_view name) {
    // The properties whose value is itself a credential (librdkafka marks them sensitive).
    // Paths to key files are not: the file's permissions guard the key.
    static constexpr std::string_view kSecrets[] = {
        "sasl.password",         "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config",
        "ssl.key.password",      "ssl.key.pem",                    "ssl.keystore.password",
    };
    for (const std::string_view secret : kSecrets) {
        if (name == secret) return true;
    }
    return false;
}

}  // namespace bw
