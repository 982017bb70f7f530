// The fused optimizer against LibTorch's torch::optim (the rules snare used before, and PyTorch's): the same
// weights bit for bit over many steps, with and without masks, weight decay and a changing learning rate.
#include "exec/fused_optimizer.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>

#include <memory>
#include <vector>

#include "exec/train.h"

namespace {

using snare::exec::FusedOptimizer;
using snare::exec::TrainOptions;

struct Case {
  std::vector<at::Tensor> ours, theirs, masks;
};

// LeNet-5-like shapes (odd tails for the vector loops) and one tensor above LibTorch's parallel grain.
Case make_case(bool masked, bool transposed = false) {
  at::manual_seed(7);
  Case c;
  for (std::vector<int64_t> shape : {std::vector<int64_t>{6, 1, 5, 5}, {6}, {120, 400}, {84}, {70000}, {3, 7}}) {
    at::Tensor w = at::randn(shape);
    // The same values in a transposed layout: a non-contiguous parameter takes the tensor-op path.
    at::Tensor mine = transposed && w.dim() == 2 ? w.t().contiguous().t() : w.clone();
    c.ours.push_back(mine.set_requires_grad(true));
    c.theirs.push_back(w.clone().set_requires_grad(true));
    c.masks.push_back(masked ? (at::rand(shape) > 0.3).to(at::kFloat) : at::Tensor());
  }
  return c;
}

// `steps` updates with the same random gradients on both sides; the lr changes as a cosine schedule would.
void run_both(Case& c, const TrainOptions& o, torch::optim::Optimizer& reference, int steps) {
  FusedOptimizer ours(c.ours, c.masks, o);
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < c.ours.size(); ++i) {
    if (c.masks[i].defined()) {
      c.ours[i].mul_(c.masks[i]);
      c.theirs[i].mul_(c.masks[i]);
    }
  }
  for (int step = 0; step < steps; ++step) {
    const double lr = o.lr * (0.5 + 0.5 * std::cos(step * 0.1));
    ours.set_lr(lr);
    for (auto& group : reference.param_groups()) group.options().set_lr(lr);
    ours.zero_grad();
    reference.zero_grad();
    for (size_t i = 0; i < c.ours.size(); ++i) {
      at::Tensor g = at::randn(c.ours[i].sizes()) * (step % 3 == 0 ? 1e-3 : 1.0);
      c.ours[i].mutable_grad() = g.clone();
      c.theirs[i].mutable_grad() = g.clone();
      if (c.masks[i].defined()) c.theirs[i].mutable_grad().mul_(c.masks[i]);
    }
    ours.step();
    reference.step();
    for (size_t i = 0; i < c.ours.size(); ++i) {
      if (c.masks[i].defined()) c.theirs[i].mul_(c.masks[i]);
    }
  }
}

// LibTorch's vector kernels (AVX2 and AVX-512, any x86-64 CPU of the last decade) fuse the multiply-adds the
// optimizer writes out; its scalar fallback kernels round twice, so there the results agree only to rounding.
bool libtorch_fuses() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

void expect_same(const Case& c) {
  for (size_t i = 0; i < c.ours.size(); ++i) {
    EXPECT_TRUE(libtorch_fuses() ? at::equal(c.ours[i], c.theirs[i]) : at::allclose(c.ours[i], c.theirs[i], 1e-5, 1e-7))
        << "parameter " << i << ": max difference " << (c.ours[i] - c.theirs[i]).abs().max().item<float>();
    if (c.masks[i].defined()) {
      EXPECT_EQ((c.ours[i] * (1 - c.masks[i])).abs().max().item<float>(), 0.0f);
    }
  }
}

TEST(FusedOptimizer, AdamEqualsLibTorchBitForBit) {
  for (bool masked : {false, true}) {
    for (double decay : {0.0, 1e-4}) {
      Case c = make_case(masked);
      TrainOptions o;
      o.lr = 1e-3;
      o.weight_decay = decay;
      torch::optim::Adam reference(c.theirs, torch::optim::AdamOptions(o.lr).weight_decay(decay));
      run_both(c, o, reference, 40);
      SCOPED_TRACE(testing::Message() << "masked " << masked << ", weight decay " << decay);
      expect_same(c);
    }
  }
}

TEST(FusedOptimizer, SgdWithAndWithoutMomentumEqualsLibTorchBitForBit) {
  for (double momentum : {0.0, 0.9}) {
    for (bool masked : {false, true}) {
      Case c = make_case(masked);
      TrainOptions o;
      o.optimizer = snare::exec::Optimizer::kSgd;
      o.lr = 1e-2;
      o.momentum = momentum;
      o.weight_decay = 5e-4;
      torch::optim::SGD reference(c.theirs, torch::optim::SGDOptions(o.lr).momentum(momentum).weight_decay(5e-4));
      run_both(c, o, reference, 40);
      SCOPED_TRACE(testing::Message() << "momentum " << momentum << ", masked " << masked);
      expect_same(c);
    }
  }
}

TEST(FusedOptimizer, NonContiguousParametersTakeTensorOperationsWithTheSameResult) {
  Case c = make_case(true, /*transposed=*/true);
  ASSERT_FALSE(c.ours[2].is_contiguous());
  TrainOptions o;
  torch::optim::Adam reference(c.theirs, torch::optim::AdamOptions(o.lr));
  run_both(c, o, reference, 10);
  expect_same(c);
}

TEST(FusedOptimizer, ZeroGradDropsGradientsAndStepSkipsParametersWithout) {
  at::Tensor a = at::ones({4}).set_requires_grad(true), b = at::ones({4}).set_requires_grad(true);
  TrainOptions o;
  FusedOptimizer opt({a, b}, {}, o);
  a.mutable_grad() = at::ones({4});
  opt.step();
  EXPECT_LT(a.max().item<float>(), 1.0f);
  EXPECT_TRUE(at::equal(b, at::ones({4})));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

}  // namespace
