// Reading the real ONNX fixtures: structure, accuracy on MNIST test (reference values computed by
// ONNX Runtime, shared/models/MODELS.md), and outputs equal to ONNX Runtime on the original files.
#include <gtest/gtest.h>

#include "data/dataset.h"
#include "exec/network.h"
#include "io/onnx/onnx.h"
#include "io_onnx/onnx_test_util.h"

namespace snare {
namespace {

using test::kMnist8;
using test::kMnistCnn;
using test::kMnistMlp;

TEST(ReadOnnx, Mnist8MapsCntkGraphOntoConvPoolDense) {
  ir::Graph g = io::onnx::read_onnx(kMnist8);
  std::string d = ir::dump(g);
  // Conv + bias Add + Relu fuse into one layer; the reshaped weight constant folds into the Dense.
  EXPECT_EQ(g.layers.size(), 7u) << d;
  EXPECT_EQ(g.input_shape(), (ir::Shape{1, 28, 28}));
  EXPECT_EQ(g.layers[1].kind, ir::LayerKind::kConv2D);
  EXPECT_EQ(g.layers[1].padding, ir::Padding::kSame);
  EXPECT_EQ(g.layers[1].activation, ir::Activation::kRelu);
  EXPECT_TRUE(g.layers[1].use_bias);
  EXPECT_EQ(g.layers[5].kind, ir::LayerKind::kFlatten);
  EXPECT_FALSE(g.layers[5].channels_last);
  EXPECT_EQ(g.layers[6].kind, ir::LayerKind::kDense);
  EXPECT_TRUE(g.layers[6].use_bias);
  EXPECT_EQ(g.output_shape(), (ir::Shape{10}));
}

TEST(ReadOnnx, Tf2onnxCnnBecomesChannelsFirstWithChannelsLastFlatten) {
  ir::Graph g = io::onnx::read_onnx(kMnistCnn);
  std::string d = ir::dump(g);
  EXPECT_EQ(g.input_shape(), (ir::Shape{1, 28, 28})) << d;  // NHWC input, fed channels-first
  int flattens = 0;
  for (const ir::Layer& l : g.layers) {
    EXPECT_NE(l.kind, ir::LayerKind::kReshape) << d;
    if (l.kind == ir::LayerKind::kFlatten) {
      ++flattens;
      EXPECT_TRUE(l.channels_last) << d;
    }
  }
  EXPECT_EQ(flattens, 1) << d;
  EXPECT_EQ(g.output().activation, ir::Activation::kSoftmax) << d;
}

TEST(ReadOnnx, Tf2onnxMlpFoldsBiasAddsAndRelus) {
  ir::Graph g = io::onnx::read_onnx(kMnistMlp);
  std::string d = ir::dump(g);
  EXPECT_EQ(g.input_shape(), (ir::Shape{784})) << d;
  for (size_t i = 1; i < g.layers.size(); ++i) {
    EXPECT_EQ(g.layers[i].kind, ir::LayerKind::kDense) << d;
    EXPECT_TRUE(g.layers[i].use_bias) << d;
  }
  EXPECT_EQ(g.output().activation, ir::Activation::kSoftmax) << d;
}

struct AccuracyCase {
  const char* path;
  data::Scale scale;
  double expected;
};

class FixtureAccuracy : public ::testing::TestWithParam<AccuracyCase> {};

TEST_P(FixtureAccuracy, MatchesOnnxRuntimeReferenceOnMnistTest) {
  const AccuracyCase& c = GetParam();
  ir::Graph g = io::onnx::read_onnx(c.path);
  data::Dataset ds = data::load_dataset("mnist", {c.scale});
  exec::EvalResult r = exec::evaluate(g, ds.test);
  std::printf("%s: accuracy %.4f (reference %.4f)\n", c.path, r.accuracy, c.expected);
  EXPECT_EQ(r.samples, 10000);
  EXPECT_NEAR(r.accuracy, c.expected, 0.0005);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureAccuracy,
                         ::testing::Values(AccuracyCase{kMnist8, data::Scale::kRaw, 0.9891},
                                           AccuracyCase{kMnistCnn, data::Scale::kUnit, 0.8972},
                                           AccuracyCase{kMnistMlp, data::Scale::kUnit, 0.9741}));

// The original files (not snare's export) in ONNX Runtime against snare's reading of them.
TEST(ReadOnnx, OutputsMatchOnnxRuntimeOnTheOriginalFiles) {
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing (npm install --ignore-scripts)";
  test::TempDir dir;
  data::Dataset ds = data::load_dataset("mnist", {data::Scale::kUnit});
  at::Tensor images = ds.test.x.narrow(0, 0, 8);  // [8,1,28,28]
  for (const char* path : {kMnist8, kMnistCnn, kMnistMlp}) {
    ir::Graph g = io::onnx::read_onnx(path);
    at::Tensor ours = exec::predict(g, images);
    at::Tensor theirs;
    if (std::string(path) == kMnist8) {  // fixed batch 1
      std::vector<at::Tensor> rows;
      for (int64_t i = 0; i < images.size(0); ++i) rows.push_back(test::run_ort(path, images.narrow(0, i, 1), dir));
      theirs = at::cat(rows);
    } else if (std::string(path) == kMnistCnn) {  // NHWC input: with one channel the same bytes
      theirs = test::run_ort(path, images.reshape({-1, 28, 28, 1}), dir);
    } else {
      theirs = test::run_ort(path, images.reshape({-1, 784}), dir);
    }
    double diff = test::max_abs_diff(ours, theirs);
    std::printf("%s: original file in ONNX Runtime vs snare: max abs diff %.3g\n", path, diff);
    EXPECT_LE(diff, 1e-5) << path;
  }
}

}  // namespace
}  // namespace snare
