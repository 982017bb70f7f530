// The SNARE loop with a fake oracle: no training, accuracy is a known function of the model, so the
// loop's decisions can be checked exactly and in milliseconds.
#include "search/search.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>

#include "analysis/stats.h"
#include "common/error.h"
#include "arch/builder.h"
#include "reduce/importance.h"
#include "search/state_json.h"

namespace {

using snare::ir::Activation;
using snare::search::Hits;
using snare::search::Op;
using snare::search::SearchOptions;
using snare::search::SearchState;

snare::ir::Graph mlp() {
  snare::arch::GraphBuilder b("mlp", {12}, 5);
  b.dense(16, Activation::kRelu).dense(8, Activation::kRelu).dense(3, Activation::kSoftmax);
  return b.finish();
}

/// Hits of a model of `accuracy` on 10,000 samples: the first round(accuracy * n) right, so a less
/// accurate model misses a superset of a more accurate one's misses.
Hits hits_of(double accuracy) {
  Hits h(10000, 0);
  std::fill(h.begin(), h.begin() + std::llround(accuracy * 10000), 1);
  return h;
}

/// Accuracy 0.95 while the model keeps >= 150 non-zero parameters and dense keeps >= 4 units,
/// falling 0.1 point per missing parameter below that. No confirmation split.
class FakeOracle : public snare::search::Oracle {
 public:
  virtual double accuracy(const snare::ir::Graph& m) {
    auto s = snare::analysis::analyze(m);
    if (m.layer("dense").units < 4) return 0.5;
    return 0.95 - 0.001 * static_cast<double>(std::max<int64_t>(0, 150 - s.nonzero_params));
  }
  Hits validate(const snare::ir::Graph& m) override {
    ++validations;
    return hits_of(accuracy(m));
  }
  Hits confirm(const snare::ir::Graph&) override { return {}; }
  double probe(const snare::ir::Graph& m) override { return accuracy(m); }
  snare::ir::Graph retrain(const snare::ir::Graph& m, uint64_t) override {
    ++retrains;
    return m;
  }
  snare::ir::Graph finetune(const snare::ir::Graph& m, uint64_t) override { return m; }
  std::vector<double> importance(const snare::ir::Graph& m, const snare::analysis::UnitGroup& g) override {
    return snare::reduce::weight_importance(m, g, snare::reduce::Criterion::kL2);
  }
  int validations = 0, retrains = 0;
};

/// Every step's first retraining leaves validation 0.2 points short; a second one recovers it.
class SlowRecoveryOracle : public FakeOracle {
 public:
  double accuracy(const snare::ir::Graph& m) override { return FakeOracle::accuracy(m) - (rounds_ == 1 ? 0.002 : 0.0); }
  double probe(const snare::ir::Graph& m) override {
    rounds_ = 0;
    return FakeOracle::accuracy(m);
  }
  snare::ir::Graph retrain(const snare::ir::Graph& m, uint64_t seed) override {
    ++rounds_;
    return FakeOracle::retrain(m, seed);
  }

 private:
  int rounds_ = 0;
};

/// Confirmation agrees with validation until a model has fewer than `drop_below` non-zero parameters;
/// smaller models lose 2 points there (and only there).
class ConfirmationDropOracle : public FakeOracle {
 public:
  explicit ConfirmationDropOracle(int64_t drop_below) : drop_below_(drop_below) {}
  Hits confirm(const snare::ir::Graph& m) override {
    const bool dropped = snare::analysis::analyze(m).nonzero_params < drop_below_;
    return hits_of(accuracy(m) - (dropped ? 0.02 : 0.0));
  }

