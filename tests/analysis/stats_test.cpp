#include "analysis/stats.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "arch/builder.h"
#include "arch/zoo.h"
#include "exec/network.h"

namespace {

using snare::analysis::analyze;

TEST(Analyze, BuiltInParameterCountsMatchTheReferences) {
  EXPECT_EQ(analyze(snare::arch::build("lenet5", 1)).params, 61706);
  EXPECT_EQ(analyze(snare::arch::build("lenet5", 1)).macs, 416520);
  EXPECT_EQ(analyze(snare::arch::build("lenet5-caffe", 1)).params, 431080);
  EXPECT_EQ(analyze(snare::arch::build("lenet-300-100", 1)).params, 266610);
  EXPECT_EQ(analyze(snare::arch::build("har-cnn", 1)).params, 411650);
  EXPECT_EQ(analyze(snare::arch::build("har-lstm", 1)).params, 4 * (100 * (9 + 100) + 100) + 100 * 101 + 6 * 101);
}

TEST(Analyze, FreshWeightsAreNonZeroExceptBiases) {
  auto s = analyze(snare::arch::build("lenet5", 1));
  EXPECT_EQ(s.nonzero_params, s.params - (6 + 16 + 120 + 84 + 10));
}

TEST(Analyze, SharesSumToOneAndJsonHasTotals) {
  auto s = analyze(snare::arch::build("lenet5", 1));
  double p = 0, m = 0;
  for (const auto& l : s.layers) {
    p += l.param_share;
    m += l.mac_share;
  }
  EXPECT_NEAR(p, 1.0, 1e-9);
  EXPECT_NEAR(m, 1.0, 1e-9);
  auto j = snare::analysis::stats_json(s);
  EXPECT_EQ(j["total"]["params"], 61706);
  EXPECT_EQ(j["total"]["flops"], 2 * 416520);
  EXPECT_EQ(j["layers"].size(), s.layers.size());
}

// Counts MACs by running: with all-ones input and weights, zero bias and no padding, each output
// of a Dense/Conv equals the number of multiply-adds that produced it, so the sum of the outputs is
// the layer's MAC count.
int64_t counted_macs(const snare::ir::Graph& g, const snare::ir::Layer& l) {
  snare::ir::Graph single;
  single.name = "one";
  snare::ir::Layer in;
  in.name = "input";
  in.kind = snare::ir::LayerKind::kInput;
  in.input_shape = g.layer(l.inputs[0]).output_shape;
  snare::ir::Layer copy = l;
  copy.inputs = {"input"};
  copy.activation = snare::ir::Activation::kLinear;
  for (auto& [name, w] : copy.weights) w = name == "bias" ? at::zeros_like(w) : at::ones_like(w);
  single.layers = {in, copy};
  std::vector<int64_t> shape{1};
  shape.insert(shape.end(), in.input_shape.begin(), in.input_shape.end());
  return static_cast<int64_t>(snare::exec::predict(single, at::ones(shape)).sum().item<double>());
}

TEST(Analyze, AnalyticMacsEqualMacsCountedWhileRunning) {
  using snare::ir::Activation;
  using snare::ir::Padding;
  snare::arch::GraphBuilder b2("small2d", {3, 12, 11}, 1);
  b2.conv2d(4, 3, Padding::kValid, Activation::kRelu).maxpool2d(2).conv2d(5, 2, Padding::kValid, Activation::kRelu);
  b2.flatten().dense(7, Activation::kRelu).dense(3, Activation::kSoftmax);
  snare::arch::GraphBuilder b1("small1d", {2, 20}, 1);
  b1.conv1d(6, 5, Padding::kValid, Activation::kRelu).maxpool1d(2).flatten().dense(4, Activation::kLinear);
  for (const snare::ir::Graph& g : {b2.finish(), b1.finish(), snare::arch::build("lenet5-caffe", 1)}) {
    auto s = analyze(g);
    int64_t total = 0;
    for (size_t i = 0; i < g.layers.size(); ++i) {
      const auto& l = g.layers[i];
      if (l.kind == snare::ir::LayerKind::kInput || !snare::ir::has_units(l.kind)) continue;
      int64_t counted = counted_macs(g, l);
      EXPECT_EQ(counted, s.layers[i].macs) << g.name << " layer " << l.name;
      total += counted;
    }
    EXPECT_EQ(total, s.macs) << g.name;
  }
}

TEST(Analyze, LstmMacsArePerTimeStep) {
  auto g = snare::arch::build("har-lstm", 1);
  auto s = analyze(g);
  EXPECT_EQ(s.layers[1].macs, 128 * 4 * 100 * (9 + 100));
}

}  // namespace
