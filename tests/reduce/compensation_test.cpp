// Bias compensation (reduce::ReductionPlan::input_means): where what a reduction removes carries a constant, moving
// its mean into the next layer's bias keeps the network's output exactly; without the means the output changes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "arch/builder.h"
#include "exec/network.h"
#include "measure/input_means.h"
#include "reduce/plan.h"

namespace {

using snare::ir::Activation;
using snare::ir::Graph;
using snare::ir::Padding;

at::Tensor run(const Graph& g, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  snare::exec::Network net(g);
  return net.forward(x, false, false);
}

snare::data::Split sample_of(const at::Tensor& x) {
  snare::data::Split s;
  s.x = x;
  s.y = at::zeros({x.size(0)}, at::kLong);
  return s;
}

at::Tensor input_for(const Graph& g, int64_t n) {
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  at::manual_seed(11);
  return at::randn(shape);
}

/// Unit `u` of `layer` outputs the constant relu(bias): no weight reaches it.
void make_constant(Graph& g, const std::string& layer, int64_t u, float bias) {
  snare::ir::Layer& l = g.layer(layer);
  l.weights["weight"] = l.weights.at("weight").clone();
  l.weights["weight"].select(0, u).zero_();
  l.weights["bias"] = l.weights.at("bias").clone();
  l.weights["bias"][u] = bias;
}

double max_difference(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

/// A Dense chain and a chain of 'valid' convolutions (no padding, so a constant filter output is constant at every
/// position its consumer reads).
std::vector<Graph> chains() {
  snare::arch::GraphBuilder dense("dense_chain", {6}, 3);
  dense.dense(5, Activation::kRelu).dense(4, Activation::kRelu).dense(3, Activation::kLinear);
  snare::arch::GraphBuilder conv("conv_chain", {2, 8, 8}, 4);
  conv.conv2d(4, 3, Padding::kValid, Activation::kRelu)
      .conv2d(3, 3, Padding::kValid, Activation::kRelu)
      .flatten()
      .dense(2, Activation::kLinear);
  return {dense.finish(), conv.finish()};
}

TEST(Compensation, RemovingConstantUnitsKeepsTheOutput) {
  for (Graph g : chains()) {
    const std::string first = g.layers.at(1).name;
    make_constant(g, first, 1, 0.7f);
    make_constant(g, first, 3, 0.3f);
    at::Tensor x = input_for(g, 16);
    snare::reduce::ReductionPlan plan;
    std::vector<int64_t> keep;
    for (int64_t u = 0; u < g.layer(first).units; ++u) {
      if (u != 1 && u != 3) keep.push_back(u);
    }
    plan.units.push_back({first, keep});
    const double without = max_difference(run(snare::reduce::apply(g, plan), x), run(g, x));
    plan.input_means = snare::measure::input_means(g, sample_of(x));
    const double with = max_difference(run(snare::reduce::apply(g, plan), x), run(g, x));
    EXPECT_LT(with, 1e-5) << g.name;
    EXPECT_GT(without, 1e-2) << g.name << ": the test needs units whose removal changes the output";
  }
}

TEST(Compensation, MaskingWeightsOfAConstantInputKeepsTheOutput) {
  // Dense, Conv and the input weights of an LSTM, each reading an input whose channel 1 is constant.
  snare::arch::GraphBuilder dense("dense", {4}, 5);
  dense.dense(3, Activation::kLinear);
  snare::arch::GraphBuilder conv("conv", {3, 6, 6}, 6);
  conv.conv2d(2, 3, Padding::kValid, Activation::kLinear).flatten().dense(2, Activation::kLinear);
  snare::arch::GraphBuilder lstm("lstm", {3, 5}, 7);
  lstm.lstm(4, false).dense(2, Activation::kLinear);
  for (const Graph& g : {dense.finish(), conv.finish(), lstm.finish()}) {
    const snare::ir::Layer& first = g.layers.at(1);
    const std::string weight = first.weights.count("weight_ih") ? "weight_ih" : "weight";
    at::Tensor x = input_for(g, 16);
    x.select(1, 1).fill_(2.0);
    at::Tensor mask = at::ones_like(first.weights.at(weight));
    mask.select(1, 1).zero_();
    snare::reduce::ReductionPlan plan;
    plan.masks.push_back({first.name, weight, mask});
    const double without = max_difference(run(snare::reduce::apply(g, plan), x), run(g, x));
    plan.input_means = snare::measure::input_means(g, sample_of(x));
    const double with = max_difference(run(snare::reduce::apply(g, plan), x), run(g, x));
    EXPECT_LT(with, 1e-5) << g.name;
    EXPECT_GT(without, 1e-3) << g.name;
  }
}

TEST(Compensation, InputMeansArePerChannelMeansOfEachWeightedLayersInput) {
  snare::arch::GraphBuilder b("means", {2, 5, 5}, 8);
  b.conv2d(3, 3, Padding::kValid, Activation::kRelu).flatten().dense(2, Activation::kLinear);
  Graph g = b.finish();
  at::Tensor x = input_for(g, 300);  // 300: more than one chunk of the measurement
  auto means = snare::measure::input_means(g, sample_of(x));
  ASSERT_EQ(means.size(), 2u);
  EXPECT_TRUE(at::allclose(means.at(g.layers.at(1).name), x.mean({0, 2, 3}), 1e-5, 1e-6));
  snare::exec::Network net(g);
  net.record_activations(true);
  net.forward(x, false, false);
  at::Tensor flat = net.activations().at(g.layers.at(2).name);
  EXPECT_TRUE(at::allclose(means.at(g.layers.at(3).name), flat.mean(0), 1e-5, 1e-6));
}

}  // namespace