 private:
  int64_t drop_below_;
};

/// The model after every accepted step of a run, by step.
std::map<int64_t, snare::ir::Graph> accepted_models(snare::search::Oracle& oracle, const SearchOptions& o) {
  std::map<int64_t, snare::ir::Graph> models;
  snare::search::SearchHooks hooks;
  hooks.checkpoint = [&](const SearchState& s) {
    if (!s.history.empty() && s.history.back().accepted) models[s.history.back().step] = s.model;
  };
  snare::search::run(mlp(), oracle, o, hooks);
  return models;
}

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
  EXPECT_THROW(snare::search::run(b.finish(), oracle, o), snare::OptionError);
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
  EXPECT_GE(oracle.accuracy(r.model), 0.95 - 0.0039);
  EXPECT_GE(r.model.layer("dense").units, 4);
  const snare::search::Tolerance tol = snare::search::tolerance_of(o);
  for (const auto& step : r.state.history) {
    // Paired rule: the loss against the input plus one standard error of it stays within 0.39 points.
    const double bound = step.val_loss.loss() + step.val_loss.standard_error();
    EXPECT_EQ(step.accepted, bound <= 0.0039 + 1e-12 || step.op == Op::kFinetune) << step.reason;
    EXPECT_EQ(step.accepted, snare::search::holds(tol, step.val_loss) || step.op == Op::kFinetune) << step.reason;
    if (step.op != Op::kFinetune) {
      EXPECT_FALSE(step.scores.empty());
    }
  }
}

/// Reports a mean of 1 for every input of every Dense layer, and remembers the output layer's bias sum at each probe.
class MeansOracle : public FakeOracle {
 public:
  std::map<std::string, at::Tensor> input_means(const snare::ir::Graph& m) override {
    ++means_calls;
    std::map<std::string, at::Tensor> out;
    for (const snare::ir::Layer& l : m.layers) {
      if (l.kind == snare::ir::LayerKind::kDense) out[l.name] = at::ones({l.weights.at("weight").size(1)});
    }
    return out;
  }
  double probe(const snare::ir::Graph& m) override {
    output_bias_sums.insert(m.layer("dense_2").weights.at("bias").sum().item<double>());
    return FakeOracle::probe(m);
  }
  int means_calls = 0;
  std::set<double> output_bias_sums;
};

// With compensation, unit and mask candidates carry the oracle's input means, so removing dense_1's units or masking
// dense_2 moves their contribution into dense_2's bias; without it (and with a retraining that changes nothing) that
// bias never moves, and the oracle is never asked for means.
TEST(Search, CompensationMovesWhatAStepDropsIntoTheNextBias) {
  for (bool compensate : {true, false}) {
    MeansOracle oracle;
    SearchOptions o;
    o.max_loss_pp = 0.39;
    o.compensate = compensate;
    auto r = snare::search::run(mlp(), oracle, o);
    ASSERT_TRUE(r.state.finished);
    if (compensate) {
      EXPECT_GE(oracle.means_calls, 1);
      EXPECT_GT(oracle.output_bias_sums.size(), 1u);
    } else {
      EXPECT_EQ(oracle.means_calls, 0);
      EXPECT_EQ(oracle.output_bias_sums.size(), 1u);
    }
  }
}

/// Counts the probes of trial reductions (not those of the current model, which carry no candidate).
class ProbeCountingOracle : public FakeOracle {
 public:
  double probe(const snare::ir::Graph& m) override {
    ++probes;
    return FakeOracle::probe(m);
  }
  int probes = 0;
};

