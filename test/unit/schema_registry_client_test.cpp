// Unit tests for the registry client against a canned HTTP server on loopback: what is sent, how
// answers and failures are classified, what is cached, and that credentials never leak.
#include "registry/schema_registry_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bw {
namespace {

struct CannedResponse {
    int status;
    std::string body;
};

struct ReceivedRequest {
    std::string head;  // request line and headers
    std::string body;
};

// Serves one canned response per connection, in order, and closes; records every request.
// With no response left it accepts and stays silent, which looks like a hung registry.
class CannedHttpServer {
public:
    explicit CannedHttpServer(std::vector<CannedResponse> responses)
        : responses_(responses.begin(), responses.end()) {
        listener_ = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (bind(listener_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
            listen(listener_, 8) != 0 ||
            getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            throw std::runtime_error("cannot listen on loopback");
        }
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~CannedHttpServer() {
        stop_ = true;
        thread_.join();
        close(listener_);
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<ReceivedRequest> requests() {
        std::lock_guard<std::mutex> lock(mutex_);
        return requests_;
    }

private:
    void serve() {
        std::vector<int> silent;
        while (!stop_) {
            pollfd p{listener_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            const int conn = accept(listener_, nullptr, nullptr);
            if (conn < 0) continue;
            ReceivedRequest request = read_request(conn);
            std::lock_guard<std::mutex> lock(mutex_);
            requests_.push_back(request);
            if (responses_.empty()) {
                silent.push_back(conn);
                continue;
            }
            const CannedResponse r = responses_.front();
            responses_.pop_front();
            const std::string reply = "HTTP/1.1 " + std::to_string(r.status) +
                                      " Canned\r\nContent-Type: application/json\r\n"
                                      "Connection: close\r\nContent-Length: " +
                                      std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
            if (write(conn, reply.data(), reply.size()) < 0) ADD_FAILURE() << "write failed";
            close(conn);
        }
        for (int conn : silent) close(conn);
    }

    static ReceivedRequest read_request(int conn) {
        std::string data;
        char buf[4096];
        size_t head_end;
        while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
            const ssize_t n = read(conn, buf, sizeof buf);
            if (n <= 0) return {data, ""};
            data.append(buf, n);
        }
        ReceivedRequest request{data.substr(0, head_end), data.substr(head_end + 4)};
        size_t length = 0;
        const size_t field = request.head.find("Content-Length: ");
        if (field != std::string::npos) length = std::stoul(request.head.substr(field + 16));
        while (request.body.size() < length) {
            const ssize_t n = read(conn, buf, sizeof buf);
            if (n <= 0) break;
            request.body.append(buf, n);
        }
        return request;
    }

    int listener_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    std::mutex mutex_;
    std::deque<CannedResponse> responses_;
    std::vector<ReceivedRequest> requests_;
};

// A port that was just free: connecting to it is refused.
int closed_port() {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bind(s, reinterpret_cast<sockaddr*>(&addr), len);
    getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
    close(s);
    return ntohs(addr.sin_port);
}

const std::string kSchema =
    R"({"type":"record","name":"items","doc":"caf\u00e9 \"quoted\"\n","fields":[]})";

SchemaRegistryOptions options_for(const std::string& url) {
    SchemaRegistryOptions options;
    options.base_url = url + "/";
    options.basic_auth = "bw:s3cret-pass";
    options.request_timeout_ms = 2000;
    return options;
}

TEST(SchemaRegistryClient, RegistersAndParsesTheId) {
    CannedHttpServer server({{200, R"({ "id" : 42 })"}});
    SchemaRegistryClient client(options_for(server.url()));
    EXPECT_EQ(client.register_schema("db.public.items-value", kSchema), 42);

    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].head.rfind("POST /subjects/db.public.items-value/versions HTTP/1.1", 0),
              0u)
        << requests[0].head;
    EXPECT_NE(requests[0].head.find("Content-Type: application/vnd.schemaregistry.v1+json"),
              std::string::npos);
    // Basic auth of "bw:s3cret-pass".
    EXPECT_NE(requests[0].head.find("Authorization: Basic Ync6czNjcmV0LXBhc3M="),
              std::string::npos);
    EXPECT_EQ(requests[0].body,
              R"({"schema":"{\"type\":\"record\",\"name\":\"items\",\"doc\":\"caf\\u00e9 )"
              R"(\\\"quoted\\\"\\n\",\"fields\":[]}"})");
}

