// Evaluations through the activation cache give exactly the uncached results, reuse only what is really unchanged,
// and stay within their memory budget.
#include "exec/activation_cache.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "arch/zoo.h"
#include "exec/network.h"

namespace {

using snare::exec::ActivationCache;
using snare::exec::EvalResult;
using snare::exec::ExecOptions;

snare::data::Split random_split(int64_t n) {
  at::manual_seed(3);
  return {at::rand({n, 1, 28, 28}), at::randint(10, {n}, at::kLong), {}};
}

void expect_identical(const EvalResult& a, const EvalResult& b) {
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_EQ(a.accuracy, b.accuracy);
  EXPECT_EQ(a.loss, b.loss);  // bit for bit: the reused outputs are the ones computed before
}

TEST(ActivationCache, VariantsReuseTheUnchangedLayersAndGiveTheUncachedResults) {
  const auto split = random_split(300);
  snare::ir::Graph model = snare::arch::build("lenet5", 1);
  ExecOptions plain;
  plain.batch_size = 100;  // 3 batches, each with its own entries
  ActivationCache cache;
  ExecOptions cached = plain;
  cached.cache = &cache;

  expect_identical(snare::exec::evaluate(model, split, cached), snare::exec::evaluate(model, split, plain));
  EXPECT_EQ(cache.hits(), 0);
  const int64_t layers = static_cast<int64_t>(model.layers.size());
  EXPECT_EQ(cache.misses(), 3 * layers);

  // The same model again: only the output layer is looked up, and found, per batch.
  const int64_t hits_before = cache.hits();
  expect_identical(snare::exec::evaluate(model, split, cached), snare::exec::evaluate(model, split, plain));
  EXPECT_EQ(cache.hits() - hits_before, 3);

  // A change to the last dense layer: everything up to the layer before it comes from the cache.
  snare::ir::Graph variant = model;
  snare::ir::Layer& last = variant.layers.back();
  ASSERT_EQ(last.name, "dense_2");
  last.weights.at("weight") = last.weights.at("weight") * 0.5;
  const int64_t misses_before = cache.misses();
  expect_identical(snare::exec::evaluate(variant, split, cached), snare::exec::evaluate(variant, split, plain));
  EXPECT_EQ(cache.misses() - misses_before, 3);  // dense_2 only

  // Masks that keep as many weights as each other but other ones: different layers, not hits.
  auto masking_weight = [&](int64_t position) {
    snare::ir::Graph g = model;
    snare::ir::Layer& conv = g.layer("conv2d");
    at::Tensor mask = at::ones_like(conv.weights.at("weight"));
    mask.view(-1)[position] = 0;
    conv.masks["weight"] = mask;
    conv.weights.at("weight") = conv.weights.at("weight") * mask;
    return g;
  };
  for (int64_t position : {0, 1}) {
    snare::ir::Graph masked = masking_weight(position);
    const int64_t misses = cache.misses();
    expect_identical(snare::exec::evaluate(masked, split, cached), snare::exec::evaluate(masked, split, plain));
    EXPECT_EQ(cache.misses() - misses, 3 * (layers - 1)) << "only the input layer's output is shared";
  }
}

TEST(ActivationCache, StaysWithinItsBudget) {
  const auto split = random_split(200);
  snare::ir::Graph model = snare::arch::build("lenet5", 1);
  ActivationCache cache(int64_t{2} << 20);  // 2 MiB: conv2d's output of 100 samples (1.9 MB) is over a quarter
  ExecOptions o;
  o.batch_size = 100;
  o.cache = &cache;
  for (int i = 0; i < 4; ++i) {
    snare::ir::Graph g = model;
    g.layers.back().weights.at("bias") = g.layers.back().weights.at("bias") + static_cast<double>(i);
    ExecOptions plain = o;
    plain.cache = nullptr;
    expect_identical(snare::exec::evaluate(g, split, o), snare::exec::evaluate(g, split, plain));
    EXPECT_LE(cache.bytes(), int64_t{2} << 20);
  }
}

}  // namespace