// Candidates are probed in the order of their score's upper bound (its value at no accuracy drop), and those whose
// bound is below the best score found are left unprobed: they could not have been picked, so the pick is the one an
// exhaustive scoring makes, with fewer probes.
TEST(Search, CandidatesLeftUnprobedCouldNotHaveWon) {
  ProbeCountingOracle oracle;
  SearchOptions o;
  auto r = snare::search::run(mlp(), oracle, o);
  int candidates = 0, unprobed = 0, steps = 0;
  for (const auto& step : r.state.history) {
    if (step.op == Op::kFinetune) continue;
    ++steps;
    double best = 0;
    for (const auto& s : step.scores) {
      if (s.probed && s.score > best) best = s.score;
    }
    bool pick_is_best = false;
    for (const auto& s : step.scores) {
      if (s.score < 0) continue;  // could not be applied
      ++candidates;
      const double bound = (s.param_share + o.mac_weight * s.mac_share) / 0.005 * std::pow(0.5, s.failures);
      if (s.probed) {
        EXPECT_LE(s.score, bound * (1 + 1e-12)) << s.target;
        if (s.score == best && s.target == step.target && s.op == step.op) pick_is_best = true;
      } else {
        ++unprobed;
        EXPECT_DOUBLE_EQ(s.score_bound, bound) << s.target;
        EXPECT_LE(s.score_bound, best) << "step " << step.step << ": " << s.target << " might have won";
      }
    }
    EXPECT_TRUE(pick_is_best) << "step " << step.step;
  }
  ASSERT_GT(steps, 0);
  EXPECT_GT(unprobed, 0);
  // One probe of each model the search stood on, plus one per probed candidate.
  EXPECT_LE(oracle.probes, candidates - unprobed + steps);
  // The state keeps what was not probed as unknown, not as zero.
  const SearchState back = snare::search::state_from_json(snare::search::state_json(r.state));
  for (size_t i = 0; i < back.history.size(); ++i) {
    for (size_t j = 0; j < back.history[i].scores.size(); ++j) {
      EXPECT_EQ(back.history[i].scores[j].probed, r.state.history[i].scores[j].probed);
      EXPECT_EQ(back.history[i].scores[j].score_bound, r.state.history[i].scores[j].score_bound);
    }
  }
}