TEST(SchemaRegistryClient, IdenticalRegistrationIsAnsweredFromMemory) {
    CannedHttpServer server({{200, R"({"id":1})"}, {200, R"({"id":2})"}});
    SchemaRegistryClient client(options_for(server.url()));
    EXPECT_EQ(client.register_schema("t-value", kSchema), 1);
    EXPECT_EQ(client.register_schema("t-value", kSchema), 1);
    EXPECT_EQ(server.requests().size(), 1u);
    // A different subject with the same text is a different registration.
    EXPECT_EQ(client.register_schema("t-key", kSchema), 2);
    EXPECT_EQ(server.requests().size(), 2u);
}

TEST(SchemaRegistryClient, SubjectIsEscapedInThePath) {
    CannedHttpServer server({{200, R"({"id":3})"}});
    SchemaRegistryClient client(options_for(server.url()));
    client.register_schema("odd name/x-value", kSchema);
    EXPECT_EQ(server.requests()[0].head.rfind("POST /subjects/odd%20name%2Fx-value/versions", 0),
              0u);
}

TEST(SchemaRegistryClient, IncompatibleSchemaIsRejectedWithTheRegistrysMessage) {
    CannedHttpServer server(
        {{409, R"({"error_code":409,"message":"Schema being registered is incompatible"})"}});
    SchemaRegistryClient client(options_for(server.url()));
    try {
        client.register_schema("t-value", kSchema);
        FAIL() << "expected SchemaRejected";
    } catch (const SchemaRejected& e) {
        EXPECT_EQ(e.subject(), "t-value");
        EXPECT_EQ(e.http_status(), 409);
        EXPECT_EQ(e.registry_error_code(), 409);
        EXPECT_EQ(e.registry_message(), "Schema being registered is incompatible");
        const std::string what = e.what();
        EXPECT_NE(what.find("incompatible"), std::string::npos) << what;
        EXPECT_NE(what.find("t-value"), std::string::npos) << what;
        EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
    }
}

TEST(SchemaRegistryClient, InvalidSchemaIsAVerdictToo) {
    CannedHttpServer server({{422, R"({"error_code":42201,"message":"Invalid schema"})"}});
    SchemaRegistryClient client(options_for(server.url()));
    EXPECT_THROW(client.register_schema("t-value", kSchema), SchemaRejected);
}

// A 404 from a mistyped URL or a proxy, a 400, refused credentials: no verdict on the schema.
TEST(SchemaRegistryClient, OtherClientErrorsAreRefusalsNotVerdicts) {
    for (long status : {400L, 401L, 403L, 404L}) {
        CannedHttpServer server({{static_cast<int>(status), "<html>Not Found</html>"}});
        SchemaRegistryClient client(options_for(server.url()));
        try {
            client.register_schema("t-value", kSchema);
            ADD_FAILURE() << "expected RegistryRefused for HTTP " << status;
        } catch (const SchemaRejected&) {
            ADD_FAILURE() << "HTTP " << status << " must not count as a verdict on the schema";
        } catch (const RegistryRefused& e) {
            EXPECT_EQ(e.http_status(), status);
            EXPECT_NE(std::string(e.what()).find("refused the request"), std::string::npos);
        }
    }
}

TEST(SchemaRegistryClient, ServerErrorIsRetryable) {
    CannedHttpServer server({{503, "<html>busy</html>"}});
    SchemaRegistryClient client(options_for(server.url()));
    try {
        client.register_schema("t-value", kSchema);
        FAIL() << "expected RegistryUnavailable";
    } catch (const RegistryUnavailable& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("unavailable registering the schema for subject \"t-value\" "
                            "(HTTP 503)"),
                  std::string::npos)
            << what;
    }
}

TEST(SchemaRegistryClient, ConnectionRefusedIsRetryableAndHidesTheCredentials) {
    const std::string url = "http://bw:url-s3cret@127.0.0.1:" + std::to_string(closed_port());
    SchemaRegistryClient client(options_for(url));
    try {
        client.register_schema("t-value", kSchema);
        FAIL() << "expected RegistryUnavailable";
    } catch (const RegistryUnavailable& e) {
        const std::string what = e.what();
        EXPECT_EQ(e.http_status(), 0);
        EXPECT_NE(what.find("127.0.0.1"), std::string::npos) << what;
        EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
    }
}

