// Paired comparison of two models on the same samples: is the accuracy difference more than noise?
// Two models scored on one test set disagree on a few samples only; McNemar's exact test asks whether
// the samples only one of them gets right split unevenly enough to rule out chance (both equally good).
//
//   exec::PairedComparison c = exec::compare_paired(base.correct, final.correct);
//   // c.only_a = 60, c.only_b = 37, c.p_value = 0.025
#pragma once

#include <cstdint>
#include <vector>

namespace snare::exec {

struct PairedComparison {
  int64_t only_a = 0;    ///< samples model A gets right and model B wrong
  int64_t only_b = 0;    ///< samples model B gets right and model A wrong
  double p_value = 1.0;  ///< two-sided exact McNemar test (binomial, p = 1/2 over the discordant samples)
};

/// Per-sample hit flags (1 = right) of two models on the same samples, in the same order. Throws
/// InternalError when the lengths differ.
PairedComparison compare_paired(const std::vector<uint8_t>& a_correct, const std::vector<uint8_t>& b_correct);

/// Two-sided exact McNemar p-value for `only_a` and `only_b` discordant samples: 2 P(X <= min) for
/// X ~ Binomial(only_a + only_b, 1/2), capped at 1; 1 when no sample is discordant.
double mcnemar_exact_p(int64_t only_a, int64_t only_b);

}  // namespace snare::exec
