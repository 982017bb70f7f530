#include "exec/network.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "arch/builder.h"
#include "arch/zoo.h"
#include "common/error.h"

namespace {

using snare::ir::Activation;
using snare::ir::Padding;

TEST(Forward, EveryBuiltInGivesProbabilities) {
  for (const auto& a : snare::arch::architectures()) {
    auto g = snare::arch::build(a.name, 1);
    std::vector<int64_t> shape{5};
    shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
    at::Tensor y = snare::exec::predict(g, at::randn(shape));
    ASSERT_EQ(y.size(0), 5) << a.name;
    EXPECT_EQ(y.size(1), g.output_shape()[0]) << a.name;
    EXPECT_TRUE(at::allclose(y.sum(1), at::ones({5}), 1e-5, 1e-5)) << a.name;
  }
}

TEST(Forward, ChannelsLastFlattenOrdersHeightWidthChannel) {
  snare::arch::GraphBuilder b("f", {2, 3, 4}, 1);
  b.flatten();
  auto g = b.finish();
  at::Tensor x = at::arange(24, at::kFloat).reshape({1, 2, 3, 4});
  at::Tensor y = snare::exec::predict(g, x);
  at::Tensor expected = x.permute({0, 2, 3, 1}).reshape({1, 24});
  EXPECT_TRUE(at::equal(y, expected));
}

TEST(Forward, SamePaddingPutsTheOddPixelAtTheEnd) {
  // Keras/TensorFlow: 1x1 input padded with a 2x2 kernel -> pad after only.
  snare::arch::GraphBuilder b("s", {1, 3, 3}, 1);
  b.conv2d(1, 2, Padding::kSame, Activation::kLinear);
  auto g = b.finish();
  g.layers[1].weights["weight"] = at::ones({1, 1, 2, 2});
  at::Tensor x = at::arange(9, at::kFloat).reshape({1, 1, 3, 3});
  at::Tensor y = snare::exec::predict(g, x);
  // Bottom-right output sees only x[2][2] = 8; top-left sees 0+1+3+4.
  EXPECT_FLOAT_EQ(y[0][0][2][2].item<float>(), 8.0f);
  EXPECT_FLOAT_EQ(y[0][0][0][0].item<float>(), 8.0f);
  EXPECT_FLOAT_EQ(y[0][0][1][1].item<float>(), 4 + 5 + 7 + 8);
}

// A ReLU read only by a max pool runs after the pool (a quarter of the work); recording activations keeps the
// graph's order. Both must give the same outputs and gradients bit for bit, including windows where every value is
// negative (all ReLUs 0, a tie), a 1-D network with dropout between the ReLU and the pool, and a ReLU of its own
// Activation layer.
TEST(Forward, ReluAfterMaxPoolGivesTheSameValuesAndGradients) {
  snare::arch::GraphBuilder one_d("c1", {3, 20}, 4);
  one_d.conv1d(5, 3, Padding::kValid, Activation::kRelu).dropout(0.5).maxpool1d(2).flatten().dense(4, Activation::kSoftmax);
  snare::arch::GraphBuilder separate("a", {2, 9, 9}, 4);  // Conv2D, then an Activation layer, then the pool
  separate.conv2d(4, 3, Padding::kValid, Activation::kLinear).activation(Activation::kRelu).maxpool2d(2).flatten();
  separate.dense(3, Activation::kSoftmax);
  for (const snare::ir::Graph& g : {snare::arch::build("lenet5", 1), one_d.finish(), separate.finish()}) {
    std::vector<int64_t> shape{16};
    shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
    at::manual_seed(3);
    at::Tensor x = at::randn(shape) - 0.5;
    at::Tensor y = at::randint(0, g.output_shape()[0], {16}, at::kLong);
    std::vector<std::vector<at::Tensor>> grads;
    std::vector<at::Tensor> outputs;
    for (bool record : {false, true}) {
      snare::exec::Network net(g);
      net.record_activations(record);
      at::manual_seed(5);  // the same dropout masks
      at::Tensor logits = net.forward(x, true, true);
      at::cross_entropy_loss(logits, y).backward();
      outputs.push_back(logits.detach());
      grads.emplace_back();
      for (const at::Tensor& p : net.parameters()) grads.back().push_back(p.grad());
    }
    EXPECT_TRUE(at::equal(outputs[0], outputs[1])) << g.name;
    ASSERT_EQ(grads[0].size(), grads[1].size());
    for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_TRUE(at::equal(grads[0][i], grads[1][i])) << g.name << " " << i;
  }
}

TEST(Forward, AdaptsFlatInputToSingleChannelImages) {
  auto g = snare::arch::build("lenet5", 1);
  at::Tensor x = at::rand({2, 1, 28, 28});
  EXPECT_TRUE(at::equal(snare::exec::predict(g, x), snare::exec::predict(g, x.reshape({2, 784}))));
  EXPECT_THROW(snare::exec::predict(g, at::rand({2, 3, 28, 28})), snare::DataError);
}

TEST(Forward, LogitsSkipOnlyTheFinalSoftmax) {
  auto g = snare::arch::build("lenet5", 1);
  snare::exec::Network net(g);
  at::Tensor x = at::rand({3, 1, 28, 28});
  at::Tensor logits = net.forward(x, false, true);
  at::Tensor probs = net.forward(x, false, false);
  EXPECT_TRUE(at::allclose(at::softmax(logits, 1), probs, 1e-6, 1e-6));
}

TEST(Evaluate, RejectsLabelsBeyondOutputs) {
  auto g = snare::arch::build("lenet5", 1);
  snare::data::Split s;
  s.x = at::rand({4, 1, 28, 28});
  s.y = at::full({4}, 12, at::kLong);
  EXPECT_THROW(snare::exec::evaluate(g, s), snare::DataError);
}

TEST(Evaluate, PerSampleHitsMatchArgmaxAcrossBatches) {
  auto g = snare::arch::build("lenet5", 1);
  snare::data::Split s;
  s.x = at::rand({7, 1, 28, 28});
  at::Tensor predicted = snare::exec::predict(g, s.x).argmax(1);
  // Samples 0, 3 and 6 labelled as predicted, the rest one class off; batches of 3 split the split unevenly.
  s.y = (predicted + 1) % 10;
  for (int64_t i : {0, 3, 6}) s.y[i] = predicted[i];
  snare::exec::ExecOptions o;
  o.batch_size = 3;
  auto r = snare::exec::evaluate(g, s, o);
  EXPECT_EQ(r.correct, (std::vector<uint8_t>{1, 0, 0, 1, 0, 0, 1}));
  EXPECT_NEAR(r.accuracy, 3.0 / 7.0, 1e-12);
}

TEST(Device, UnknownDeviceIsAnOptionError) {
  EXPECT_THROW(snare::exec::parse_device("tpu"), snare::OptionError);
}

}  // namespace
