#include "exec/train.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <limits>

#include "analysis/stats.h"
#include "arch/builder.h"
#include "common/error.h"
#include "exec/network.h"

namespace {

using snare::ir::Activation;
using snare::ir::Padding;

// A separable toy problem: class = which of 3 input quarters holds the largest sum.
snare::data::Split toy(int64_t n, uint64_t seed) {
  at::manual_seed(seed);
  snare::data::Split s;
  s.x = at::rand({n, 12});
  s.y = s.x.reshape({n, 3, 4}).sum(2).argmax(1);
  return s;
}

snare::ir::Graph mlp() {
  snare::arch::GraphBuilder b("mlp", {12}, 3);
  b.dense(16, Activation::kRelu).dense(3, Activation::kSoftmax);
  return b.finish();
}

TEST(Train, LearnsAToyProblemWithAndWithoutAugmentation) {
  auto fit = toy(2000, 1), test = toy(500, 2);
  snare::exec::TrainOptions o;
  o.epochs = 15;
  o.lr = 1e-2;
  auto plain = snare::exec::train(mlp(), fit, nullptr, o);
  EXPECT_GT(snare::exec::evaluate(plain.graph, test).accuracy, 0.85);
  EXPECT_EQ(plain.epochs.size(), 15u);
  o.augment = snare::exec::parse_augment("scale=0.1,noise=0.02");
  auto augmented = snare::exec::train(mlp(), fit, nullptr, o);
  EXPECT_GT(snare::exec::evaluate(augmented.graph, test).accuracy, 0.85);
  EXPECT_NE(snare::ir::dump(plain.graph), snare::ir::dump(augmented.graph));
}

TEST(Train, SameSeedSameWeights) {
  auto fit = toy(500, 1);
  snare::exec::TrainOptions o;
  o.epochs = 2;
  auto a = snare::exec::train(mlp(), fit, nullptr, o);
  auto b = snare::exec::train(mlp(), fit, nullptr, o);
  EXPECT_EQ(snare::ir::dump(a.graph), snare::ir::dump(b.graph));
  o.seed = 2;
  auto c = snare::exec::train(mlp(), fit, nullptr, o);
  EXPECT_NE(snare::ir::dump(a.graph), snare::ir::dump(c.graph));
}

/// Sets the stop flag when the current epoch has done `after` batches (a signal arriving mid-epoch).
class StopAfterBatches : public snare::ProgressSink {
 public:
  StopAfterBatches(std::atomic<bool>& stop, int64_t epoch, int64_t after) : stop_(stop), epoch_(epoch), after_(after) {}
  void begin(const std::string&, int64_t) override { ++epoch_now_; }
  void update(int64_t done, const std::string&) override {
    if (epoch_now_ == epoch_ && done == after_) stop_.store(true);
  }

