// Comparing a checkpoint's run identity with this run's: every differing field once, with both values.
#include "search/run_identity.h"

#include <gtest/gtest.h>

namespace {

using nlohmann::json;
using snare::search::identity_differences;

TEST(RunIdentity, SameIdentityHasNoDifferences) {
  json id = {{"--seed", 3}, {"--scale", ""}, {"--mean", json::array()}, {"input model content", "fnv1a64:01, 9 bytes"}};
  EXPECT_TRUE(identity_differences(id, id).empty());
}

TEST(RunIdentity, EachDifferenceNamesTheFieldWithOldAndNewValue) {
  json recorded = {{"--seed", 3}, {"--scale", ""}, {"--max-loss", 0.39}, {"only old", true}};
  json now = {{"--seed", 4}, {"--scale", "raw"}, {"--max-loss", 0.39}, {"only new", 1}};
  std::vector<std::string> d = identity_differences(recorded, now);
  ASSERT_EQ(d.size(), 4u);
  // nlohmann::json keeps keys sorted: this run's fields first, then the ones only the checkpoint has.
  EXPECT_EQ(d[0], "--scale: \"\" in the checkpoint, raw now");
  EXPECT_EQ(d[1], "--seed: 3 in the checkpoint, 4 now");
  EXPECT_EQ(d[2], "only new: (none) in the checkpoint, 1 now");
  EXPECT_EQ(d[3], "only old: true in the checkpoint, (none) now");
}

TEST(RunIdentity, ANonObjectCheckpointDiffersInEveryField) {
  EXPECT_EQ(identity_differences(json(), json{{"--seed", 1}}).size(), 1u);
}

}  // namespace