// The margin term of the threshold: with --margin m every accepted step keeps its loss plus m standard errors within
// the tolerance, and a wider margin never lets the search go further.
TEST(Search, MarginKeepsEveryAcceptedStepThatManyStandardErrorsInside) {
  std::map<double, int64_t> nonzero;
  bool margin_mattered = false;
  for (double margin : {0.0, 1.0, 2.0}) {
    SCOPED_TRACE(margin);
    FakeOracle oracle;
    SearchOptions o;
    o.max_loss_pp = 0.39;
    o.margin_se = margin;
    auto r = snare::search::run(mlp(), oracle, o);
    for (const auto& step : r.state.history) {
      if (step.op == Op::kFinetune) continue;
      const double loss = step.val_loss.loss(), se = step.val_loss.standard_error();
      EXPECT_EQ(step.accepted, loss + margin * se <= 0.0039 + 1e-12) << step.reason;
      // A step within the tolerance alone that the margin turned away.
      if (!step.accepted && loss <= 0.0039) margin_mattered = true;
    }
    nonzero[margin] = snare::analysis::analyze(r.model).nonzero_params;
  }
  EXPECT_TRUE(margin_mattered);
  EXPECT_LE(nonzero[0.0], nonzero[1.0]);
  EXPECT_LE(nonzero[1.0], nonzero[2.0]);
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
  EXPECT_GE(oracle.accuracy(r.model), 0.95);
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

TEST(Search, TimingCountsEveryPhaseAndTravelsInTheState) {
  ConfirmationDropOracle oracle(250);
  auto r = snare::search::run(mlp(), oracle, {});
  const snare::search::SearchTiming& t = r.state.timing;
  for (double s : {t.probing, t.retraining, t.validation, t.rolled_back, t.finetuning, t.checkpoints}) EXPECT_GE(s, 0.0);
  EXPECT_GT(t.probing + t.retraining + t.validation, 0.0);
  double rolled_back = 0;
  for (const auto& rec : r.state.history) {
    if (rec.op != snare::search::Op::kFinetune && !rec.accepted) rolled_back += rec.seconds;
  }
  EXPECT_DOUBLE_EQ(t.rolled_back, rolled_back);
  const SearchState back = snare::search::state_from_json(snare::search::state_json(r.state));
  EXPECT_DOUBLE_EQ(back.timing.probing, t.probing);
  EXPECT_DOUBLE_EQ(back.timing.checkpoints, t.checkpoints);
}

TEST(Search, ResumingFromAnyCheckpointEndsWithTheSameModel) {
  ConfirmationDropOracle oracle(250);  // walks back part-way, so the confirmed model must be restored too
  std::vector<SearchState> checkpoints;
  snare::search::SearchHooks hooks;
  hooks.checkpoint = [&](const SearchState& s) { checkpoints.push_back(s); };
  auto full = snare::search::run(mlp(), oracle, {}, hooks);
  ASSERT_GE(checkpoints.size(), 3u);
  const SearchState& mid = checkpoints[checkpoints.size() / 2];
  // Through JSON, as --resume reads it.
  SearchState restored = snare::search::state_from_json(snare::search::state_json(mid));
  restored.model = mid.model;
  restored.confirmed_model = mid.confirmed_model;
  auto resumed = snare::search::run(mlp(), oracle, {}, {}, &restored);
  EXPECT_EQ(snare::ir::dump(resumed.model), snare::ir::dump(full.model));
  EXPECT_EQ(resumed.returned_step, full.returned_step);
  ASSERT_EQ(resumed.state.history.size(), full.state.history.size());
  for (size_t i = 0; i < full.state.history.size(); ++i) {
    EXPECT_EQ(resumed.state.history[i].plan, full.state.history[i].plan) << i;
    EXPECT_EQ(resumed.state.history[i].accepted, full.state.history[i].accepted) << i;
  }
}

/// Raises the stop flag inside its `at`-th retraining (0: inside the first fine-tuning), as a signal that arrives
/// while TorchOracle trains: its training then ends early, and the search must not keep what it returns.
class SignalDuringTraining : public ConfirmationDropOracle {
 public:
  SignalDuringTraining(std::atomic<bool>& stop, int at) : ConfirmationDropOracle(250), stop_(stop), at_(at) {}
  snare::ir::Graph retrain(const snare::ir::Graph& m, uint64_t seed) override {
    if (++retrains_seen_ == at_) stop_.store(true);
    return ConfirmationDropOracle::retrain(m, seed);
  }
  snare::ir::Graph finetune(const snare::ir::Graph& m, uint64_t seed) override {
    if (at_ == 0) stop_.store(true);
    return ConfirmationDropOracle::finetune(m, seed);
  }

 private:
  std::atomic<bool>& stop_;
  int at_, retrains_seen_ = 0;
};

TEST(Search, SignalDuringTrainingDiscardsItAndResumesToTheUninterruptedEnd) {
  for (int trials : {1, 2}) {
    SearchOptions o;
    o.trials = trials;
    ConfirmationDropOracle plain(250);
    const auto full = snare::search::run(mlp(), plain, o);
    ASSERT_EQ(full.state.history.back().op, Op::kFinetune);
    for (int at : {3, 0}) {  // the third retraining (the second step's second trial with two); the final fine-tuning
      SCOPED_TRACE(fmt::format("trials {}, signal at {}", trials, at));
      std::atomic<bool> stop{false};
      SearchState saved;
      snare::search::SearchHooks hooks;
      hooks.stop = &stop;
      hooks.checkpoint = [&](const SearchState& s) { saved = s; };
      SignalDuringTraining oracle(stop, at);
      const auto cut = snare::search::run(mlp(), oracle, o, hooks);
      EXPECT_TRUE(cut.interrupted);
      EXPECT_FALSE(saved.finished);
      EXPECT_EQ(saved.stop_reason, "interrupted");
      // What was decided before the signal is kept; nothing of the step under way, not even its number.
      ASSERT_LT(saved.history.size(), full.state.history.size());
      // The third retraining is step 3's with one trial, the second round's with two (the first round decided one
      // record, or two when its first trial was rolled back).
      const size_t before_signal =
          at == 0 ? full.state.history.size() - 1 : trials == 1 ? 2 : full.state.history[0].accepted ? 1 : 2;
      EXPECT_EQ(saved.history.size(), before_signal);
      for (size_t i = 0; i < saved.history.size(); ++i) {
        EXPECT_EQ(saved.history[i].plan, full.state.history[i].plan) << i;
        EXPECT_EQ(saved.history[i].accepted, full.state.history[i].accepted) << i;
      }
      EXPECT_EQ(saved.next_step, saved.history.empty() ? 1 : saved.history.back().step + 1);

      SearchState restored = snare::search::state_from_json(snare::search::state_json(saved));
      restored.model = saved.model;
      restored.confirmed_model = saved.confirmed_model;
      ConfirmationDropOracle again(250);
      const auto resumed = snare::search::run(mlp(), again, o, {}, &restored);
      EXPECT_FALSE(resumed.interrupted);
      EXPECT_EQ(snare::ir::dump(resumed.model), snare::ir::dump(full.model));
      EXPECT_EQ(resumed.returned_step, full.returned_step);
      EXPECT_EQ(resumed.state.stop_reason, full.state.stop_reason);
      ASSERT_EQ(resumed.state.history.size(), full.state.history.size());
      for (size_t i = 0; i < full.state.history.size(); ++i) {
        EXPECT_EQ(resumed.state.history[i].step, full.state.history[i].step) << i;
        EXPECT_EQ(resumed.state.history[i].plan, full.state.history[i].plan) << i;
        EXPECT_EQ(resumed.state.history[i].accepted, full.state.history[i].accepted) << i;
      }
    }
  }
}

TEST(Search, ConfirmationWalksBackToTheLastStepThatHolds) {
  SearchOptions o;
  o.final_finetune = false;
  FakeOracle plain;
  auto models = accepted_models(plain, o);
  ASSERT_GE(models.size(), 3u);
  auto it = std::next(models.begin());  // step k-1: the second accepted step; k: the third
  const int64_t k_minus_1 = it->first, k = std::next(it)->first;
  const int64_t drop_below = snare::analysis::analyze(it->second).nonzero_params;
  auto reference = snare::search::run(mlp(), plain, o);

  ConfirmationDropOracle dropping(drop_below);
  auto r = snare::search::run(mlp(), dropping, o);
  EXPECT_EQ(r.returned_step, k_minus_1);
  EXPECT_EQ(r.last_accepted_step, models.rbegin()->first);
  EXPECT_EQ(snare::ir::dump(r.model), snare::ir::dump(models.at(k_minus_1)));
  EXPECT_NEAR(r.confirmation.loss(), 0.0, 1e-12);
  // The search never decides on confirmation: the same steps, accepted and rejected alike.
  ASSERT_EQ(r.state.history.size(), reference.state.history.size());
  for (size_t i = 0; i < r.state.history.size(); ++i) {
    const auto& step = r.state.history[i];
    EXPECT_EQ(step.plan, reference.state.history[i].plan) << i;
    EXPECT_EQ(step.accepted, reference.state.history[i].accepted) << i;
    if (step.accepted) {
      EXPECT_EQ(step.confirm_holds, step.step < k) << step.step;
    }
  }
  // The search goes on from the last accepted model; only what it returns walks back.
  EXPECT_EQ(snare::ir::dump(r.state.model), snare::ir::dump(reference.model));

  // A drop from the first step on walks back to the input model.
  ConfirmationDropOracle always(snare::analysis::analyze(mlp()).nonzero_params);
  auto none = snare::search::run(mlp(), always, o);
  EXPECT_EQ(none.returned_step, 0);
  EXPECT_EQ(snare::ir::dump(none.model), snare::ir::dump(mlp()));
}

TEST(Search, FineTuningCountsAsALastStepForConfirmation) {
  FakeOracle plain;
  auto r = snare::search::run(mlp(), plain, {});
  ASSERT_EQ(r.state.history.back().op, Op::kFinetune);
  ASSERT_TRUE(r.state.history.back().accepted);
  EXPECT_EQ(r.last_accepted_step, r.state.history.back().step);
  EXPECT_EQ(r.returned_step, r.last_accepted_step);
}

/// Remembers how many candidates each step retrained as parallel trials.
class TrialCountingOracle : public FakeOracle {
 public:
  std::vector<snare::search::Trial> trials(const std::vector<const snare::ir::Graph*>& models,
                                           const std::vector<uint64_t>& seeds) override {
    calls.push_back(models.size());
    return Oracle::trials(models, seeds);
  }
  std::vector<size_t> calls;
};

// --trials k: each step retrains the k best-scored candidates (one per target) and decides them in score order: those
// before the first that holds are rolled back, that one is kept, the rest are dropped without a record.
TEST(Search, ParallelTrialsKeepTheBestScoredOneThatHolds) {
  TrialCountingOracle oracle;
  SearchOptions o;
  o.trials = 3;
  const auto r = snare::search::run(mlp(), oracle, o);
  ASSERT_FALSE(oracle.calls.empty());
  size_t at = 0;
  int kept_early = 0;
  for (size_t n : oracle.calls) {
    ASSERT_LT(at, r.state.history.size());
    const auto& scores = r.state.history[at].scores;
    // The picks: the n best probed scores, one per target, ties to the earlier candidate.
    std::vector<size_t> order;
    for (size_t i = 0; i < scores.size(); ++i) {
      if (scores[i].probed && scores[i].score > 0) order.push_back(i);
    }
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a].score > scores[b].score; });
    std::vector<size_t> picks;
    std::set<std::string> seen;
    for (size_t i : order) {
      const std::string key = std::string(snare::search::op_name(scores[i].op)) + scores[i].target;
      if (picks.size() < n && seen.insert(key).second) picks.push_back(i);
    }
    ASSERT_EQ(picks.size(), n) << "step " << r.state.history[at].step;
    if (n == 3) {  // nothing unprobed could have made the top 3
      for (const auto& s : scores) {
        if (!s.probed && s.score >= 0) {
          EXPECT_LE(s.score_bound, scores[picks.back()].score) << s.target;
        }
      }
    }
    for (size_t t = 0; t < n; ++t) {
      ASSERT_LT(at, r.state.history.size());
      const auto& rec = r.state.history[at++];
      EXPECT_EQ(rec.target, scores[picks[t]].target);
      EXPECT_EQ(rec.op, scores[picks[t]].op);
      EXPECT_NE(rec.reason.find(fmt::format("(trial {} of {})", t + 1, n)), std::string::npos) << rec.reason;
      if (rec.accepted) {
        if (t + 1 < n) ++kept_early;
        break;
      }
    }
  }
  // Then the final fine-tuning, and nothing else.
  ASSERT_EQ(at + 1, r.state.history.size());
  EXPECT_EQ(r.state.history.back().op, Op::kFinetune);
  EXPECT_GT(kept_early, 0) << "no step kept a trial before the last: the test did not see trials dropped";
  EXPECT_GE(oracle.accuracy(r.model), 0.95 - 0.0039);
  EXPECT_LT(snare::analysis::analyze(r.model).nonzero_params, snare::analysis::analyze(mlp()).nonzero_params / 2);
}

