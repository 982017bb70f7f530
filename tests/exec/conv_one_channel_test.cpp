// snare's one-input-channel (and depthwise) convolution against LibTorch's conv1d/conv2d: outputs and input, weight
// and bias gradients equal up to float rounding, on the shapes that exercise every edge of the kernels (row tails,
// channel blocks, padding, 1-D, depth multipliers, kernels wider than one block of columns, batches of several sample
// chunks), outputs per sample independent of the batch and of the thread count, weight gradients independent of the
// thread count.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <vector>

#include "exec/lowering.h"

namespace {

using snare::exec::detail::conv_one_channel;
using snare::exec::detail::conv_one_channel_applies;

struct Case {
  std::vector<int64_t> input, weight, padding;
  bool bias;
  int64_t groups = 1;
  bool input_grad = true;  // false: a first layer, whose input wants no gradient
};

/// Max abs difference over max abs reference value.
double relative(const at::Tensor& ours, const at::Tensor& ref) {
  return (ours - ref).abs().max().item<double>() / std::max(1e-12, ref.abs().max().item<double>());
}

TEST(ConvOneChannel, MatchesLibTorchUpToRounding) {
  at::manual_seed(3);
  const std::vector<Case> cases{
      {{40, 1, 28, 28}, {6, 1, 5, 5}, {2, 2}, true, 1, false},  // LeNet-5's first convolution, 2.5 sample chunks
      {{16, 1, 28, 28}, {6, 1, 5, 5}, {2, 2}, true},   // the same inside a network
      {{3, 1, 28, 28}, {16, 1, 3, 3}, {1, 1}, true},   // mobilenet-mini's
      {{5, 1, 9, 37}, {7, 1, 3, 4}, {0, 0}, false},   // odd sizes: row tail, 7 channels, 12 taps, no bias
      {{2, 1, 6, 5}, {3, 1, 7, 7}, {3, 3}, true},     // kernel larger than the input, padding makes up for it
      {{4, 1, 50}, {9, 1, 5}, {2}, true},             // 1-D (a raw signal)
      {{1, 1, 17}, {2, 1, 17}, {0}, true},            // 1-D, a kernel as long as the input: one output
      {{3, 1, 40}, {4, 1, 9}, {4}, true, 1, false},   // 1-D, 9 columns: blocks of 4, the last 3 dropped
      {{3, 5, 9, 11}, {10, 1, 3, 3}, {1, 1}, true, 5},  // depthwise, multiplier 2
      {{20, 5, 9, 11}, {10, 1, 3, 3}, {1, 1}, true, 5, false},  // the same as a first layer (on a colour image)
      {{4, 64, 14, 14}, {64, 1, 3, 3}, {1, 1}, false, 64},  // mobilenet-mini's depthwise_conv2d_1
      {{2, 3, 20}, {9, 1, 5}, {2}, true, 3},          // 1-D depthwise, multiplier 3
      {{2, 3, 20}, {9, 1, 5}, {2}, false, 3, false},  // the same first in a network, without bias
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << "input " << at::IntArrayRef(c.input) << " weight " << at::IntArrayRef(c.weight));
    const bool one_d = c.input.size() == 3;
    // A layer inside a network: its input wants a gradient too.
    at::Tensor x = at::randn(c.input).requires_grad_(c.input_grad);
    at::Tensor x_ref = x.detach().clone().requires_grad_(c.input_grad);
    at::Tensor w = at::randn(c.weight).requires_grad_(true);
    at::Tensor b = c.bias ? at::randn({c.weight[0]}).requires_grad_(true) : at::Tensor();
    at::Tensor w_ref = w.detach().clone().requires_grad_(true);
    at::Tensor b_ref = c.bias ? b.detach().clone().requires_grad_(true) : at::Tensor();
    const std::vector<int64_t> ones(c.padding.size(), 1);
    ASSERT_TRUE(conv_one_channel_applies(x, w, b, ones, c.padding, ones, c.groups));
    at::Tensor ours = conv_one_channel(x, w, b, c.padding);
    at::Tensor ref = one_d ? at::conv1d(x_ref, w_ref, b_ref, ones, c.padding, ones, c.groups)
                           : at::conv2d(x_ref, w_ref, b_ref, ones, c.padding, ones, c.groups);
    ASSERT_EQ(ours.sizes(), ref.sizes());
    EXPECT_LT(relative(ours, ref), 1e-5);
    at::Tensor upstream = at::randn(ref.sizes());
    ours.backward(upstream);
    ref.backward(upstream);
    if (c.input_grad) {
      EXPECT_LT(relative(x.grad(), x_ref.grad()), 1e-5);
    } else {
      EXPECT_FALSE(x.grad().defined());
    }
    EXPECT_LT(relative(w.grad(), w_ref.grad()), 1e-5);
    if (c.bias) {
      EXPECT_LT(relative(b.grad(), b_ref.grad()), 1e-5);
    }
    // Without autograd (evaluation) the same values.
    at::NoGradGuard no_grad;
    EXPECT_TRUE(at::equal(conv_one_channel(x.detach(), w.detach(), c.bias ? b.detach() : b, c.padding), ours.detach()));
  }
}