 private:
  std::atomic<bool>& stop_;
  int64_t epoch_, after_, epoch_now_ = 0;
};

TEST(Train, StopFlagEndsTrainingAfterTheCurrentBatch) {
  auto fit = toy(1000, 1), val = toy(200, 2);
  snare::exec::TrainOptions o;
  o.epochs = 4;
  o.batch_size = 100;
  std::atomic<bool> stop{false};
  o.stop = &stop;
  const auto full = snare::exec::train(mlp(), fit, &val, o);
  EXPECT_FALSE(full.stopped);
  EXPECT_EQ(full.epochs.size(), 4u);

  StopAfterBatches signal(stop, 2, 3);  // in epoch 2, after its third batch
  const auto cut = snare::exec::train(mlp(), fit, &val, o, signal);
  EXPECT_TRUE(cut.stopped);
  ASSERT_EQ(cut.epochs.size(), 1u);  // epoch 2 was not finished, so it is not recorded
  // 13 batches trained: the weights of 13 batches of the full run's order, not of the input nor of the full run.
  o.stop = nullptr;
  o.max_batches = 13;
  o.restore_best = false;
  const auto thirteen = snare::exec::train(mlp(), fit, nullptr, o);
  EXPECT_EQ(snare::ir::dump(cut.graph), snare::ir::dump(thirteen.graph));
  EXPECT_NE(snare::ir::dump(cut.graph), snare::ir::dump(full.graph));

  stop.store(true);  // already set: not one batch
  o.stop = &stop;
  o.max_batches = 0;
  const auto none = snare::exec::train(mlp(), fit, nullptr, o);
  EXPECT_TRUE(none.stopped);
  EXPECT_TRUE(none.epochs.empty());
}

TEST(Train, MaskedWeightsStayExactlyZero) {
  auto g = mlp();
  auto& w = g.layers[1].weights["weight"];
  at::Tensor mask = (at::rand(w.sizes()) > 0.7).to(at::kFloat);
  g.layers[1].masks["weight"] = mask;
  w = w * mask;
  int64_t kept = mask.sum().item<int64_t>();
  snare::exec::TrainOptions o;
  o.epochs = 3;
  o.optimizer = snare::exec::Optimizer::kSgd;
  auto r = snare::exec::train(g, toy(300, 1), nullptr, o);
  const auto& trained = r.graph.layers[1].weights.at("weight");
  EXPECT_EQ(trained.ne(0).sum().item<int64_t>(), kept);
  EXPECT_TRUE(at::equal(trained.eq(0), mask.eq(0)));
}

TEST(Train, EarlyStoppingKeepsBestValidationWeights) {
  auto fit = toy(600, 1), val = toy(300, 5);
  snare::exec::TrainOptions o;
  o.epochs = 30;
  o.patience = 2;
  o.lr = 5e-2;
  auto r = snare::exec::train(mlp(), fit, &val, o);
  EXPECT_LE(r.epochs.size(), 30u);
  EXPECT_NEAR(snare::exec::evaluate(r.graph, val).accuracy, r.best_val_accuracy, 1e-12);
}

TEST(Train, RejectsNonsenseOptions) {
  auto fit = toy(10, 1);
  snare::exec::TrainOptions o;
  o.epochs = -1;
  EXPECT_THROW(snare::exec::train(mlp(), fit, nullptr, o), snare::OptionError);
  o.epochs = 1;
  o.lr = 0;
  EXPECT_THROW(snare::exec::train(mlp(), fit, nullptr, o), snare::OptionError);
  o.lr = 1e-3;
  o.batch_size = 0;
  EXPECT_THROW(snare::exec::train(mlp(), fit, nullptr, o), snare::OptionError);
  o.batch_size = 8;
  // An infinite or NaN learning rate trained a NaN model before; each names its field.
  for (double lr : {std::numeric_limits<double>::infinity(), std::nan("")}) {
    o.lr = lr;
    try {
      snare::exec::train(mlp(), fit, nullptr, o);
      ADD_FAILURE() << "accepted lr " << lr;
    } catch (const snare::OptionError& e) {
      EXPECT_EQ(e.field(), "TrainOptions::lr");
    }
  }
}

// A finite but absurd learning rate diverges: training stops with an error instead of returning a NaN model.
TEST(Train, DivergenceStopsWithAnErrorNamingTheLearningRate) {
  auto fit = toy(64, 2);
  snare::exec::TrainOptions o;
  o.optimizer = snare::exec::Optimizer::kSgd;
  o.lr = 1e30;
  o.epochs = 3;
  o.batch_size = 16;
  try {
    snare::exec::train(mlp(), fit, nullptr, o);
    ADD_FAILURE() << "trained at lr 1e30";
  } catch (const snare::OptionError& e) {
    EXPECT_EQ(e.field(), "TrainOptions::lr");
    EXPECT_NE(std::string(e.what()).find("diverged"), std::string::npos) << e.what();
  }
  o.stop_on_divergence = false;  // as a search's retraining: the model comes back, to be judged
  EXPECT_NO_THROW(snare::exec::train(mlp(), fit, nullptr, o));
}

}  // namespace

namespace {

TEST(Train, BestEpochRestoreIncludesBatchNormStatistics) {
  snare::arch::GraphBuilder b("bn", {12}, 3);
  b.dense(16, snare::ir::Activation::kRelu).batchnorm().dense(3, snare::ir::Activation::kSoftmax);
  auto fit = toy(600, 1), val = toy(300, 5);
  snare::exec::TrainOptions o;
  o.epochs = 12;
  o.lr = 5e-2;
  auto r = snare::exec::train(b.finish(), fit, &val, o);
  // The returned weights, running statistics included, are those of the best validation epoch.
  EXPECT_NEAR(snare::exec::evaluate(r.graph, val).accuracy, r.best_val_accuracy, 1e-12);
}

}  // namespace
