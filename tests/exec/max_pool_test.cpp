// snare's max pooling kernel against LibTorch's: the same values, argmax routing and gradients, bit for bit.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "exec/lowering.h"

namespace {

struct Case {
  std::vector<int64_t> shape, kernel, strides;
};

/// Forward values and the gradient of a random upstream gradient, from snare's kernel and from LibTorch's.
void expect_same_as_libtorch(const at::Tensor& input, const Case& c) {
  at::Tensor ours_in = input.clone().requires_grad_(true);
  at::Tensor ref_in = input.clone().requires_grad_(true);
  at::Tensor ours = snare::exec::detail::max_pool(ours_in, c.kernel, c.strides);
  at::Tensor ref = c.kernel.size() == 1 ? at::max_pool1d(ref_in, c.kernel, c.strides)
                                        : at::max_pool2d(ref_in, c.kernel, c.strides);
  ASSERT_EQ(ours.sizes(), ref.sizes());
  EXPECT_TRUE(at::equal(ours.isnan(), ref.isnan()));
  EXPECT_TRUE(at::equal(at::nan_to_num(ours), at::nan_to_num(ref)));
  at::Tensor upstream = at::randn(ref.sizes());
  ours.backward(upstream);
  ref.backward(upstream);
  EXPECT_TRUE(at::equal(ours_in.grad(), ref_in.grad()));
  // Without autograd the forward takes the path that stores no argmax.
  at::NoGradGuard no_grad;
  at::Tensor plain = snare::exec::detail::max_pool(input, c.kernel, c.strides);
  EXPECT_TRUE(at::equal(at::nan_to_num(plain), at::nan_to_num(ref.detach())));
}

TEST(MaxPool, MatchesLibTorchBitForBit) {
  at::manual_seed(7);
  const std::vector<Case> cases{
      {{4, 3, 28, 28}, {2, 2}, {2, 2}},  // LeNet's pools
      {{2, 5, 9, 11}, {2, 2}, {2, 2}},   // odd sizes: the last row and column are dropped
      {{2, 3, 13, 12}, {3, 3}, {2, 2}},  // overlapping windows: gradients add up
      {{3, 2, 8, 10}, {2, 3}, {1, 3}},   // rectangular kernel, unequal strides
      {{4, 6, 50}, {2}, {2}},            // 1-D
      {{2, 4, 31}, {4}, {3}},            // 1-D, overlapping
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.shape) + " kernel " + ::testing::PrintToString(c.kernel));
    expect_same_as_libtorch(at::randn(c.shape), c);
    // After a ReLU most windows tie at zero: the first maximum must win, as in LibTorch.
    expect_same_as_libtorch(at::relu(at::randn(c.shape)), c);
    // Coarse values tie often, -inf padding and NaN must route like LibTorch's.
    at::Tensor coarse = at::round(at::randn(c.shape) * 2);
    coarse.view(-1).index_put_({at::randint(coarse.numel(), {5}, at::kLong)}, std::numeric_limits<float>::quiet_NaN());
    coarse.view(-1).index_put_({at::randint(coarse.numel(), {5}, at::kLong)}, -std::numeric_limits<float>::infinity());
    expect_same_as_libtorch(coarse, c);
  }
}

TEST(MaxPool, OtherTypesAndNonContiguousInputsFallBackOrAgree) {
  at::Tensor d = at::randn({2, 3, 8, 8}, at::kDouble);
  EXPECT_TRUE(at::equal(snare::exec::detail::max_pool(d, {2, 2}, {2, 2}), at::max_pool2d(d, {2, 2}, {2, 2})));
  at::Tensor t = at::randn({2, 8, 8, 3}).permute({0, 3, 1, 2});  // channels-last view
  EXPECT_TRUE(at::equal(snare::exec::detail::max_pool(t, {2, 2}, {2, 2}), at::max_pool2d(t, {2, 2}, {2, 2})));
}

}  // namespace
