// The SNARE loop with a fake oracle: no training, accuracy is a known function of the model, so the
// loop's decisions can be checked exactly and in milliseconds.
#include "search/search.h"

#include <gtest/gtest.h>

#include "analysis/stats.h"
#include "common/error.h"
#include "arch/builder.h"
#include "reduce/importance.h"
#include "search/state_json.h"

namespace {

using snare::ir::Activation;
using snare::search::Op;
using snare::search::SearchOptions;
using snare::search::SearchState;

snare::ir::Graph mlp() {
  snare::arch::GraphBuilder b("mlp", {12}, 5);
  b.dense(16, Activation::kRelu).dense(8, Activation::kRelu).dense(3, Activation::kSoftmax);
  return b.finish();
}

/// Accuracy 0.95 while the model keeps >= 150 non-zero parameters and dense keeps >= 4 units,
/// falling 0.1 point per missing parameter below that.
class FakeOracle : public snare::search::Oracle {
 public:
  double validate(const snare::ir::Graph& m) override {
    ++validations;
    auto s = snare::analysis::analyze(m);
    if (m.layer("dense").units < 4) return 0.5;
    return 0.95 - 0.001 * static_cast<double>(std::max<int64_t>(0, 150 - s.nonzero_params));
  }
  double probe(const snare::ir::Graph& m) override { return validate(m); }
  snare::ir::Graph retrain(const snare::ir::Graph& m, uint64_t) override {
    ++retrains;
    return m;
  }
  snare::ir::Graph finetune(const snare::ir::Graph& m, uint64_t) override { return m; }
  std::vector<double> importance(const snare::ir::Graph& m, const snare::analysis::UnitGroup& g) override {
    return snare::reduce::unit_importance(m, g, snare::reduce::Criterion::kL2);
  }
  int validations = 0, retrains = 0;
};

/// Every step's first retraining leaves validation 0.2 points short; a second one recovers it.
class SlowRecoveryOracle : public FakeOracle {
 public:
  double validate(const snare::ir::Graph& m) override { return FakeOracle::validate(m) - (rounds_ == 1 ? 0.002 : 0.0); }
  double probe(const snare::ir::Graph& m) override {
    rounds_ = 0;
    return FakeOracle::validate(m);
  }
  snare::ir::Graph retrain(const snare::ir::Graph& m, uint64_t seed) override {
    ++rounds_;
    return FakeOracle::retrain(m, seed);
  }

