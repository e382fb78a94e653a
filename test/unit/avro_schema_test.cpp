// Unit tests for the schema model's multi-dimensional array record and its rendering.
#include "schema/avro_schema.h"

#include <gtest/gtest.h>

namespace bw {
namespace {

AvroTypePtr nullable(AvroTypePtr type) {
    return AvroType::union_of({AvroType::primitive(AvroKind::Null), std::move(type)});
}

TEST(MultiDimensionalArray, EachElementTypeHasANameOfItsOwn) {
    auto ints = AvroType::multi_dimensional_array(nullable(AvroType::primitive(AvroKind::Int)));
    auto more_ints =
        AvroType::multi_dimensional_array(nullable(AvroType::primitive(AvroKind::Int)));
    auto texts =
        AvroType::multi_dimensional_array(nullable(AvroType::primitive(AvroKind::String)));
    auto money = AvroType::multi_dimensional_array(nullable(AvroType::decimal(10, 2)));
    auto other_money = AvroType::multi_dimensional_array(nullable(AvroType::decimal(10, 3)));
    EXPECT_EQ(ints->full_name, more_ints->full_name);
    EXPECT_NE(ints->full_name, texts->full_name);
    EXPECT_NE(money->full_name, other_money->full_name);
    EXPECT_EQ(ints->full_name.rfind("bottledwater.md_array_", 0), 0u);
    EXPECT_EQ(ints->full_name.size(), std::string("bottledwater.md_array_").size() + 16);
}

TEST(MultiDimensionalArray, RendersDimensionsOnceAndElementsAsTheirUnion) {
    auto ints = AvroType::multi_dimensional_array(nullable(AvroType::primitive(AvroKind::Int)));
    auto texts =
        AvroType::multi_dimensional_array(nullable(AvroType::primitive(AvroKind::String)));
    auto row = std::make_shared<AvroType>();
    row->kind = AvroKind::Record;
    row->full_name = "bottledwater.public.t";
    row->fields = {{"a", nullable(ints), true}, {"b", nullable(texts), true}};
    const std::string json = render_schema_json(*row);
    const std::string dimension =
        R"({"type":"record","name":"bottledwater.array_dimension","doc":"one dimension of a )"
        R"(PostgreSQL array: its lower bound and its length","fields":[{"name":"lower",)"
        R"("type":"int"},{"name":"length","type":"int"}]})";
    const size_t first = json.find(dimension);
    ASSERT_NE(first, std::string::npos) << json;
    EXPECT_EQ(json.find(dimension, first + 1), std::string::npos) << json;
    EXPECT_NE(json.find(R"({"name":"dims","type":{"type":"array","items":)"
                        R"("bottledwater.array_dimension"}})"),
              std::string::npos)
        << json;
    EXPECT_NE(json.find(R"({"name":"elements","type":{"type":"array","items":["null","string"]}})"),
              std::string::npos)
        << json;
}

}  // namespace
}  // namespace bw
