// Reading the real Keras files in ../shared/models/keras: structure, parameter counts as Keras
// reports them, and test accuracy against the reference values in shared/models/MODELS.md.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "analysis/stats.h"
#include "data/dataset.h"
#include "exec/network.h"
#include "io/keras/config.h"
#include "io/keras/keras.h"
#include "keras_test_util.h"

namespace {

using snare::ir::LayerKind;
namespace keras = snare::io::keras;
namespace t = snare::test;

TEST(KerasRead, EveryFixtureReadsWithKerasParameterCounts) {
  // Keras' model.summary() totals; LSTM: 4*(units*(inputs+units)+units) = 4*(100*(64+100)+100).
  const std::map<std::string, int64_t> expected = {
      {t::kLenetKeras2, 61706},
      {t::kLenetKeras3Zip, 156 + 2416 + 48120 + 161364 + 850},
      {t::kHarMlp, 35968 + 2080 + 198},
      {t::kHarLstm, 1216 + 66000 + 10100 + 606},
  };
  std::vector<std::string> files = t::keras_fixtures();
  ASSERT_EQ(files.size(), expected.size()) << "a fixture was added: give it its Keras parameter count here";
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    snare::ir::Graph g = keras::read_keras(f);
    ASSERT_TRUE(expected.count(f));
    EXPECT_EQ(snare::analysis::analyze(g).params, expected.at(f));
    EXPECT_NO_THROW(snare::ir::verify(g));
  }
}

TEST(KerasRead, Keras2SequentialWithoutInputLayer) {
  snare::ir::Graph g = keras::read_keras(t::kLenetKeras2);
  EXPECT_EQ(g.name, "sequential_1");
  EXPECT_EQ(g.meta.at("format"), "keras-h5");
  EXPECT_EQ(g.meta.at("keras.keras_version"), "2.3.1");
  EXPECT_EQ(g.meta.at("keras.backend"), "tensorflow");
  EXPECT_EQ(g.meta.at("keras.model_class"), "Sequential");
  EXPECT_NE(g.meta.at("keras.training_config").find("Adam"), std::string::npos);
  ASSERT_EQ(g.layers.size(), 9u);
  EXPECT_EQ(g.layers[0].kind, LayerKind::kInput);
  EXPECT_EQ(g.layers[0].input_shape, (snare::ir::Shape{1, 28, 28}));
  const snare::ir::Layer& conv = g.layer("conv2d_1");
  EXPECT_EQ(conv.padding, snare::ir::Padding::kSame);
  EXPECT_EQ(conv.activation, snare::ir::Activation::kRelu);
  EXPECT_EQ(conv.weights.at("weight").sizes(), (std::vector<int64_t>{6, 1, 5, 5}));
  EXPECT_TRUE(g.layer("flatten_1").channels_last);
  EXPECT_EQ(g.layer("dense_1").weights.at("weight").sizes(), (std::vector<int64_t>{120, 400}));
  EXPECT_EQ(g.layer("dense_3").activation, snare::ir::Activation::kSoftmax);
  EXPECT_NE(g.layer("dense_1").origin_config.find("\"units\":120"), std::string::npos);
}

TEST(KerasRead, Keras3ZipWithTanhAndAveragePooling) {
  snare::ir::Graph g = keras::read_keras(t::kLenetKeras3Zip);
  EXPECT_EQ(g.meta.at("format"), "keras-zip");
  EXPECT_EQ(g.meta.at("keras.keras_version"), "3.10.0");
  EXPECT_EQ(g.layers[0].name, "input_layer");
  EXPECT_EQ(g.layer("average_pooling2d").kind, LayerKind::kAvgPool2D);
  EXPECT_EQ(g.layer("conv2d_2").padding, snare::ir::Padding::kSame);
  EXPECT_EQ(g.layer("conv2d").activation, snare::ir::Activation::kTanh);
  g.infer_shapes();
  EXPECT_EQ(g.layer("flatten").output_shape, (snare::ir::Shape{1920}));
}

TEST(KerasRead, Keras3LstmWeightsInLibTorchLayout) {
  snare::ir::Graph g = keras::read_keras(t::kHarLstm);
  EXPECT_EQ(g.input().input_shape, (snare::ir::Shape{6, 128}));
  const snare::ir::Layer& lstm = g.layer("lstm");
  EXPECT_EQ(lstm.units, 100);
  EXPECT_FALSE(lstm.return_sequences);
  EXPECT_EQ(lstm.weights.at("weight_ih").sizes(), (std::vector<int64_t>{400, 64}));
  EXPECT_EQ(lstm.weights.at("weight_hh").sizes(), (std::vector<int64_t>{400, 100}));
  EXPECT_TRUE(at::equal(lstm.weights.at("bias_hh"), at::zeros({400})));
  // unit_forget_bias trained from 1: the forget quarter of the bias sits well above the others.
  at::Tensor b = lstm.weights.at("bias_ih");
  EXPECT_GT(b.narrow(0, 100, 100).mean().item<double>(), b.narrow(0, 0, 100).mean().item<double>());
  at::Tensor y = snare::exec::predict(g, at::randn({4, 6, 128}));
  EXPECT_TRUE(at::allclose(y.sum(1), at::ones({4}), 1e-5, 1e-5));
}

TEST(KerasRead, Keras3LegacyH5WeightNaming) {
  snare::ir::Graph g = keras::read_keras(t::kHarMlp);
  EXPECT_EQ(g.meta.at("keras.keras_version"), "3.10.0");
  EXPECT_EQ(g.input().input_shape, (snare::ir::Shape{561}));
  EXPECT_EQ(g.layer("output_layer").weights.at("weight").sizes(), (std::vector<int64_t>{6, 32}));
}

/// Accuracy on the 10,000 MNIST test images, raw 0..255 pixels (how both models were trained).
double mnist_accuracy(const std::string& file) {
  snare::data::Dataset d = snare::data::load_dataset("mnist", {snare::data::Scale::kRaw});
  return snare::exec::evaluate(keras::read_keras(file), d.test).accuracy;
}

bool have_mnist() { return std::filesystem::exists("data/mnist/t10k-images-idx3-ubyte"); }

TEST(KerasAccuracy, Keras2LenetMatchesReference) {
  if (!have_mnist()) GTEST_SKIP() << "data/mnist missing (run scripts/setup.sh)";
  EXPECT_NEAR(mnist_accuracy(t::kLenetKeras2), 0.9784, 0.0005);
}

TEST(KerasAccuracy, Keras3ZipLenetMatchesReference) {
  if (!have_mnist()) GTEST_SKIP() << "data/mnist missing (run scripts/setup.sh)";
  EXPECT_NEAR(mnist_accuracy(t::kLenetKeras3Zip), 0.9748, 0.0005);
}

}  // namespace