TEST(SchemaRegistryClient, SilentRegistryTimesOut) {
    CannedHttpServer server({});
    SchemaRegistryOptions options = options_for(server.url());
    options.request_timeout_ms = 300;
    SchemaRegistryClient client(options);
    EXPECT_THROW(client.register_schema("t-value", kSchema), RegistryUnavailable);
}

TEST(SchemaRegistryClient, AnswerWithoutIdIsAnError) {
    CannedHttpServer server({{200, R"({"version":1})"}, {200, "not json"}});
    SchemaRegistryClient client(options_for(server.url()));
    EXPECT_THROW(client.register_schema("t-value", kSchema), RegistryError);
    EXPECT_THROW(client.register_schema("t-value", kSchema), RegistryError);
}

TEST(SchemaRegistryClient, FetchesAndUnescapesASchemaById) {
    // Extra members, nested values and a surrogate pair (U+1F600) around the schema text.
    CannedHttpServer server({{200, R"({"schemaType":"AVRO","references":[{"a":[1,true,null]}],)"
                                   R"("schema":"{\"doc\":\"\u00e9\ud83d\ude00\\\/\"}"})"}});
    SchemaRegistryClient client(options_for(server.url()));
    EXPECT_EQ(client.fetch_schema(7), "{\"doc\":\"\xC3\xA9\xF0\x9F\x98\x80\\/\"}");
    EXPECT_EQ(client.fetch_schema(7), "{\"doc\":\"\xC3\xA9\xF0\x9F\x98\x80\\/\"}");
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 1u);
    EXPECT_EQ(requests[0].head.rfind("GET /schemas/ids/7 HTTP/1.1", 0), 0u);
}

TEST(SchemaRegistryClient, UnknownSchemaIdIsNotRetryable) {
    CannedHttpServer server({{404, R"({"error_code":40403,"message":"Schema not found"})"}});
    SchemaRegistryClient client(options_for(server.url()));
    try {
        client.fetch_schema(99);
        FAIL() << "expected RegistryError";
    } catch (const RegistryUnavailable&) {
        FAIL() << "404 must not be retryable";
    } catch (const RegistryError& e) {
        EXPECT_EQ(e.http_status(), 404);
        EXPECT_NE(std::string(e.what()).find("Schema not found"), std::string::npos);
    }
}

TEST(SchemaRegistryClient, NamesTheRecordOfASubjectsLatestVersion) {
    CannedHttpServer server(
        {{200, R"({"subject":"t-value","version":3,"id":9,)"
               R"("schema":"{\"type\":\"record\",\"name\":\"MessageValue\",)"
               R"(\"namespace\":\"io.debezium\",\"fields\":[]}"})"},
         {200, R"({"id":9,"schema":"{\"type\":\"record\",\"name\":\"a.b.Envelope\",)"
               R"(\"namespace\":\"x\",\"fields\":[]}"})"},
         {200, R"({"id":9,"schema":"\"string\""})"},
         {404, R"({"error_code":40401,"message":"Subject not found"})"}});
    SchemaRegistryClient client(options_for(server.url()));
    EXPECT_EQ(client.latest_record_name("odd name-value"), "io.debezium.MessageValue");
    EXPECT_EQ(client.latest_record_name("t-value"), "a.b.Envelope");  // a full name is whole
    EXPECT_EQ(client.latest_record_name("t-value"), "");              // no record
    EXPECT_EQ(client.latest_record_name("t-value"), "");              // no subject
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 4u);  // never from memory
    EXPECT_EQ(requests[0].head.rfind("GET /subjects/odd%20name-value/versions/latest HTTP/1.1", 0),
              0u);
}

TEST(SchemaRegistryClient, LatestVersionOfAnUnreachableRegistryIsRetryable) {
    CannedHttpServer server({{503, "<html>busy</html>"}, {401, "no"}});
    SchemaRegistryClient client(options_for(server.url()));
    EXPECT_THROW(client.latest_record_name("t-value"), RegistryUnavailable);
    EXPECT_THROW(client.latest_record_name("t-value"), RegistryRefused);
}

}  // namespace
}  // namespace bw
