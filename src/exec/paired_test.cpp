#include "exec/paired_test.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace snare::exec {

double mcnemar_exact_p(int64_t only_a, int64_t only_b) {
  const int64_t n = only_a + only_b, k = std::min(only_a, only_b);
  if (n == 0) return 1.0;
  // Terms in log space: C(n, i) / 2^n underflows a double for n beyond about 1,000.
  const double log_half_n = static_cast<double>(n) * std::log(0.5), log_n1 = std::lgamma(static_cast<double>(n) + 1);
  double tail = 0;
  for (int64_t i = 0; i <= k; ++i) {
    double di = static_cast<double>(i);
    tail += std::exp(log_n1 - std::lgamma(di + 1) - std::lgamma(static_cast<double>(n) - di + 1) + log_half_n);
  }
  return std::min(1.0, 2 * tail);
}

PairedComparison compare_paired(const std::vector<uint8_t>& a_correct, const std::vector<uint8_t>& b_correct) {
  if (a_correct.size() != b_correct.size()) {
    throw InternalError(fmt::format("compare_paired: {} samples against {}", a_correct.size(), b_correct.size()));
  }
  PairedComparison c;
  for (size_t i = 0; i < a_correct.size(); ++i) {
    if (a_correct[i] && !b_correct[i]) ++c.only_a;
    if (!a_correct[i] && b_correct[i]) ++c.only_b;
  }
  c.p_value = mcnemar_exact_p(c.only_a, c.only_b);
  return c;
}

}  // namespace snare::exec