TEST(ConvOneChannel, SampleOutputsDoNotDependOnBatchOrThreads) {
  at::manual_seed(4);
  at::Tensor x = at::randn({9, 1, 28, 28}), w = at::randn({6, 1, 5, 5}), b = at::randn({6});
  const int threads = at::get_num_threads();
  at::Tensor whole = conv_one_channel(x, w, b, {2, 2});
  at::set_num_threads(1);
  at::Tensor one_thread = conv_one_channel(x, w, b, {2, 2});
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(whole, one_thread));
  for (int64_t s : {0, 4, 8}) {
    EXPECT_TRUE(at::equal(conv_one_channel(x.narrow(0, s, 1), w, b, {2, 2}), whole.narrow(0, s, 1)));
  }
}

TEST(ConvOneChannel, WeightGradientsDoNotDependOnThreads) {
  at::manual_seed(5);
  // 37 samples: two whole chunks of 16 and a tail; depthwise with multiplier 2, so chunks and channels split the work.
  const at::Tensor x = at::randn({37, 3, 12, 12}), upstream = at::randn({37, 6, 12, 12});
  const at::Tensor w0 = at::randn({6, 1, 5, 5}), b0 = at::randn({6});
  auto gradients = [&] {
    at::Tensor w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
    conv_one_channel(x, w, b, {2, 2}).backward(upstream);
    return std::make_pair(w.grad(), b.grad());
  };
  const int threads = at::get_num_threads();
  const auto many = gradients();
  at::set_num_threads(1);
  const auto one = gradients();
  at::set_num_threads(threads);
  EXPECT_TRUE(at::equal(many.first, one.first));
  EXPECT_TRUE(at::equal(many.second, one.second));
}

TEST(ConvOneChannel, LeavesOtherConvolutionsToLibTorch) {
  at::Tensor x = at::randn({2, 1, 8, 8}), w = at::randn({4, 1, 3, 3});
  EXPECT_FALSE(conv_one_channel_applies(at::randn({2, 3, 8, 8}), at::randn({4, 3, 3, 3}), {}, {1, 1}, {0, 0}, {1, 1}, 1));
  EXPECT_FALSE(conv_one_channel_applies(x, w, {}, {2, 2}, {0, 0}, {1, 1}, 1));      // strided
  EXPECT_FALSE(conv_one_channel_applies(x, w, {}, {1, 1}, {0, 0}, {2, 2}, 1));      // dilated
  EXPECT_FALSE(conv_one_channel_applies(x, w, {}, {1, 1}, {0, 0}, {1, 1}, 4));      // grouped
  // Groups of more than one input channel.
  EXPECT_FALSE(conv_one_channel_applies(at::randn({2, 4, 8, 8}), at::randn({4, 2, 3, 3}), {}, {1, 1}, {0, 0}, {1, 1}, 2));
  EXPECT_FALSE(conv_one_channel_applies(x.to(at::kDouble), w.to(at::kDouble), {}, {1, 1}, {0, 0}, {1, 1}, 1));
  EXPECT_FALSE(conv_one_channel_applies(at::randn({2, 1, 2, 2}), w, {}, {1, 1}, {0, 0}, {1, 1}, 1));  // no output
  EXPECT_TRUE(conv_one_channel_applies(x, w, {}, {1, 1}, {0, 0}, {1, 1}, 1));
  EXPECT_TRUE(conv_one_channel_applies(at::randn({2, 4, 8, 8}), at::randn({8, 1, 3, 3}), {}, {1, 1}, {1, 1}, {1, 1}, 4));
}

}  // namespace
