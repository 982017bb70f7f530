#include "reduce/plan.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "analysis/groups.h"
#include "analysis/stats.h"
#include "common/error.h"
#include "exec/network.h"
#include "model_fixtures.h"
#include "measure/unit_importance.h"
#include "reduce/importance.h"
#include "support/recurrent_graphs.h"
#include "reduce/factorize.h"
#include "reduce/magnitude.h"

namespace {

using snare::analysis::UnitGroup;
using snare::analysis::UnitUse;
using snare::ir::Graph;

at::Tensor sample_input(const Graph& g, int64_t n) {
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  at::manual_seed(3);
  return at::randn(shape);
}

/// Zeroes everything through which the units not in `keep` reach the rest of the network.
Graph silence_units(Graph g, const UnitGroup& grp, const std::vector<int64_t>& keep) {
  std::set<int64_t> kept(keep.begin(), keep.end());
  for (const UnitUse& use : grp.uses) {
    // A SeparableConv's pointwise columns carry the units as a Dense's or Conv's input columns do.
    if (use.kind != UnitUse::Kind::kInputColumns && use.kind != UnitUse::Kind::kSeparable) continue;
    auto& l = g.layer(use.layer);
    bool recurrent = snare::ir::is_recurrent(l.kind);
    for (std::string name : {recurrent ? "weight_ih" : "weight", recurrent ? "weight_ih_reverse" : ""}) {
      if (!l.weights.count(name)) continue;
      at::Tensor w = l.weights[name].clone();
      for (int64_t u = 0; u < grp.size; ++u) {
        if (kept.count(u)) continue;
        for (int64_t p : use.positions[static_cast<size_t>(u)]) w.select(1, p).zero_();
      }
      l.weights[name] = w;
    }
  }
  for (const std::string& p : grp.producers) {
    auto& l = g.layer(p);
    if (!snare::ir::is_recurrent(l.kind)) continue;
    for (const char* name : {"weight_hh", "weight_hh_reverse"}) {  // removed units also feed the recurrence
      if (!l.weights.count(name)) continue;
      at::Tensor w = l.weights[name].clone();
      for (int64_t u = 0; u < grp.size; ++u) {
        if (!kept.count(u)) w.select(1, u).zero_();
      }
      l.weights[name] = w;
    }
  }
  return g;
}

TEST(Apply, EmptyPlanChangesNothing) {
  for (auto& [name, g] : snare::testing::reduction_models()) {
    Graph out = snare::reduce::apply(g, {});
    EXPECT_EQ(snare::ir::dump(out), snare::ir::dump(g)) << name;
  }
}

TEST(Apply, RemovingSilentUnitsLeavesOutputsUnchanged) {
  for (auto& [name, g] : snare::testing::reduction_models()) {
    at::Tensor x = sample_input(g, 8);
    int checked = 0;
    for (const UnitGroup& grp : snare::analysis::unit_groups(g)) {
      if (!grp.prunable || grp.size < 2) continue;
      std::vector<int64_t> keep;
      for (int64_t u = 0; u < grp.size; u += 2) keep.push_back(u);  // drop every odd unit
      Graph silent = silence_units(g, grp, keep);
      snare::reduce::ReductionPlan plan;
      plan.units.push_back({grp.id, keep});
      Graph smaller = snare::reduce::apply(silent, plan);
      EXPECT_NO_THROW(snare::ir::verify(smaller));
      at::Tensor before = snare::exec::predict(silent, x);
      double diff = (before - snare::exec::predict(smaller, x)).abs().max().item<double>();
      // Float noise only: the convolutions sum fewer (zero) terms in another order. Seen up to 2.3e-6 on the zoo's
      // 8-layer ResNet; a unit removed wrongly moves outputs by orders of magnitude more.
      EXPECT_LE(diff / std::max(1.0, before.abs().max().item<double>()), 1e-5) << name << " group " << grp.id;
      EXPECT_LT(snare::analysis::analyze(smaller).params, snare::analysis::analyze(g).params) << name << " " << grp.id;
      ++checked;
    }
    EXPECT_GT(checked, 0) << name << " has no prunable group";
  }
}

TEST(Apply, RemovingSilentRecurrentUnitsLeavesOutputsUnchanged) {
  // GRU (reset_after both ways), SimpleRNN and Bidirectional LSTM/GRU/SimpleRNN in every merge mode: a removed unit
  // takes its rows in every gate block of both directions, its weight_hh columns, and the consumer's input columns
  // (both directions' channels under concat). Units whose outputs feed nothing can go without changing the output.
  for (const Graph& g : snare::testing::recurrent_graphs()) {
    at::Tensor x = sample_input(g, 6);
    int checked = 0;
    for (const UnitGroup& grp : snare::analysis::unit_groups(g)) {
      if (!grp.prunable) continue;
      SCOPED_TRACE(g.name + " group " + grp.id);
      const snare::ir::Layer& producer = g.layer(grp.id);
      ASSERT_TRUE(snare::ir::is_recurrent(producer.kind));
      std::vector<int64_t> keep;
      for (int64_t u = 0; u < grp.size; u += 2) keep.push_back(u);
      Graph silent = silence_units(g, grp, keep);
      snare::reduce::ReductionPlan plan;
      plan.units.push_back({grp.id, keep});
      Graph smaller = snare::reduce::apply(silent, plan);
      EXPECT_EQ(smaller.layer(grp.id).units, static_cast<int64_t>(keep.size()));
      EXPECT_EQ(smaller.layer(grp.id).output_shape.at(0),
                (producer.bidirectional && producer.merge_mode == snare::ir::MergeMode::kConcat ? 2 : 1) *
                    static_cast<int64_t>(keep.size()));
      double diff = (snare::exec::predict(silent, x) - snare::exec::predict(smaller, x)).abs().max().item<double>();
      EXPECT_LE(diff, 1e-6);
      EXPECT_LT(snare::analysis::analyze(smaller).params, snare::analysis::analyze(g).params);
      // Every criterion scores every unit, bidirectional concat ones included.
      for (auto c : {snare::reduce::Criterion::kL1, snare::reduce::Criterion::kActivation}) {
        snare::data::Split split;
        split.x = x;
        split.y = at::zeros({x.size(0)}, at::kLong);
        EXPECT_EQ(snare::measure::unit_importance(g, grp, c, &split).size(), static_cast<size_t>(grp.size));
      }
      ++checked;
    }
    int recurrent = 0;
    for (const snare::ir::Layer& l : g.layers) recurrent += snare::ir::is_recurrent(l.kind);
    EXPECT_EQ(checked, recurrent) << g.name << ": every recurrent layer is prunable (the Dense output is not)";
  }
}

TEST(Apply, BidirectionalConcatUnitsOwnBothDirectionsChannels) {
  Graph g = snare::testing::recurrent_graphs().at(3);  // bi_lstm_gru_concat: bi_lstm (4 units) feeds bi_gru
  ASSERT_EQ(g.name, "bi_lstm_gru_concat");
  std::vector<UnitGroup> groups = snare::analysis::unit_groups(g);
  const UnitGroup& grp = snare::analysis::group_of(groups, "bi_lstm");
  ASSERT_EQ(grp.size, 4);
  ASSERT_EQ(grp.uses.size(), 1u);
  EXPECT_EQ(grp.uses[0].layer, "bi_gru");
  EXPECT_EQ(grp.uses[0].positions[1], (std::vector<int64_t>{1, 5}));
  snare::reduce::ReductionPlan plan;
  plan.units.push_back({"bi_lstm", {0, 2, 3}});
  Graph smaller = snare::reduce::apply(g, plan);
  EXPECT_EQ(smaller.layer("bi_lstm").weights.at("weight_ih_reverse").size(0), 12);
  EXPECT_EQ(smaller.layer("bi_lstm").weights.at("weight_hh_reverse").size(1), 3);
  EXPECT_EQ(smaller.layer("bi_gru").weights.at("weight_ih").size(1), 6);
  EXPECT_EQ(smaller.layer("bi_gru").weights.at("weight_ih_reverse").size(1), 6);
  // The kept columns are the forward channels 0, 2, 3 and the backward ones 4, 6, 7.
  at::Tensor before = g.layer("bi_gru").weights.at("weight_ih_reverse");
  EXPECT_TRUE(smaller.layer("bi_gru").weights.at("weight_ih_reverse").equal(before.index_select(1, at::tensor({0, 2, 3, 4, 6, 7}))));
}

TEST(Apply, LeNet5Conv2KeepThreeGivesTheExpectedCount) {
  Graph g = snare::arch::build("lenet5", 1);
  snare::reduce::ReductionPlan plan;
  plan.units.push_back({"conv2d", {0, 1, 2}});
  Graph out = snare::reduce::apply(g, plan);
  EXPECT_EQ(snare::analysis::analyze(out).params, 61706 - 3 * (25 + 1) - 3 * 25 * 16);
  EXPECT_EQ(out.layer("conv2d").units, 3);
  EXPECT_EQ(out.layer("conv2d_1").weights.at("weight").size(1), 3);
}

TEST(Apply, FlattenColumnsFollowTheChannelsLastOrder) {
  Graph g = snare::arch::build("lenet5", 1);
  snare::reduce::ReductionPlan plan;
  plan.units.push_back({"conv2d_1", {1, 4, 9}});
  Graph out = snare::reduce::apply(g, plan);
  const at::Tensor& before = g.layer("dense").weights.at("weight");
  const at::Tensor& after = out.layer("dense").weights.at("weight");
  ASSERT_EQ(after.size(1), 3 * 25);
  // Column s*3 + j of the new Dense is column s*16 + kept[j] of the old one.
  for (int64_t s : {0, 7, 24}) {
    EXPECT_TRUE(at::equal(after.select(1, s * 3 + 1), before.select(1, s * 16 + 4)));
  }
}

TEST(Apply, RejectsInvalidPlans) {
  Graph g = snare::arch::build("lenet5", 1);
  auto plan_with = [](std::string group, std::vector<int64_t> keep) {
    snare::reduce::ReductionPlan p;
    p.units.push_back({std::move(group), std::move(keep)});
    return p;
  };
  EXPECT_THROW(snare::reduce::apply(g, plan_with("nope", {0})), snare::OptionError);
  EXPECT_THROW(snare::reduce::apply(g, plan_with("conv2d", {})), snare::OptionError);
  EXPECT_THROW(snare::reduce::apply(g, plan_with("dense_2", {0, 1})), snare::OptionError);  // the output layer
  EXPECT_THROW(snare::reduce::apply(g, plan_with("conv2d", {0, 6})), snare::OptionError);
  EXPECT_THROW(snare::reduce::apply(g, plan_with("flatten", {0})), snare::OptionError);
  // The same problems as values (what the search retires candidates on), each naming the layer and the reason.
  const std::pair<snare::reduce::ReductionPlan, std::string> cases[] = {
      {plan_with("nope", {0}), "no layer named 'nope'"},
      {plan_with("conv2d", {}), "cannot remove all 6 units of 'conv2d'"},
      {plan_with("dense_2", {0, 1}), "cannot remove units of 'dense_2'"},
      {plan_with("conv2d", {0, 6}), "unit index 6 out of range [0,6)"},
      {plan_with("flatten", {0}), "'flatten' (flatten) has no units to remove"}};
  for (const auto& [plan, problem] : cases) {
    snare::reduce::Applied a = snare::reduce::try_apply(g, plan);
    EXPECT_FALSE(a.ok());
    EXPECT_NE(a.problem.find(problem), std::string::npos) << a.problem;
  }
  snare::reduce::ReductionPlan rank;
  rank.factorizations.push_back({"dense", 100000});
  EXPECT_NE(snare::reduce::try_apply(g, rank).problem.find("to reduce its parameters"), std::string::npos);
  EXPECT_TRUE(snare::reduce::try_apply(g, plan_with("conv2d", {0, 2, 4})).ok());
}

TEST(Magnitude, MasksReachTheRequestedSparsityAndZeroWeights) {
  Graph g = snare::arch::build("lenet5", 1);
  Graph out = snare::reduce::apply(g, snare::reduce::magnitude_plan(g, 0.9));
  for (const auto& [layer, weight] : snare::reduce::maskable_weights(out)) {
    const at::Tensor& w = out.layer(layer).weights.at(weight);
    int64_t zeros = w.eq(0).sum().item<int64_t>();
    EXPECT_EQ(zeros, static_cast<int64_t>(0.9 * static_cast<double>(w.numel()))) << layer;
    EXPECT_TRUE(at::equal(out.layer(layer).masks.at(weight).eq(0), w.eq(0))) << layer;
  }
  EXPECT_EQ(snare::analysis::analyze(out).params, 61706);
}

TEST(Magnitude, GlobalThresholdPrunesLargeLayersMost) {
  Graph g = snare::arch::build("lenet5", 1);
  Graph out = snare::reduce::apply(g, snare::reduce::magnitude_plan(g, 0.8, {}, true));
  auto s = snare::analysis::analyze(out);
  EXPECT_NEAR(static_cast<double>(s.nonzero_params), 61706 - 0.8 * (61706 - 236), 300);
  EXPECT_THROW(snare::reduce::magnitude_plan(g, 1.0), snare::OptionError);
  EXPECT_THROW(snare::reduce::magnitude_plan(g, -0.1), snare::OptionError);
  EXPECT_THROW(snare::reduce::magnitude_plan(g, 0.5, {"flatten"}), snare::OptionError);
}

TEST(Factorize, FullRankSvdReproducesTheLayer) {
  Graph g = snare::arch::build("lenet5-caffe", 1);
  int64_t r = snare::reduce::max_useful_rank(g.layer("dense"));
  ASSERT_GT(r, 0);
  Graph out = snare::reduce::factorize(g, "dense", r);
  EXPECT_LT(snare::analysis::analyze(out).params, snare::analysis::analyze(g).params);
  at::Tensor x = sample_input(g, 4);
  // rank 10 of dense_1 (500->10): the 10x500 matrix has rank <= 10, so factorising dense_1 is exact;
  // it does not reduce parameters, so it is rejected, and the lossy one changes outputs a little.
  EXPECT_THROW(snare::reduce::factorize(g, "dense_1", 10), snare::OptionError);
  double diff = (snare::exec::predict(out, x) - snare::exec::predict(g, x)).abs().max().item<double>();
  EXPECT_LT(diff, 0.5);
}

TEST(Factorize, ConvBecomesKxKThenPointwise) {
  Graph g = snare::arch::build("lenet5-caffe", 1);
  Graph out = snare::reduce::factorize(g, "conv2d_1", 8);
  EXPECT_EQ(out.layer("conv2d_1_lowrank").units, 8);
  EXPECT_EQ(out.layer("conv2d_1").kernel, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(out.layer("conv2d_1").output_shape, g.layer("conv2d_1").output_shape);
  EXPECT_THROW(snare::reduce::factorize(g, "conv2d_1", 0), snare::OptionError);
  EXPECT_THROW(snare::reduce::factorize(g, "max_pooling2d", 2), snare::OptionError);
}

}  // namespace

namespace {

const UnitGroup& group_named(const std::vector<UnitGroup>& groups, const std::string& producer) {
  return snare::analysis::group_of(groups, producer);
}

const UnitUse* use_in(const UnitGroup& g, const std::string& layer) {
  for (const UnitUse& u : g.uses) {
    if (u.layer == layer) return &u;
  }
  return nullptr;
}

}  // namespace

TEST(Apply, DepthwiseChannelsGoWithTheFiltersThatFeedThem) {
  Graph g = snare::arch::build("mobilenet-mini", 7);
  std::vector<UnitGroup> groups = snare::analysis::unit_groups(g);
  // conv2d -> BN -> ReLU6 -> depthwise (multiplier 1) -> BN -> ReLU6 -> conv2d_1 (pointwise).
  const UnitGroup& first = group_named(groups, "conv2d");
  ASSERT_TRUE(first.prunable) << first.reason;
  const UnitUse* dw = use_in(first, "depthwise_conv2d");
  ASSERT_NE(dw, nullptr);
  EXPECT_EQ(dw->kind, UnitUse::Kind::kDepthwise);
  EXPECT_EQ(dw->positions.at(5), std::vector<int64_t>{5});
  ASSERT_NE(use_in(first, "batch_normalization_1"), nullptr);
  ASSERT_NE(use_in(first, "conv2d_1"), nullptr);
  // The inverted residual: the block input (conv2d_1) and the projection (conv2d_3) meet in an Add: one group.
  const UnitGroup& residual = group_named(groups, "conv2d_1");
  EXPECT_TRUE(residual.prunable) << residual.reason;
  EXPECT_EQ(residual.producers, (std::vector<std::string>{"conv2d_1", "conv2d_3"}));
  // Multiplier 2: input channel c owns depthwise outputs 2c and 2c+1, and the pointwise columns behind them.
  const UnitUse* dw2 = use_in(residual, "depthwise_conv2d_2");
  ASSERT_NE(dw2, nullptr);
  EXPECT_EQ(dw2->positions.at(3), (std::vector<int64_t>{6, 7}));
  EXPECT_EQ(use_in(residual, "conv2d_4")->positions.at(3), (std::vector<int64_t>{6, 7}));

  snare::reduce::ReductionPlan plan;
  plan.units.push_back({"conv2d_1", {0, 1, 2, 5, 9, 31}});
  Graph smaller = snare::reduce::apply(g, plan);
  EXPECT_NO_THROW(snare::ir::verify(smaller));
  EXPECT_EQ(smaller.layer("depthwise_conv2d_2").units, 12);
  EXPECT_EQ(smaller.layer("depthwise_conv2d_2").weights.at("weight").size(0), 12);
  EXPECT_EQ(smaller.layer("conv2d_4").weights.at("weight").size(1), 12);
  EXPECT_EQ(smaller.layer("conv2d_2").weights.at("weight").size(1), 6);
  EXPECT_EQ(smaller.layer("conv2d_3").units, 6);
  at::Tensor x = sample_input(g, 2);
  EXPECT_EQ(snare::exec::predict(smaller, x).sizes(), (at::IntArrayRef{2, 10}));
}

TEST(Apply, SqueezeExcitationGatesGoWithTheTrunkChannelsTheyScale) {
  Graph g = snare::test::merge_graph_2d();
  std::vector<UnitGroup> groups = snare::analysis::unit_groups(g);
  // The trunk conv2d, the 1x1-conv gate (conv2d_2, behind a keepdims pool) and the Dense gate (behind a
  // Reshape [8] -> [8,1,1]) all meet the trunk in Multiply layers: one group of 8 channels.
  const UnitGroup& trunk = group_named(groups, "conv2d");
  ASSERT_TRUE(trunk.prunable) << trunk.reason;
  EXPECT_EQ(trunk.producers, (std::vector<std::string>{"conv2d", "conv2d_2", "dense"}));
  ASSERT_NE(use_in(trunk, "conv2d_1"), nullptr);  // the squeeze conv reads the pooled trunk
  ASSERT_NE(use_in(trunk, "conv2d_3"), nullptr);  // after Cropping and UpSampling
  snare::reduce::ReductionPlan plan;
  plan.units.push_back({"conv2d", {0, 3, 4, 7}});
  Graph smaller = snare::reduce::apply(g, plan);
  EXPECT_EQ(smaller.layer("conv2d_2").units, 4);
  EXPECT_EQ(smaller.layer("dense").units, 4);
  EXPECT_EQ(smaller.layer("conv2d_1").weights.at("weight").size(1), 4);
  EXPECT_EQ(smaller.layer("conv2d_3").weights.at("weight").size(1), 4);
  EXPECT_EQ(smaller.layer("reshape").output_shape, (snare::ir::Shape{4, 1, 1}));
  at::Tensor x = sample_input(g, 2);
  EXPECT_EQ(snare::exec::predict(smaller, x).sizes(), (at::IntArrayRef{2, 5}));
}

TEST(Apply, GroupedConvsAreNotCutUnitByUnit) {
  Graph g = snare::arch::build("mobilenet-mini", 7);
  g.layer("conv2d_4").groups = 2;  // 64 -> 96 in two groups: [96, 32, 1, 1]
  g.layer("conv2d_4").weights["weight"] = g.layer("conv2d_4").weights["weight"].narrow(1, 0, 32).contiguous();
  g.infer_shapes();
  std::vector<UnitGroup> groups = snare::analysis::unit_groups(g);
  EXPECT_FALSE(group_named(groups, "conv2d_4").prunable);
  EXPECT_FALSE(group_named(groups, "conv2d_1").prunable);  // it feeds the grouped conv through the depthwise
  EXPECT_NE(group_named(groups, "conv2d_1").reason.find("grouped conv"), std::string::npos);
}