 private:
  int rounds_ = 0;
};

TEST(Search, NearMissGetsAnotherRoundOfRetraining) {
  SearchOptions o;
  o.max_loss_pp = 0;
  o.recovery_rounds = 0;
  SlowRecoveryOracle without;
  auto r0 = snare::search::run(mlp(), without, o);
  for (const auto& step : r0.state.history) EXPECT_FALSE(step.accepted && step.op != Op::kFinetune) << step.reason;

  o.recovery_rounds = 1;
  SlowRecoveryOracle with;
  auto r1 = snare::search::run(mlp(), with, o);
  int recovered = 0;
  for (const auto& step : r1.state.history) {
    if (step.accepted && step.op != Op::kFinetune) {
      ++recovered;
      EXPECT_NE(step.reason.find("after 2 rounds"), std::string::npos) << step.reason;
    }
  }
  EXPECT_GT(recovered, 0);
  EXPECT_LT(snare::analysis::analyze(r1.model).nonzero_params, snare::analysis::analyze(mlp()).nonzero_params);

  o.recovery_window_pp = 0.1;  // 0.2 points short is outside the window: no second round
  SlowRecoveryOracle narrow;
  auto r2 = snare::search::run(mlp(), narrow, o);
  for (const auto& step : r2.state.history) EXPECT_FALSE(step.accepted && step.op != Op::kFinetune) << step.reason;
}

TEST(Search, ChannelMultipleKeepsConvFiltersInWholeBlocks) {
  // Conv filters only in multiples of 4 (conv1d_1 has 4: left whole); the Dense units stay free.
  snare::arch::GraphBuilder b("cnn", {3, 16}, 5);
  b.conv1d(16, 3, snare::ir::Padding::kValid, Activation::kRelu)
      .conv1d(4, 3, snare::ir::Padding::kValid, Activation::kRelu)
      .flatten()
      .dense(10, Activation::kRelu)
      .dense(3, Activation::kSoftmax);
  FakeOracle oracle;
  SearchOptions o;
  o.masks = false;
  o.lowrank = false;
  o.channel_multiple = 4;
  o.max_loss_pp = 100;  // accept everything: only the step sizes are checked
  auto r = snare::search::run(b.finish(), oracle, o);
  bool conv_cut = false;
  for (const auto& step : r.state.history) {
    EXPECT_NE(step.target, "conv1d_1") << step.reason;
    if (step.target == "conv1d" && step.accepted) conv_cut = true;
  }
  EXPECT_TRUE(conv_cut);
  EXPECT_EQ(r.model.layer("conv1d").units % 4, 0);
  EXPECT_EQ(r.model.layer("conv1d_1").units, 4);
  EXPECT_LT(r.model.layer("dense").units, 10);
  o.channel_multiple = 0;
  EXPECT_THROW(snare::search::run(b.finish(), oracle, o), snare::UsageError);
}

TEST(Search, ReducesWithinToleranceAndStops) {
  FakeOracle oracle;
  SearchOptions o;
  o.max_loss_pp = 0.39;
  auto r = snare::search::run(mlp(), oracle, o);
  ASSERT_FALSE(r.interrupted);
  EXPECT_TRUE(r.state.finished);
  EXPECT_EQ(r.state.stop_reason, "no reducible part left");
  auto before = snare::analysis::analyze(mlp()), after = snare::analysis::analyze(r.model);
  EXPECT_LT(after.nonzero_params, before.nonzero_params / 2);
  EXPECT_GE(oracle.validate(r.model), 0.95 - 0.0039);
  EXPECT_GE(r.model.layer("dense").units, 4);
  for (const auto& step : r.state.history) {
    EXPECT_EQ(step.accepted, step.val_accuracy >= 0.95 - 0.0039 - 1e-12 || step.op == Op::kFinetune) << step.reason;
    if (step.op != Op::kFinetune) {
      EXPECT_FALSE(step.scores.empty());
    }
  }
}

TEST(Search, RejectedStepsShrinkThenRetire) {
  FakeOracle oracle;
  SearchOptions o;
  o.masks = false;
  o.lowrank = false;
  o.max_failures = 2;
  auto r = snare::search::run(mlp(), oracle, o);
  // Removing units of dense below 4 always fails: its target must end retired after 2 failures.
  EXPECT_TRUE(r.state.retired.count("units:dense"));
  int failures = 0;
  for (const auto& s : r.state.history) failures += (!s.accepted && s.target == "dense") ? 1 : 0;
  EXPECT_GE(failures, 1);
}

TEST(Search, ZeroToleranceNeverLosesAccuracy) {
  FakeOracle oracle;
  SearchOptions o;
  o.max_loss_pp = 0;
  auto r = snare::search::run(mlp(), oracle, o);
  EXPECT_GE(oracle.validate(r.model), 0.95);
}

TEST(Search, ParameterBudgetStopsEarly) {
  FakeOracle oracle;
  SearchOptions o;
  o.budget_params = 300;
  auto r = snare::search::run(mlp(), oracle, o);
  EXPECT_NE(r.state.stop_reason.find("budget"), std::string::npos) << r.state.stop_reason;
  EXPECT_LE(snare::analysis::analyze(r.model).nonzero_params, 300);
}

TEST(Search, StopFlagInterrupts) {
  FakeOracle oracle;
  std::atomic<bool> stop{true};
  snare::search::SearchHooks hooks;
  hooks.stop = &stop;
  auto r = snare::search::run(mlp(), oracle, {}, hooks);
  EXPECT_TRUE(r.interrupted);
  EXPECT_FALSE(r.state.finished);
  EXPECT_TRUE(r.state.history.empty());
}

TEST(Search, ResumingFromAnyCheckpointEndsWithTheSameModel) {
  FakeOracle oracle;
  std::vector<SearchState> checkpoints;
  snare::search::SearchHooks hooks;
  hooks.checkpoint = [&](const SearchState& s) { checkpoints.push_back(s); };
  auto full = snare::search::run(mlp(), oracle, {}, hooks);
  ASSERT_GE(checkpoints.size(), 3u);
  const SearchState& mid = checkpoints[checkpoints.size() / 2];
  // Through JSON, as --resume reads it.
  SearchState restored = snare::search::state_from_json(snare::search::state_json(mid));
  restored.model = mid.model;
  auto resumed = snare::search::run(mlp(), oracle, {}, {}, &restored);
  EXPECT_EQ(snare::ir::dump(resumed.model), snare::ir::dump(full.model));
  ASSERT_EQ(resumed.state.history.size(), full.state.history.size());
  for (size_t i = 0; i < full.state.history.size(); ++i) {
    EXPECT_EQ(resumed.state.history[i].plan, full.state.history[i].plan) << i;
    EXPECT_EQ(resumed.state.history[i].accepted, full.state.history[i].accepted) << i;
  }
}

TEST(Search, NegativeToleranceIsRejected) {
  FakeOracle oracle;
  SearchOptions o;
  o.max_loss_pp = -1;
  EXPECT_THROW(snare::search::run(mlp(), oracle, o), snare::UsageError);
}

}  // namespace
