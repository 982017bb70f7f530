// The tolerance rules against numbers worked out by hand.
#include "search/tolerance.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace {

using snare::search::Hits;
using snare::search::PairedLoss;
using snare::search::Rule;
using snare::search::Tolerance;

TEST(Tolerance, PairedLossCountsTheSamplesOnlyOneModelGetsRight) {
  //                     reference: 1 1 1 1 0 0 1 1 ; model: 1 0 0 1 1 0 1 1
  const Hits reference = {1, 1, 1, 1, 0, 0, 1, 1}, model = {1, 0, 0, 1, 1, 0, 1, 1};
  PairedLoss l = snare::search::paired_loss(reference, model);
  EXPECT_EQ(l.samples, 8);
  EXPECT_EQ(l.only_reference, 2);
  EXPECT_EQ(l.only_model, 1);
  EXPECT_DOUBLE_EQ(l.reference_accuracy, 0.75);
  EXPECT_DOUBLE_EQ(l.loss(), 1.0 / 8);  // 0.75 - 0.625
  // Differences (0,1,1,0,-1,0,0,0): mean 1/8, E[d^2] = 3/8, variance 3/8 - 1/64 = 23/64.
  EXPECT_NEAR(l.standard_error(), std::sqrt(23.0 / 64 / 8), 1e-15);
  EXPECT_THROW(snare::search::paired_loss(reference, Hits{1, 0}), snare::InternalError);
}

TEST(Tolerance, IdenticalPredictionsHaveNoLossAndNoSpread) {
  PairedLoss l = snare::search::paired_loss(Hits{1, 0, 1}, Hits{1, 0, 1});
  EXPECT_EQ(l.loss(), 0);
  EXPECT_EQ(l.standard_error(), 0);
  EXPECT_TRUE(snare::search::holds({0.0, 3.0, Rule::kPaired}, l));
}

TEST(Tolerance, RulesSizeTheMarginDifferently) {
  PairedLoss l;
  l.samples = 10000;
  l.only_reference = 60;
  l.only_model = 30;  // loss 0.30 pp
  l.reference_accuracy = 0.99;
  const double paired_se = std::sqrt((90.0 / 10000 - 0.003 * 0.003) / 10000);
  const double accuracy_se = std::sqrt(0.99 * 0.01 / 10000);
  EXPECT_NEAR(snare::search::margin_of({0.39, 1.0, Rule::kPaired}, l), paired_se, 1e-15);
  EXPECT_NEAR(snare::search::margin_of({0.39, 2.0, Rule::kAccuracySe}, l), 2 * accuracy_se, 1e-15);
  EXPECT_EQ(snare::search::margin_of({0.39, 0.0, Rule::kPaired}, l), 0);
  // 0.30 + 0.095 pp (paired SE) and 0.30 + 0.0995 pp (accuracy SE) both exceed 0.39 and stay within 0.40.
  EXPECT_FALSE(snare::search::holds({0.39, 1.0, Rule::kPaired}, l));
  EXPECT_FALSE(snare::search::holds({0.39, 1.0, Rule::kAccuracySe}, l));
  EXPECT_TRUE(snare::search::holds({0.40, 1.0, Rule::kPaired}, l));
  EXPECT_TRUE(snare::search::holds({0.40, 1.0, Rule::kAccuracySe}, l));
  EXPECT_TRUE(snare::search::holds({0.30, 0.0, Rule::kPaired}, l)) << "equal to the tolerance passes";
  EXPECT_TRUE(snare::search::holds({0.0, 1.0, Rule::kPaired}, PairedLoss{})) << "an unmeasured loss holds";
}

TEST(Tolerance, RuleNamesRoundTrip) {
  for (Rule r : {Rule::kPaired, Rule::kAccuracySe}) EXPECT_EQ(snare::search::rule_from_name(snare::search::rule_name(r)), r);
  EXPECT_THROW(snare::search::rule_from_name("bonferroni"), snare::OptionError);
}

}  // namespace