/// The first fine-tuning wins back what short retraining lost: afterwards accuracy holds down to 100 non-zero
/// parameters instead of 150.
class FinetuneRecoversOracle : public FakeOracle {
 public:
  double accuracy(const snare::ir::Graph& m) override {
    auto s = snare::analysis::analyze(m);
    if (m.layer("dense").units < 4) return 0.5;
    return 0.95 - 0.001 * static_cast<double>(std::max<int64_t>(0, holds_down_to_ - s.nonzero_params));
  }
  snare::ir::Graph finetune(const snare::ir::Graph& m, uint64_t) override {
    ++finetunes;
    holds_down_to_ = 100;
    return m;
  }
  int finetunes = 0;

 private:
  int64_t holds_down_to_ = 150;
};

// With consolidations, a search out of candidates fine-tunes, forgets its failures and goes on: it reduces past
// where it stopped without them. A consolidation follows only a changed model, and the final fine-tuning is not
// repeated on a model just fine-tuned.
TEST(Search, ConsolidationFineTunesAndGoesOnWhereTheSearchStopped) {
  auto finetune_steps = [](const SearchState& s) {
    std::vector<size_t> at;
    for (size_t i = 0; i < s.history.size(); ++i) {
      if (s.history[i].op == Op::kFinetune) at.push_back(i);
    }
    return at;
  };
  SearchOptions o;
  FinetuneRecoversOracle plain;
  const auto r0 = snare::search::run(mlp(), plain, o);
  ASSERT_EQ(finetune_steps(r0.state), std::vector<size_t>{r0.state.history.size() - 1});
  const int64_t plain_size = snare::analysis::analyze(r0.model).nonzero_params;
  EXPECT_GE(plain_size, 145);

  o.consolidations = 1;
  FinetuneRecoversOracle once;
  const auto r1 = snare::search::run(mlp(), once, o);
  const std::vector<size_t> at = finetune_steps(r1.state);
  ASSERT_EQ(at.size(), 2u);
  const auto& consolidation = r1.state.history[at[0]];
  EXPECT_TRUE(consolidation.accepted) << consolidation.reason;
  EXPECT_NE(consolidation.plan.find("consolidation 1 of 1"), std::string::npos) << consolidation.plan;
  EXPECT_EQ(at[1], r1.state.history.size() - 1);
  int accepted_after = 0;
  for (size_t i = at[0] + 1; i < at[1]; ++i) accepted_after += r1.state.history[i].accepted ? 1 : 0;
  EXPECT_GT(accepted_after, 0);
  EXPECT_LT(snare::analysis::analyze(r1.model).nonzero_params, plain_size - 30);
  EXPECT_GE(once.accuracy(r1.model), 0.95 - 0.0039);

  o.consolidations = 5;
  FinetuneRecoversOracle many;
  const auto r5 = snare::search::run(mlp(), many, o);
  const std::vector<size_t> at5 = finetune_steps(r5.state);
  ASSERT_GE(at5.size(), 2u);
  EXPECT_LE(at5.size(), 6u);
  for (size_t k = 1; k < at5.size(); ++k) {  // every fine-tuning follows an accepted reduction
    bool changed = false;
    for (size_t i = at5[k - 1] + 1; i < at5[k]; ++i) changed = changed || r5.state.history[i].accepted;
    EXPECT_TRUE(changed) << "fine-tunings at records " << at5[k - 1] << " and " << at5[k];
  }
  EXPECT_EQ(many.finetunes, static_cast<int>(at5.size()));
}

