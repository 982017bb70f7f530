// Writing ONNX: read -> write -> read is identical, and every built-in architecture, every fixture
// and two graphs that use every ir layer kind export, pass the ONNX checker and compute in ONNX
// Runtime what snare computes (max abs difference <= 1e-5).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <algorithm>
#include <fstream>

#include "arch/zoo.h"
#include "common/error.h"
#include "data/dataset.h"
#include "exec/network.h"
#include "io/keras/keras.h"
#include "io/onnx/onnx.h"
#include "io_onnx/onnx_test_util.h"

namespace snare {
namespace {

using ir::Activation;
using ir::Layer;
using ir::LayerKind;
using ir::Padding;

constexpr double kRuntimeTolerance = 1e-5;  // of export_and_compare: absolute, relative above unit outputs

/// Builds graphs layer by layer with seeded random weights (non-zero biases, non-trivial batch-norm
/// statistics) so every weight's layout matters.
class Net {
 public:
  Net(std::string name, ir::Shape input) : gen_(at::detail::createCPUGenerator(7)) {
    g_.name = std::move(name);
    Layer in;
    in.name = "input";
    in.kind = LayerKind::kInput;
    in.input_shape = std::move(input);
    g_.layers.push_back(in);
  }
  at::Tensor rnd(std::vector<int64_t> shape, double scale) {
    return at::randn(shape, gen_, at::TensorOptions(at::kFloat)) * scale;
  }
  const ir::Shape& shape(const std::string& name) {
    g_.infer_shapes();
    return g_.layer(name).output_shape;
  }
  std::string add(Layer l, std::vector<std::string> inputs) {
    l.inputs = std::move(inputs);
    g_.layers.push_back(l);
    g_.infer_shapes();
    return l.name;
  }
  std::string conv(const std::string& name, const std::string& x, int64_t filters, ir::Shape kernel, ir::Shape strides,
                   Padding padding, Activation act, double alpha = 0) {
    Layer l;
    l.name = name;
    l.kind = kernel.size() == 1 ? LayerKind::kConv1D : LayerKind::kConv2D;
    l.units = filters;
    l.kernel = kernel;
    l.strides = strides;
    l.dilation = ir::Shape(kernel.size(), 1);
    l.padding = padding;
    l.activation = act;
    l.alpha = alpha;
    std::vector<int64_t> w{filters, shape(x).at(0)};
    w.insert(w.end(), kernel.begin(), kernel.end());
    l.weights["weight"] = rnd(w, 0.4);
    l.weights["bias"] = rnd({filters}, 0.2);
    return add(l, {x});
  }
  std::string dense(const std::string& name, const std::string& x, int64_t units, Activation act) {
    Layer l;
    l.name = name;
    l.kind = LayerKind::kDense;
    l.units = units;
    l.activation = act;
    l.weights["weight"] = rnd({units, shape(x).at(0)}, 0.3);
    l.weights["bias"] = rnd({units}, 0.2);
    return add(l, {x});
  }
  std::string simple(const std::string& name, LayerKind kind, std::vector<std::string> inputs) {
    Layer l;
    l.name = name;
    l.kind = kind;
    return add(l, std::move(inputs));
  }
  std::string pool(const std::string& name, LayerKind kind, const std::string& x, ir::Shape k, ir::Shape s, Padding p) {
    Layer l;
    l.name = name;
    l.kind = kind;
    l.kernel = k;
    l.strides = s;
    l.padding = p;
    return add(l, {x});
  }
  std::string activation(const std::string& name, const std::string& x, Activation a, double alpha = 0) {
    Layer l;
    l.name = name;
    l.kind = LayerKind::kActivation;
    l.activation = a;
    l.alpha = alpha;
    return add(l, {x});
  }
  std::string lstm(const std::string& name, const std::string& x, int64_t units, bool sequences) {
    Layer l;
    l.name = name;
    l.kind = LayerKind::kLSTM;
    l.units = units;
    l.return_sequences = sequences;
    l.activation = Activation::kTanh;
    int64_t in = shape(x).at(0);
    l.weights["weight_ih"] = rnd({4 * units, in}, 0.5);
    l.weights["weight_hh"] = rnd({4 * units, units}, 0.5);
    l.weights["bias_ih"] = rnd({4 * units}, 0.3);
    l.weights["bias_hh"] = rnd({4 * units}, 0.3);
    return add(l, {x});
  }
  ir::Graph finish() {
    g_.infer_shapes();
    ir::verify(g_);
    return g_;
  }

