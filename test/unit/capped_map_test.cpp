// Unit tests for CappedMap: never more entries than its capacity, and a lookup after it emptied
// itself finds nothing, so the caller makes the entry again.
#include "produce/capped_map.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace bw {
namespace {

TEST(CappedMap, EmptiesItselfBeforeGoingPastItsCapacity) {
    CappedMap<std::string, int> map(3);
    for (int i = 0; i < 3; i++) map.insert("topic" + std::to_string(i), i);
    ASSERT_EQ(map.size(), 3u);
    ASSERT_NE(map.find(std::string_view("topic2")), nullptr);
    EXPECT_EQ(*map.find(std::string_view("topic2")), 2);

    EXPECT_EQ(map.insert("topic3", 3), 3);
    EXPECT_EQ(map.size(), 1u);
    EXPECT_EQ(map.find(std::string_view("topic0")), nullptr);
    ASSERT_NE(map.find(std::string_view("topic3")), nullptr);
    for (int i = 4; i < 100; i++) {
        map.insert("topic" + std::to_string(i), i);
        EXPECT_LE(map.size(), 3u);
    }
}

TEST(CappedMap, InsertingAKeyAgainReplacesItsValue) {
    CappedMap<int, std::string> map(2);
    map.insert(7, "old");
    EXPECT_EQ(map.insert(7, "new"), "new");
    EXPECT_EQ(*map.find(7), "new");
    EXPECT_EQ(map.size(), 1u);
}

}  // namespace
}  // namespace bw
