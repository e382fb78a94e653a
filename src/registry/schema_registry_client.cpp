// Registry phase: the Schema Registry REST calls over libcurl (see schema_registry_client.h).
#include "registry/schema_registry_client.h"

#include <curl/curl.h>

#include <charconv>
#include <cstdint>
#include <mutex>

#include "encode/json_text.h"
#include "registry/registry_json.h"

namespace bw {

namespace {

constexpr char kContentType[] = "Content-Type: application/vnd.schemaregistry.v1+json";
constexpr char kAccept[] = "Accept: application/vnd.schemaregistry.v1+json, application/json";

// curl_global_init is not thread-safe; it runs once per process and is never undone, because
// other code in the same backend may use libcurl too.
void init_curl_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (rc != CURLE_OK) {
            throw RegistryError(std::string("cannot initialise libcurl: ") + curl_easy_strerror(rc),
                                0);
        }
    });
}

std::string without_trailing_slash(std::string url) {
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url;
}

// Credentials may also be written into the URL itself: keep them out of every message.
std::string without_userinfo(const std::string& url) {
    const size_t scheme_end = url.find("://");
    const size_t authority = scheme_end == std::string::npos ? 0 : scheme_end + 3;
    const size_t at = url.find('@', authority);
    if (at == std::string::npos || at > url.find('/', authority)) return url;
    return url.substr(0, authority) + url.substr(at + 1);
}

// A libcurl callback: no exception may leave it. Returning less than was given makes libcurl
// fail the request (CURLE_WRITE_ERROR), which is reported as any transport error.
size_t append_to_string(char* data, size_t size, size_t count, void* target) noexcept {
    try {
        static_cast<std::string*>(target)->append(data, size * count);
        return size * count;
    } catch (...) {
        return 0;
    }
}

bool parse_long(const std::string& text, long& value) {
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    return ec == std::errc() && ptr == end;
}

// Registries answer errors with {"error_code": N, "message": "..."}; anything else (an HTML page
// from a proxy) is shown as is, shortened.
std::pair<long, std::string> registry_error_of(const std::string& body) {
    try {
        const JsonFields fields = read_top_level_fields(body);
        long code = 0;
        auto found = fields.find("error_code");
        if (found != fields.end()) parse_long(found->second, code);
        found = fields.find("message");
        if (found != fields.end()) return {code, found->second};
    } catch (const MalformedJson&) {
    }
    return {0, body.substr(0, 200)};
}

bool retryable_status(long status) {
    return status >= 500 || status == 408 || status == 429;
}

// Confluent's registry (and Apicurio's ccompat API) answer these, and only these, about the schema.
bool schema_verdict_status(long status) {
    return status == 409 || status == 422;
}

}  // namespace

struct SchemaRegistryClient::Curl {
    struct EasyRelease {
        void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
    };
    struct ListRelease {
        void operator()(curl_slist* list) const { curl_slist_free_all(list); }
    };
    // One handle for all requests, so the connection to the registry is reused.
    std::unique_ptr<CURL, EasyRelease> easy;
    std::unique_ptr<curl_slist, ListRelease> headers;
    char error[CURL_ERROR_SIZE];
};

SchemaRegistryClient::SchemaRegistryClient(SchemaRegistryOptions options)
    : options_(std::move(options)), curl_(std::make_unique<Curl>()) {
    init_curl_once();
    options_.base_url = without_trailing_slash(options_.base_url);
    display_url_ = without_userinfo(options_.base_url);
    curl_->easy.reset(curl_easy_init());
    if (!curl_->easy) throw RegistryError("cannot create a libcurl handle", 0);
    curl_->headers.reset(curl_slist_append(nullptr, kContentType));
    if (!curl_->headers || !curl_slist_append(curl_->headers.get(), kAccept)) {
        throw RegistryError("cannot build HTTP headers", 0);
    }
}

SchemaRegistryClient::~SchemaRegistryClient() = default;

int SchemaRegistryClient::register_schema(const std::string& subject,
                                          const std::string& avro_schema_json) {
    auto key = std::make_pair(subject, avro_schema_json);
    if (const int* cached = registered_.find(key)) return *cached;

    std::string body = "{\"schema\":";
    append_json_string(body, avro_schema_json);
    body += '}';

    const Response response = send("POST", versions_path(subject), &body);
    if (response.status >= 400) {
        auto [code, message] = registry_error_of(response.body);
        const std::string answer = " for subject \"" + subject + "\" (HTTP " +
                                   std::to_string(response.status) + "): " + message;
        if (retryable_status(response.status))
            throw RegistryUnavailable(
                "schema registry at " + display_url_ + " unavailable registering the schema" +
                    answer,
                response.status);
        if (!schema_verdict_status(response.status))
            throw RegistryRefused("schema registry at " + display_url_ +
                                      " refused the request registering the schema" + answer,
                                  response.status);
        throw SchemaRejected("schema registry at " + display_url_ + " rejected the schema" + answer,
                             subject, response.status, code, std::move(message));
    }

    long id = 0;
    try {
        const JsonFields fields = read_top_level_fields(response.body);
        const auto found = fields.find("id");
        if (found == fields.end() || !parse_long(found->second, id) || id < 0 || id > INT32_MAX) {
            throw MalformedJson("no integer \"id\" member");
        }
    } catch (const MalformedJson& e) {
        throw RegistryError("schema registry at " + display_url_ + " answered the registration " +
                                "for subject \"" + subject + "\" without a schema id (" + e.what() +
                                ")",
                            response.status);
    }
    return registered_.insert(std::move(key), static_cast<int>(id));
}

