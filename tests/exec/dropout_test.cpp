// snare's dropout kernel: LibTorch's semantics (x * noise, noise 1/(1-rate) or 0; gradient grad * noise), a keep
// rate within sampling error of 1 - rate, masks that follow the seed, not the thread count, and that differ from
// call to call.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>

#include "exec/lowering.h"

namespace {

using snare::exec::detail::dropout;

TEST(Dropout, KeepsOneMinusRateAndScalesWhatItKeeps) {
  for (double rate : {0.1, 0.5, 0.8}) {
    at::manual_seed(1);
    at::Tensor x = at::randn({64, 32, 100});
    at::Tensor y = dropout(x, rate);
    const float scale = 1.0f / static_cast<float>(1 - rate);
    at::Tensor kept = y != 0;
    const double n = static_cast<double>(x.numel());
    const double keep = kept.sum().item<double>() / n;
    // 5 standard errors of a binomial proportion.
    EXPECT_NEAR(keep, 1 - rate, 5 * std::sqrt(rate * (1 - rate) / n)) << rate;
    EXPECT_TRUE(at::equal(y.masked_select(kept), x.masked_select(kept) * scale)) << rate;
  }
}

TEST(Dropout, GradientIsTheSameNoise) {
  at::manual_seed(2);
  at::Tensor x = at::randn({8, 4, 50}).set_requires_grad(true);
  at::Tensor y = dropout(x, 0.5);
  at::Tensor g = at::randn(y.sizes());
  y.backward(g);
  at::Tensor noise = (y.detach() / x.detach()).nan_to_num(0.0);  // 2 or 0 (x is never exactly 0 here)
  EXPECT_TRUE(at::equal(x.grad(), g * noise));
}

TEST(Dropout, MasksFollowTheSeedNotTheThreadsAndChangeEachCall) {
  at::Tensor x = at::ones({300000});
  const int threads = at::get_num_threads();
  at::manual_seed(3);
  at::Tensor a = dropout(x, 0.5), b = dropout(x, 0.5);
  at::set_num_threads(1);
  at::manual_seed(3);
  at::Tensor a1 = dropout(x, 0.5);
  at::set_num_threads(threads);
  at::manual_seed(4);
  at::Tensor c = dropout(x, 0.5);
  EXPECT_TRUE(at::equal(a, a1));
  // Independent masks agree on about half the elements.
  for (const at::Tensor& other : {b, c}) {
    const double agree = (a == other).to(at::kDouble).mean().item<double>();
    EXPECT_NEAR(agree, 0.5, 0.01);
  }
  // Neighbouring elements are not correlated either.
  const double neighbours = (a.slice(0, 1) == a.slice(0, 0, -1)).to(at::kDouble).mean().item<double>();
  EXPECT_NEAR(neighbours, 0.5, 0.01);
}

TEST(Dropout, OtherTypesAndRatesTakeLibTorchs) {
  at::Tensor d = at::ones({1000}, at::kDouble);
  EXPECT_EQ(dropout(d, 0.5).scalar_type(), at::kDouble);
  EXPECT_EQ(dropout(at::ones({100}), 1.0).abs().sum().item<float>(), 0.0f);
}

}  // namespace
