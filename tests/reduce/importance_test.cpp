#include "measure/unit_importance.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "arch/zoo.h"
#include "common/error.h"

namespace {

using snare::reduce::Criterion;

TEST(Importance, ZeroedUnitScoresLowestUnderEveryCriterion) {
  auto g = snare::arch::build("lenet5", 1);
  // Silence filter 3 of conv2d: its weights and bias are zero, so it outputs relu(0) = 0.
  auto& conv = g.layer("conv2d");
  conv.weights["weight"] = conv.weights["weight"].clone();
  conv.weights["weight"][3].zero_();
  conv.weights["bias"] = at::full({6}, 0.1);
  conv.weights["bias"][3] = 0.0;
  snare::data::Split sample;
  at::manual_seed(1);
  sample.x = at::rand({64, 1, 28, 28});
  sample.y = at::randint(10, {64}, at::kLong);
  auto groups = snare::analysis::unit_groups(g);
  const auto& grp = snare::analysis::group_of(groups, "conv2d");
  for (Criterion c : {Criterion::kL1, Criterion::kL2, Criterion::kActivation, Criterion::kApoz, Criterion::kTaylor}) {
    auto score = snare::measure::unit_importance(g, grp, c, &sample);
    ASSERT_EQ(score.size(), 6u);
    for (size_t u = 0; u < 6; ++u) {
      if (u == 3) continue;
      EXPECT_LE(score[3], score[u]) << snare::reduce::criterion_name(c) << " unit " << u;
    }
  }
}

TEST(Importance, KeepMostImportantKeepsTheLargestFilters) {
  auto g = snare::arch::build("lenet5", 1);
  auto& conv = g.layer("conv2d");
  conv.weights["weight"] = conv.weights["weight"].clone();
  conv.weights["weight"][1] *= 100;
  conv.weights["weight"][4] *= 100;
  auto plan = snare::measure::keep_most_important(g, "conv2d", 2, Criterion::kL1);
  ASSERT_EQ(plan.units.size(), 1u);
  EXPECT_EQ(plan.units[0].keep, (std::vector<int64_t>{1, 4}));
}

TEST(Importance, DataCriteriaNeedData) {
  auto g = snare::arch::build("lenet5", 1);
  EXPECT_THROW(snare::measure::keep_most_important(g, "conv2d", 2, Criterion::kTaylor), snare::OptionError);
  EXPECT_THROW(snare::reduce::criterion_from_name("random"), snare::OptionError);
  EXPECT_THROW(snare::measure::keep_most_important(g, "conv2d", 0, Criterion::kL1), snare::OptionError);
  EXPECT_THROW(snare::measure::keep_most_important(g, "conv2d", 7, Criterion::kL1), snare::OptionError);
}

}  // namespace
