// Unit tests for one table, one topic: collisions are errors, renames and drops free a topic.
#include "produce/topic_owners.h"

#include <gtest/gtest.h>

namespace bw {
namespace {

TEST(TopicOwners, SecondRelationForOneTopicIsACollisionNamingBoth) {
    TopicOwners owners;
    owners.claim(1, "public.a", "p.a");
    owners.claim(1, "public.a", "p.a");  // the same relation again: fine
    try {
        owners.claim(2, "other.a", "p.a");
        FAIL() << "expected TopicCollision";
    } catch (const TopicCollision& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("\"public.a\""), std::string::npos) << what;
        EXPECT_NE(what.find("\"other.a\""), std::string::npos) << what;
        EXPECT_NE(what.find("\"p.a\""), std::string::npos) << what;
    }
    EXPECT_EQ(owners.owner_of("p.a")->table, "public.a");
}

TEST(TopicOwners, TopicsThatKafkaFoldsTogetherCollide) {
    TopicOwners owners;
    owners.claim(1, "a.b", "a.b");
    EXPECT_THROW(owners.claim(2, "public.a_b", "a_b"), TopicCollision);
    EXPECT_EQ(owners.owner_of("a_b"), nullptr);
}

TEST(TopicOwners, TheRivalIsTheRelationClaimWouldRefuse) {
    TopicOwners owners;
    owners.claim(1, "x.y", "x.y");
    EXPECT_EQ(owners.rival(1, "x.y"), nullptr);
    ASSERT_NE(owners.rival(2, "x_y"), nullptr);
    EXPECT_EQ(owners.rival(2, "x_y")->relid, 1u);
    EXPECT_EQ(owners.rival(2, "other"), nullptr);
}

TEST(TopicOwners, ARenamedOrDroppedRelationFreesItsTopic) {
    TopicOwners owners;
    owners.claim(1, "public.old", "old");
    owners.claim(1, "public.new", "new");  // renamed
    owners.claim(2, "public.old", "old");  // a new table under the old name
    owners.release(2);                     // dropped
    owners.claim(3, "public.old", "old");
    EXPECT_EQ(owners.size(), 2u);
    EXPECT_EQ(owners.owner_of("new")->relid, 1u);
}

}  // namespace
}  // namespace bw