std::string SchemaRegistryClient::versions_path(const std::string& subject) {
    // Subjects are derived from table names, which may hold characters a URL path cannot.
    std::unique_ptr<char, decltype(&curl_free)> escaped(
        curl_easy_escape(curl_->easy.get(), subject.data(), static_cast<int>(subject.size())),
        curl_free);
    if (!escaped) throw RegistryError("cannot escape subject \"" + subject + "\"", 0);
    return "/subjects/" + std::string(escaped.get()) + "/versions";
}

std::string SchemaRegistryClient::latest_record_name(const std::string& subject) {
    const std::optional<std::string> schema = get_schema(
        versions_path(subject) + "/latest", "the latest schema of subject \"" + subject + "\"",
        true);
    if (!schema || schema->empty() || (*schema)[0] != '{') return "";  // none, or no record
    try {
        const JsonFields record = read_top_level_fields(*schema);
        const auto name = record.find("name");
        if (name == record.end()) return "";
        const auto space = record.find("namespace");
        if (name->second.find('.') != std::string::npos || space == record.end() ||
            space->second.empty())
            return name->second;
        return space->second + "." + name->second;
    } catch (const MalformedJson&) {
        return "";  // no record it could hold
    }
}

void SchemaRegistryClient::forget_subject(const std::string& subject) {
    // Ordered by subject first, so its registrations are one range.
    auto& entries = registered_.entries();
    auto first = entries.lower_bound(std::make_pair(subject, std::string()));
    auto last = first;
    while (last != entries.end() && last->first.first == subject) ++last;
    entries.erase(first, last);
}

std::string SchemaRegistryClient::fetch_schema(int id) {
    if (const std::string* cached = fetched_.find(id)) return *cached;
    const std::string path = "/schemas/ids/" + std::to_string(id);
    return fetched_.insert(id, *get_schema(path, "schema " + std::to_string(id), false));
}

std::optional<std::string> SchemaRegistryClient::get_schema(const std::string& path,
                                                            const std::string& what,
                                                            bool absent_is_none) {
    const Response response = send("GET", path, nullptr);
    if (absent_is_none && response.status == 404) return std::nullopt;
    if (response.status >= 400) {
        const std::string registry = "schema registry at " + display_url_;
        const std::string answer = " reading " + what + " (HTTP " +
                                   std::to_string(response.status) +
                                   "): " + registry_error_of(response.body).second;
        if (retryable_status(response.status))
            throw RegistryUnavailable(registry + " unavailable" + answer, response.status);
        throw RegistryRefused(registry + " refused the request" + answer, response.status);
    }
    try {
        const JsonFields fields = read_top_level_fields(response.body);
        const auto found = fields.find("schema");
        if (found == fields.end()) throw MalformedJson("no \"schema\" member");
        return found->second;
    } catch (const MalformedJson& e) {
        throw RegistryError("schema registry at " + display_url_ + " answered for " + what +
                                " without a schema (" + e.what() + ")",
                            response.status);
    }
}

// Any status comes back to the caller; only the absence of an HTTP answer throws here.
SchemaRegistryClient::Response SchemaRegistryClient::send(const char* method,
                                                          const std::string& path,
                                                          const std::string* body) {
    CURL* easy = curl_->easy.get();
    // Reset clears the previous request's options but keeps the open connection.
    curl_easy_reset(easy);
    Response response{0, {}};
    const std::string url = options_.base_url + path;
    curl_->error[0] = '\0';

    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    // No signals for timeouts: this runs inside a PostgreSQL backend that owns its handlers.
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, options_.request_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, curl_->error);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, curl_->headers.get());
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, append_to_string);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &response.body);
    if (!options_.basic_auth.empty()) {
        curl_easy_setopt(easy, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
        curl_easy_setopt(easy, CURLOPT_USERPWD, options_.basic_auth.c_str());
    }
    if (!options_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, options_.ca_file.c_str());
    if (body != nullptr) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    } else {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }

    const CURLcode rc = curl_easy_perform(easy);
    if (rc != CURLE_OK) {
        const std::string detail = curl_->error[0] ? curl_->error : curl_easy_strerror(rc);
        throw RegistryUnavailable("schema registry at " + display_url_ + " unavailable (" + method +
                                      " " + path + "): " + detail,
                                  0);
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
}

}  // namespace bw
