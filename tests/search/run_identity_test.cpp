// Comparing a checkpoint's run identity with this run's: every differing field once, with both values.
#include "search/run_identity.h"

#include <gtest/gtest.h>

namespace {

using nlohmann::json;
using snare::search::identity_differences;

TEST(RunIdentity, SameIdentityHasNoDifferences) {
  json id = {{"ModelSource::seed", 3},
             {"DataOptions::scale", ""},
             {"DataOptions::mean", json::array()},
             {"input model content", "fnv1a64:01, 9 bytes"}};
  EXPECT_TRUE(identity_differences(id, id).empty());
}

TEST(RunIdentity, EachDifferenceNamesTheFieldWithOldAndNewValue) {
  json recorded = {
      {"ModelSource::seed", 3}, {"DataOptions::scale", ""}, {"SearchOptions::max_loss_pp", 0.39}, {"only old", true}};
  json now = {
      {"ModelSource::seed", 4}, {"DataOptions::scale", "raw"}, {"SearchOptions::max_loss_pp", 0.39}, {"only new", 1}};
  std::vector<std::string> d = identity_differences(recorded, now);
  ASSERT_EQ(d.size(), 4u);
  // nlohmann::json keeps keys sorted: this run's fields first, then the ones only the checkpoint has.
  EXPECT_EQ(d[0], "DataOptions::scale: \"\" in the checkpoint, raw now");
  EXPECT_EQ(d[1], "ModelSource::seed: 3 in the checkpoint, 4 now");
  EXPECT_EQ(d[2], "only new: (none) in the checkpoint, 1 now");
  EXPECT_EQ(d[3], "only old: true in the checkpoint, (none) now");
}

TEST(RunIdentity, ANonObjectCheckpointDiffersInEveryField) {
  EXPECT_EQ(identity_differences(json(), json{{"ModelSource::seed", 1}}).size(), 1u);
}

}  // namespace
