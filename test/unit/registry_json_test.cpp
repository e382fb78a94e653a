// Unit tests for the reader of the registry's JSON responses: escapes, skipped members, and
// malformed input that must be refused rather than half-read.
#include "registry/registry_json.h"

#include <gtest/gtest.h>

namespace bw {
namespace {

TEST(RegistryJson, ReadsTopLevelStringsAndNumbers) {
    const JsonFields fields = read_top_level_fields(
        " {\"id\" : -12 , \"message\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"ok\": true,"
        " \"nested\": {\"id\": 5, \"list\": [1, \"x\", {}, []]}, \"none\": null} ");
    EXPECT_EQ(fields.size(), 2u);
    EXPECT_EQ(fields.at("id"), "-12");
    EXPECT_EQ(fields.at("message"), "a\"b\\c/d\b\f\n\r\t");
}

TEST(RegistryJson, DecodesUnicodeEscapesToUtf8) {
    const JsonFields fields =
        read_top_level_fields(R"({"s":"\u0041\u00e9\u20AC\uD834\uDD1E\u0000"})");
    EXPECT_EQ(fields.at("s"), std::string("A\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E\0", 11));
}

TEST(RegistryJson, EmptyObject) {
    EXPECT_TRUE(read_top_level_fields(" { } ").empty());
}

TEST(RegistryJson, RefusesMalformedInput) {
    for (const char* bad :
         {"", "[]", "{", "{\"id\":1", "{\"id\":1} x", "{\"id\" 1}", "{\"s\":\"\\ud834\"}",
          "{\"s\":\"\\udd1e\"}", "{\"s\":\"\\u12\"}", "{\"s\":\"\\q\"}", "{\"s\":\"a\nb\"}",
          "{\"s\":tru}", "{\"s\":[1,]}", "{id:1}"}) {
        EXPECT_THROW(read_top_level_fields(bad), MalformedJson) << bad;
    }
}

}  // namespace
}  // namespace bw