 private:
  ir::Graph g_;
  at::Generator gen_;
};

/// 2-D and 1-D convs with asymmetric "same" pads, stride 2, every pool, batch norm, zero padding,
/// standalone activations, Add, Concatenate, channels-last Reshape into Conv1D, stacked LSTMs.
ir::Graph every_kind_a() {
  Net n("every_kind_a", {3, 13, 11});
  auto c1 = n.conv("c1", "input", 4, {3, 3}, {2, 2}, Padding::kSame, Activation::kLeakyRelu, 0.2);
  Layer bn;
  bn.name = "bn";
  bn.kind = LayerKind::kBatchNorm;
  bn.epsilon = 1e-3;
  bn.momentum = 0.99;
  bn.weights["weight"] = n.rnd({4}, 0.3) + 1;
  bn.weights["bias"] = n.rnd({4}, 0.3);
  bn.weights["running_mean"] = n.rnd({4}, 0.3);
  bn.weights["running_var"] = n.rnd({4}, 0.3).abs() + 0.5;
  auto b = n.add(bn, {c1});
  Layer zp;
  zp.name = "zp";
  zp.kind = LayerKind::kZeroPadding2D;
  zp.pads = {1, 0, 2, 1};
  auto z = n.add(zp, {b});
  auto ap = n.pool("ap", LayerKind::kAvgPool2D, z, {2, 2}, {2, 2}, Padding::kSame);
  auto act = n.activation("elu", ap, Activation::kElu, 0.7);
  auto c2 = n.conv("c2", act, 4, {1, 1}, {1, 1}, Padding::kSame, Activation::kLinear);
  auto sum = n.simple("sum", LayerKind::kAdd, {act, c2});
  Layer cat;
  cat.name = "cat";
  cat.kind = LayerKind::kConcatenate;
  cat.axis = 0;
  auto ct = n.add(cat, {sum, c2});
  auto mp = n.pool("mp", LayerKind::kMaxPool2D, ct, {3, 3}, {2, 2}, Padding::kSame);
  Layer rs;
  rs.name = "rs";
  rs.kind = LayerKind::kReshape;
  rs.channels_last = true;
  rs.target_shape = {6, 8};
  auto r = n.add(rs, {mp});
  auto c3 = n.conv("c3", r, 5, {3}, {1}, Padding::kSame, Activation::kTanh);
  auto mp1 = n.pool("mp1", LayerKind::kMaxPool1D, c3, {2}, {2}, Padding::kValid);
  auto ap1 = n.pool("ap1", LayerKind::kAvgPool1D, mp1, {3}, {1}, Padding::kSame);
  Layer zp1;
  zp1.name = "zp1";
  zp1.kind = LayerKind::kZeroPadding1D;
  zp1.pads = {0, 2};
  auto z1 = n.add(zp1, {ap1});
  auto l1 = n.lstm("lstm_seq", z1, 3, true);
  auto l2 = n.lstm("lstm_last", l1, 4, false);
  auto d = n.dense("d", l2, 7, Activation::kSelu);
  auto s = n.activation("sig", d, Activation::kSigmoid);
  n.dense("out", s, 5, Activation::kSoftmax);
  return n.finish();
}

/// Global pools, channels-first Flatten and Reshape, a three-way Add, Dropout, standalone
/// relu/tanh/leaky/linear/softmax activations, a channels-last Reshape of a vector.
ir::Graph every_kind_b() {
  Net n("every_kind_b", {2, 9, 9});
  auto c = n.conv("conv", "input", 3, {3, 3}, {1, 1}, Padding::kValid, Activation::kRelu);
  auto gap = n.simple("gap", LayerKind::kGlobalAvgPool2D, {c});
  auto gmp = n.simple("gmp", LayerKind::kGlobalMaxPool2D, {c});
  Layer fl;
  fl.name = "flat";
  fl.kind = LayerKind::kFlatten;
  fl.channels_last = false;
  auto f = n.add(fl, {c});
  auto d = n.dense("d3", f, 3, Activation::kLinear);
  auto sum = n.simple("sum3", LayerKind::kAdd, {gap, gmp, d});
  Layer cat;
  cat.name = "cat";
  cat.kind = LayerKind::kConcatenate;
  auto ct = n.add(cat, {gap, sum, gmp});
  Layer dr;
  dr.name = "drop";
  dr.kind = LayerKind::kDropout;
  dr.rate = 0.3;
  auto dp = n.add(dr, {ct});
  Layer rs;
  rs.name = "rs_first";
  rs.kind = LayerKind::kReshape;
  rs.target_shape = {3, 3};
  auto r = n.add(rs, {dp});
  auto relu = n.activation("relu", r, Activation::kRelu);
  auto g1 = n.simple("gap1", LayerKind::kGlobalAvgPool1D, {relu});
  auto g2 = n.simple("gmp1", LayerKind::kGlobalMaxPool1D, {relu});
  auto s2 = n.simple("sum2", LayerKind::kAdd, {g1, g2});
  auto th = n.activation("tanh", s2, Activation::kTanh);
  auto lk = n.activation("leaky", th, Activation::kLeakyRelu, 0.1);
  auto lin = n.activation("lin", lk, Activation::kLinear);
  auto d4 = n.dense("d4", lin, 4, Activation::kLinear);
  Layer rl;
  rl.name = "rs_last";
  rl.kind = LayerKind::kReshape;
  rl.channels_last = true;
  rl.target_shape = {2, 2};
  auto r2 = n.add(rl, {d4});
  Layer fl2;
  fl2.name = "flat_last";
  fl2.kind = LayerKind::kFlatten;
  fl2.channels_last = true;
  auto f2 = n.add(fl2, {r2});
  auto d5 = n.dense("d5", f2, 3, Activation::kLinear);
  n.activation("softmax", d5, Activation::kSoftmax);
  return n.finish();
}

/// Permutes: one that swaps the spatial axes (a conv after it), one that moves the channel axis, one on a
/// (C, L) tensor, ending in a channels-first Flatten.
ir::Graph every_kind_c() {
  Net n("every_kind_c", {3, 5, 4});
  auto permute = [&](const std::string& name, const std::string& x, ir::Shape perm) {
    Layer l;
    l.name = name;
    l.kind = LayerKind::kPermute;
    l.permutation = std::move(perm);
    return n.add(l, {x});
  };
  auto p1 = permute("swap_hw", "input", {0, 2, 1});
  auto c = n.conv("conv", p1, 2, {3, 1}, {1, 1}, Padding::kSame, Activation::kRelu);
  auto p2 = permute("move_channels", c, {2, 0, 1});
  Layer rs;
  rs.name = "to_1d";
  rs.kind = LayerKind::kReshape;
  rs.target_shape = {5, 8};
  auto r = n.add(rs, {p2});
  auto p3 = permute("swap_cl", r, {1, 0});
  Layer fl;
  fl.name = "flat";
  fl.kind = LayerKind::kFlatten;
  auto f = n.add(fl, {p3});
  n.dense("out", f, 3, Activation::kLinear);
  return n.finish();
}

/// The built-in architectures get random biases too, so bias layouts are checked.
ir::Graph with_random_biases(ir::Graph g, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (Layer& l : g.layers) {
    for (auto& [name, w] : l.weights) {
      if (name.rfind("bias", 0) == 0) w = at::randn(w.sizes(), gen, at::TensorOptions(at::kFloat)) * 0.1;
    }
  }
  return g;
}

at::Tensor sample_input(const ir::Graph& g, int64_t n) {
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  at::Generator gen = at::detail::createCPUGenerator(3);
  return at::rand(shape, gen, at::TensorOptions(at::kFloat));
}

void expect_checker_passes(const std::string& path) {
  EXPECT_NO_THROW(::ONNX_NAMESPACE::checker::check_model(path)) << path;
}

/// Exports, checks, runs in ONNX Runtime, compares; returns the max abs difference.
double export_and_compare(const ir::Graph& g, const at::Tensor& x, const test::TempDir& dir) {
  std::string path = dir.str(g.name + ".onnx");
  io::onnx::write_onnx(g, path);
  expect_checker_passes(path);
  at::Tensor ours = exec::predict(g, x);
  at::Tensor theirs = test::run_ort(path, x, dir);
  EXPECT_EQ(std::vector<int64_t>(ours.sizes().begin(), ours.sizes().end()),
            std::vector<int64_t>(theirs.sizes().begin(), theirs.sizes().end()));
  // Absolute below a unit output scale, relative above it: logits in the tens differ in their last float bits
  // from one CPU to another (mnist-8: 1.1e-5 absolute on an AVX-512 Zen 5).
  const double scale = std::max(1.0, theirs.abs().max().item<double>());
  const double diff = test::max_abs_diff(ours, theirs) / scale;
  std::printf("%s: ONNX Runtime vs snare max abs diff / max(1, max |output|) %.3g (output %s)\n", g.name.c_str(),
              diff, ir::shape_string(g.output_shape()).c_str());
  return diff;
}

void expect_round_trip(const ir::Graph& g, const test::TempDir& dir) {
  std::string a = dir.str(g.name + "_a.onnx"), b = dir.str(g.name + "_b.onnx");
  io::onnx::write_onnx(g, a);
  ir::Graph once = io::onnx::read_onnx(a);
  io::onnx::write_onnx(once, b);
  ir::Graph twice = io::onnx::read_onnx(b);
  EXPECT_EQ(ir::dump(once), ir::dump(twice)) << g.name;
}

TEST(WriteOnnx, ReadWriteReadIsIdenticalForFixtures) {
  test::TempDir dir;
  for (const char* path : {test::kMnist8, test::kMnistCnn, test::kMnistMlp}) {
    ir::Graph g = io::onnx::read_onnx(path);
    std::string out = dir.str("fixture.onnx");
    io::onnx::write_onnx(g, out);
    EXPECT_EQ(ir::dump(g), ir::dump(io::onnx::read_onnx(out))) << path;
  }
}

TEST(WriteOnnx, WriteReadGivesTheSameGraphForBuiltInsAndEveryKind) {
  test::TempDir dir;
  std::vector<ir::Graph> graphs{every_kind_a(), every_kind_b(), every_kind_c()};
  for (const arch::ArchInfo& a : arch::architectures()) graphs.push_back(arch::build(a.name, 1));
  for (const ir::Graph& g : graphs) {
    std::string path = dir.str(g.name + ".onnx");
    io::onnx::write_onnx(g, path);
    ir::Graph back = io::onnx::read_onnx(path);
    EXPECT_EQ(ir::dump(g), ir::dump(back)) << g.name;
    expect_round_trip(g, dir);
  }
}

TEST(WriteOnnx, BuiltInArchitecturesRunInOnnxRuntimeLikeSnare) {
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing (npm install --ignore-scripts)";
  test::TempDir dir;
  for (const arch::ArchInfo& a : arch::architectures()) {
    ir::Graph g = with_random_biases(arch::build(a.name, 1), 11);
    EXPECT_LE(export_and_compare(g, sample_input(g, 16), dir), kRuntimeTolerance) << a.name;
  }
}

TEST(WriteOnnx, EveryLayerKindRunsInOnnxRuntimeLikeSnare) {
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing (npm install --ignore-scripts)";
  test::TempDir dir;
  for (const ir::Graph& g : {every_kind_a(), every_kind_b(), every_kind_c()}) {
    EXPECT_LE(export_and_compare(g, sample_input(g, 16), dir), kRuntimeTolerance) << g.name;
  }
}

TEST(WriteOnnx, PermuteIsATransposeKeepingTheBatchAxis) {
  test::TempDir dir;
  std::string path = dir.str("permute.onnx");
  io::onnx::write_onnx(every_kind_c(), path);
  ir::Graph back = io::onnx::read_onnx(path);
  EXPECT_EQ(back.layer("swap_hw").kind, LayerKind::kPermute);
  EXPECT_EQ(back.layer("swap_hw").permutation, (ir::Shape{0, 2, 1}));
  EXPECT_EQ(back.layer("move_channels").permutation, (ir::Shape{2, 0, 1}));
  EXPECT_EQ(back.layer("swap_cl").permutation, (ir::Shape{1, 0}));
}

TEST(WriteOnnx, KerasModelWithPermuteAndNestedModelsRoundTripsThroughOnnx) {
  // Keras -> ONNX -> IR: yamnet (Permute dims [2,1,3] on its input, nested models read flat, BatchNormalization
  // with scale=False written with a unit scale) computes the same after the ONNX round trip.
  test::TempDir dir;
  ir::Graph keras = io::keras::read_keras("../shared/models/keras/zoo/yamnet_256_64x96_esc10_tfkeras.h5");
  std::string path = dir.str("yamnet.onnx");
  io::onnx::write_onnx(keras, path);
  expect_checker_passes(path);
  ir::Graph back = io::onnx::read_onnx(path);
  EXPECT_EQ(back.layer("permute").kind, LayerKind::kPermute);
  EXPECT_EQ(back.layer("permute").permutation, (ir::Shape{0, 2, 1}));
  at::Tensor x = sample_input(keras, 2);
  double diff = test::max_abs_diff(exec::predict(keras, x), exec::predict(back, x));
  EXPECT_LE(diff, 1e-5);
  if (test::ort_available()) {
    EXPECT_LE(export_and_compare(keras, x, dir), kRuntimeTolerance);
  }
}

TEST(WriteOnnx, FixturesRunInOnnxRuntimeLikeSnare) {
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing (npm install --ignore-scripts)";
  test::TempDir dir;
  data::Dataset ds = data::load_dataset("mnist", {data::Scale::kUnit});
  for (const char* path : {test::kMnist8, test::kMnistCnn, test::kMnistMlp}) {
    ir::Graph g = io::onnx::read_onnx(path);
    at::Tensor x = exec::adapt_input(g, ds.test.x.narrow(0, 0, 64));
    EXPECT_LE(export_and_compare(g, x, dir), kRuntimeTolerance) << path;
  }
}

TEST(WriteOnnx, ChannelsLastFlattenBeforeDenseCostsNoTranspose) {
  // lenet5 and har-cnn flatten channels-last (Keras order) into a Dense: the order goes into the Dense
  // weights, so the deployed graph has no Transpose, and reading it back restores the original layers
  // (checked with the runtime outputs by the tests above).
  test::TempDir dir;
  for (const char* name : {"lenet5", "har-cnn"}) {
    ir::Graph g = arch::build(name, 1);
    ASSERT_TRUE(g.layer("flatten").channels_last) << name;
    std::string path = dir.str(std::string(name) + ".onnx");
    io::onnx::write_onnx(g, path);
    ::ONNX_NAMESPACE::ModelProto model;
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(model.ParseFromIstream(&in)) << path;
    int transposes = 0;
    for (const auto& n : model.graph().node()) transposes += n.op_type() == "Transpose";
    EXPECT_EQ(transposes, 0) << name;
    EXPECT_EQ(ir::dump(g), ir::dump(io::onnx::read_onnx(path))) << name;
  }
}

TEST(WriteOnnx, MaskedWeightsAreWrittenAsZeros) {
  test::TempDir dir;
  ir::Graph g = arch::build("lenet-300-100", 1);
  ir::Layer& d = g.layer("dense");
  at::Tensor mask = (at::arange(d.weights["weight"].numel()) % 3 != 0).to(at::kFloat).reshape(d.weights["weight"].sizes());
  d.weights["weight"] = d.weights["weight"] * mask;
  d.masks["weight"] = mask;
  std::string path = dir.str("masked.onnx");
  io::onnx::write_onnx(g, path);
  ir::Graph back = io::onnx::read_onnx(path);
  EXPECT_TRUE(back.layer("dense").weights.at("weight").equal(d.weights["weight"]));
  EXPECT_EQ(back.layer("dense").weights.at("weight").eq(0).sum().item<int64_t>(), mask.eq(0).sum().item<int64_t>());
}

TEST(WriteOnnx, FailedWriteLeavesNoFile) {
  test::TempDir dir;
  ir::Graph g = arch::build("wisdm-mlp", 1);
  g.layers[1].weights["weight"] = at::zeros({3, 3});  // inconsistent with the layer
  std::string path = dir.str("broken.onnx");
  EXPECT_THROW(io::onnx::write_onnx(g, path), ModelError);
  EXPECT_FALSE(std::filesystem::exists(path));
}

}  // namespace
}  // namespace snare
