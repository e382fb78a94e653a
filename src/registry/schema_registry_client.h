// Registry phase: registers each generated Avro schema with a Confluent-compatible Schema
// Registry and gets back the id that goes into every message's wire-format header.
// Synchronous (libcurl easy interface) and single-threaded: the worker calls it between batches.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "produce/capped_map.h"

namespace bw {

struct SchemaRegistryOptions {
    std::string base_url;    // e.g. http://registry:8081 or .../apis/ccompat/v7
    std::string basic_auth;  // "user:password", empty for none
    std::string ca_file;     // PEM bundle to verify the registry's certificate, empty for default
    long connect_timeout_ms = 5000;
    long request_timeout_ms = 30000;
};

// Every message names the registry without credentials.
class RegistryError : public std::runtime_error {
public:
    RegistryError(const std::string& message, long http_status)
        : std::runtime_error(message), http_status_(http_status) {}
    // 0 when no HTTP response arrived.
    long http_status() const { return http_status_; }

private:
    long http_status_;
};

// Connection refused, timeout, 5xx, 408, 429: worth retrying after a backoff.
class RegistryUnavailable : public RegistryError {
public:
    using RegistryError::RegistryError;
};

// Any other 4xx (401/403 refused credentials, 404 from a mistyped URL or a proxy in front of the
// registry): an answer about the request, not about the schema, so no table may be given up on it.
class RegistryRefused : public RegistryError {
public:
    using RegistryError::RegistryError;
};

// A verdict on the schema itself: 409 incompatible with the subject's compatibility rule, 422 not
// a valid schema. Retrying the same registration will not help.
class SchemaRejected : public RegistryError {
public:
    SchemaRejected(const std::string& message, std::string subject, long http_status,
                   long registry_error_code, std::string registry_message)
        : RegistryError(message, http_status),
          subject_(std::move(subject)),
          registry_error_code_(registry_error_code),
          registry_message_(std::move(registry_message)) {}
    const std::string& subject() const { return subject_; }
    // The registry's own error_code (e.g. 409, 42201), 0 if it sent none.
    long registry_error_code() const { return registry_error_code_; }
    const std::string& registry_message() const { return registry_message_; }

private:
    std::string subject_;
    long registry_error_code_;
    std::string registry_message_;
};

class SchemaRegistryClient {
public:
    explicit SchemaRegistryClient(SchemaRegistryOptions options);
    ~SchemaRegistryClient();
    SchemaRegistryClient(const SchemaRegistryClient&) = delete;
    SchemaRegistryClient& operator=(const SchemaRegistryClient&) = delete;

    // Returns the schema's id under the subject. The registry answers an identical registration
    // with the same id, so (subject, text) pairs seen before are answered from memory.
    int register_schema(const std::string& subject, const std::string& avro_schema_json);
    // The full name of the record the subject's latest version holds; "" when the subject has
    // none, or its latest schema is no named record. Always asks the registry.
    std::string latest_record_name(const std::string& subject);
    // Schemas are immutable under their id, so fetched ones are remembered too.
    std::string fetch_schema(int id);

    // Drops the ids remembered for one subject (its table was dropped).
    void forget_subject(const std::string& subject);
    // Drops every remembered id, so the next calls ask the registry again: after an outage the
    // registry may have lost what it held (an in-memory one, or one restored from a backup).
    void forget() {
        registered_.clear();
        fetched_.clear();
    }

private:
    struct Response {
        long status;
        std::string body;
    };
    Response send(const char* method, const std::string& path, const std::string* body);
    std::string versions_path(const std::string& subject);
    // The schema text of a GET that answers {"schema": "..."}; nullopt for a 404 when
    // `absent_is_none`. Any other failure throws, a 5xx as RegistryUnavailable.
    std::optional<std::string> get_schema(const std::string& path, const std::string& what,
                                          bool absent_is_none);

    SchemaRegistryOptions options_;
    std::string display_url_;  // base_url with any user:password@ removed, for messages
    struct Curl;
    std::unique_ptr<Curl> curl_;
    // By subject and schema text; bounded, since outbox topics and schema versions come and go.
    CappedMap<std::pair<std::string, std::string>, int> registered_{4096};
    CappedMap<int, std::string> fetched_{1024};
};

}  // namespace bw
