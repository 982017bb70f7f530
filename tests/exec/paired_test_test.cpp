#include "exec/paired_test.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace {

using snare::exec::compare_paired;
using snare::exec::mcnemar_exact_p;

TEST(McNemar, ExactTailsOfSmallCounts) {
  // n = 12, k = 2: 2 (1 + 12 + 66) / 4096.
  EXPECT_NEAR(mcnemar_exact_p(10, 2), 2.0 * 79 / 4096, 1e-12);
  EXPECT_NEAR(mcnemar_exact_p(2, 10), 2.0 * 79 / 4096, 1e-12);
  EXPECT_NEAR(mcnemar_exact_p(0, 5), 2.0 / 32, 1e-12);
}

TEST(McNemar, EvenSplitsAndNoDisagreementAreNotSignificant) {
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(0, 0), 1.0);
  EXPECT_DOUBLE_EQ(mcnemar_exact_p(7, 7), 1.0);
  EXPECT_GT(mcnemar_exact_p(50, 45), 0.6);
}

TEST(McNemar, LargeCountsStayFinite) {
  // 3,000 discordant samples would underflow 0.5^n without log-space terms.
  double p = mcnemar_exact_p(1400, 1600);
  EXPECT_GT(p, 0);
  EXPECT_LT(p, 1e-3);
  EXPECT_NEAR(mcnemar_exact_p(1500, 1500), 1.0, 1e-12);
}

TEST(ComparePaired, CountsSamplesOnlyOneModelGetsRight) {
  auto c = compare_paired({1, 1, 0, 0, 1, 1}, {1, 0, 0, 1, 0, 1});
  EXPECT_EQ(c.only_a, 2);
  EXPECT_EQ(c.only_b, 1);
  EXPECT_NEAR(c.p_value, 1.0, 1e-12);  // n = 3, k = 1: 2 * 4/8
}

TEST(ComparePaired, DifferentLengthsAreAnInternalError) {
  EXPECT_THROW(compare_paired({1, 0}, {1}), snare::InternalError);
}

}  // namespace