TEST(Search, NegativeToleranceIsRejected) {
  FakeOracle oracle;
  SearchOptions o;
  o.max_loss_pp = -1;
  EXPECT_THROW(snare::search::run(mlp(), oracle, o), snare::OptionError);
}

TEST(Search, OptionsOutOfRangeNameTheirField) {
  const double nan = std::nan(""), inf = std::numeric_limits<double>::infinity();
  struct Case {
    std::function<void(SearchOptions&)> set;
    const char* field;
  };
  const std::vector<Case> cases = {
      {[&](SearchOptions& o) { o.max_loss_pp = nan; }, "SearchOptions::max_loss_pp"},
      {[&](SearchOptions& o) { o.max_loss_pp = inf; }, "SearchOptions::max_loss_pp"},
      {[&](SearchOptions& o) { o.margin_se = -1; }, "SearchOptions::margin_se"},
      {[&](SearchOptions& o) { o.confirm_margin_se = nan; }, "SearchOptions::confirm_margin_se"},
      {[&](SearchOptions& o) { o.budget_params = -5; }, "SearchOptions::budget_params"},
      {[&](SearchOptions& o) { o.mac_weight = inf; }, "SearchOptions::mac_weight"},
      {[&](SearchOptions& o) { o.time_limit_s = nan; }, "SearchOptions::time_limit_s"},
      {[&](SearchOptions& o) { o.recovery_rounds = -1; }, "SearchOptions::recovery_rounds"},
      {[&](SearchOptions& o) { o.channel_multiple = 0; }, "SearchOptions::channel_multiple"},
      {[&](SearchOptions& o) { o.trials = 0; }, "SearchOptions::trials"},
      {[&](SearchOptions& o) { o.consolidations = -1; }, "SearchOptions::consolidations"},
      {[&](SearchOptions& o) {
         o.budget_params = 1000;
         o.budget_macs = 1000;
       },
       "SearchOptions::budget_macs"},
  };
  for (const Case& c : cases) {
    SearchOptions o;
    c.set(o);
    try {
      snare::search::check_options(o);
      ADD_FAILURE() << "accepted a bad " << c.field;
    } catch (const snare::OptionError& e) {
      EXPECT_EQ(e.field(), c.field) << e.what();
    }
  }
  EXPECT_NO_THROW(snare::search::check_options(SearchOptions{}));
}

}  // namespace
