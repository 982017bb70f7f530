// The graph idioms exporters write around layers snare supports, folded by the ONNX reader and written back by
// the writer: 1-D convs and pools written as 2-D (Unsqueeze -> Conv/Relu/MaxPool -> Squeeze, NCHW and tf2onnx's
// NHWC form), input preprocessing (Cast of uint8, /255, (x - mean) / std, a scale folded into weights),
// ArgMax / Cast after the logits, ReduceMean / ReduceMax as global pools and PyTorch's
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape flatten. Each graph is built here with seeded random weights;
// snare's forward pass of what it read must equal ONNX Runtime on the original file, and snare's export must
// take the same input and give the same output (shape and type) in ONNX Runtime. Each idiom also has a case
// that must not fold, with the reason in the message.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "data/dataset.h"
#include "exec/network.h"
#include "io/facts.h"
#include "io/onnx/onnx.h"
#include "io_onnx/onnx_test_util.h"

namespace snare {
namespace {

namespace pb = ::ONNX_NAMESPACE;
using ir::LayerKind;

constexpr double kTolerance = 1e-5;  // relative to the largest output

/// A small ONNX graph written node by node.
class OnnxModel {
 public:
  OnnxModel(const std::string& name, int64_t opset) : gen_(at::detail::createCPUGenerator(41)) {
    m_.set_ir_version(opset > 13 ? 8 : 7);
    m_.add_opset_import()->set_version(opset);
    g_ = m_.mutable_graph();
    g_->set_name(name);
  }
  /// dims: -1 is the symbolic batch "N".
  void input(const std::string& name, const std::vector<int64_t>& dims, int32_t type = pb::TensorProto::FLOAT) {
    info(g_->add_input(), name, dims, type);
  }
  void output(const std::string& name, const std::vector<int64_t>& dims, int32_t type = pb::TensorProto::FLOAT) {
    info(g_->add_output(), name, dims, type);
  }
  at::Tensor rnd(std::vector<int64_t> shape, double scale) {
    return at::randn(shape, gen_, at::TensorOptions(at::kFloat)) * scale;
  }
  std::string init(const std::string& name, const at::Tensor& t) {
    at::Tensor c = t.contiguous();
    auto* p = g_->add_initializer();
    p->set_name(name);
    p->set_data_type(c.scalar_type() == at::kLong ? pb::TensorProto::INT64 : pb::TensorProto::FLOAT);
    for (int64_t d : c.sizes()) p->add_dims(d);
    p->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.numel() * c.element_size()));
    return name;
  }
  std::string ints(const std::string& name, const std::vector<int64_t>& v) { return init(name, at::tensor(v, at::kLong)); }
  pb::NodeProto* node(const std::string& op, const std::vector<std::string>& in, const std::string& out) {
    return test::add_node(g_, op, out, in, out);
  }
  static void attr(pb::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr(pb::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(pb::AttributeProto::INT);
    a->set_i(v);
  }
  /// Conv with a random weight [filters, C, k...] and bias.
  pb::NodeProto* conv(const std::string& x, const std::string& out, std::vector<int64_t> weight) {
    std::string w = init(out + ".w", rnd(weight, 0.4));
    std::string b = init(out + ".b", rnd({weight[0]}, 0.2));
    return node("Conv", {x, w, b}, out);
  }
  pb::NodeProto* gemm(const std::string& x, const std::string& out, int64_t in, int64_t units) {
    auto* n = node("Gemm", {x, init(out + ".w", rnd({units, in}, 0.3)), init(out + ".b", rnd({units}, 0.2))}, out);
    attr(n, "transB", int64_t{1});
    return n;
  }
  std::string save(const test::TempDir& dir) {
    std::string path = dir.str(g_->name() + ".onnx");
    std::string bytes;
    EXPECT_TRUE(m_.SerializeToString(&bytes));
    test::write_file(path, bytes);
    return path;
  }

 private:
  static void info(pb::ValueInfoProto* v, const std::string& name, const std::vector<int64_t>& dims, int32_t type) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(type);
    auto* s = t->mutable_shape();
    for (int64_t d : dims) {
      if (d < 0) {
        s->add_dim()->set_dim_param("N");
      } else {
        s->add_dim()->set_dim_value(d);
      }
    }
  }
  pb::ModelProto m_;
  pb::GraphProto* g_;
  at::Generator gen_;
};

std::vector<int64_t> sizes(const at::Tensor& t) { return {t.sizes().begin(), t.sizes().end()}; }

/// x scaled the way snare's data module scales data for this model (its input_scaling).
at::Tensor scaled_for(const ir::Graph& g, const at::Tensor& x) {
  data::Dataset d;
  d.train.x = x.clone();
  d.test.x = x.clone();
  data::LoadOptions lo;
  lo.scale = data::Scale::kRaw;
  using Scale = ir::InputScaling::Scale;
  if (g.input_scaling.scale == Scale::kUnit) lo.scale = data::Scale::kUnit;
  if (g.input_scaling.scale == Scale::kStandard) {
    lo.scale = data::Scale::kStandard;
    lo.mean = g.input_scaling.mean;
    lo.stddev = g.input_scaling.stddev;
  }
  data::apply_scale(d, lo);
  return d.test.x;
}

/// Reads `path`, then checks: snare on x (channels-first, scaled as meta says; `to_first` moves an NHWC input's
/// channels first) equals ONNX Runtime on the original file fed x; with an ArgMax tail, snare's argmax over the
/// classes equals the original's output. snare's export fed the same raw x (channels-first) gives ONNX Runtime's
/// original output, shape and type. Returns the graph read.
ir::Graph check_against_runtime(const std::string& path, const at::Tensor& x, bool to_first = false) {
  ir::Graph g = io::onnx::read_onnx(path);
  if (!test::ort_available()) return g;
  test::TempDir dir;
  at::Tensor x_first = to_first ? x.movedim(-1, 1).contiguous() : x;
  std::string type, export_type;
  at::Tensor theirs = test::run_ort(path, x, dir, &type);
  at::Tensor ours = exec::predict(g, scaled_for(g, x_first));
  bool argmax = g.meta.count("onnx.dropped_tail") && g.meta.at("onnx.dropped_tail").rfind("ArgMax", 0) == 0;
  if (argmax) ours = ours.argmax(1).to(at::kFloat);
  ours = ours.reshape(theirs.sizes());
  double rel = test::rel_diff(ours, theirs);
  std::printf("%s: original in ONNX Runtime vs snare: rel %.3g\n", g.name.c_str(), rel);
  EXPECT_LE(rel, argmax ? 0.0 : kTolerance) << path;

  std::string out = dir.str(g.name + "_export.onnx");
  io::onnx::write_onnx(g, out);
  at::Tensor exported = test::run_ort(out, x_first, dir, &export_type);
  EXPECT_EQ(export_type, type) << "the export gives another element type";
  EXPECT_EQ(sizes(exported), sizes(theirs)) << "the export gives another output shape";
  double rel_export = test::rel_diff(exported, theirs);
  std::printf("%s: snare's export vs the original, both in ONNX Runtime: rel %.3g\n", g.name.c_str(), rel_export);
  EXPECT_LE(rel_export, kTolerance) << out;
  // Written back and read again: the same graph, facts and meta (a scaling folded into weights is not written again).
  ir::Graph again = io::onnx::read_onnx(out);
  EXPECT_EQ(ir::dump(again), ir::dump(g));
  EXPECT_EQ(io::fact_entries(again), io::fact_entries(g));
  bool in_weights = g.meta.count("onnx.preprocess_into") && g.meta.at("onnx.preprocess_into").rfind("weights", 0) == 0;
  for (const char* key : {"onnx.preprocess", "onnx.dropped_tail"}) {
    if (in_weights && std::string(key) == "onnx.preprocess") continue;
    EXPECT_EQ(again.meta.count(key) ? again.meta.at(key) : "-", g.meta.count(key) ? g.meta.at(key) : "-") << key;
  }
  return g;
}

std::vector<LayerKind> kinds(const ir::Graph& g) {
  std::vector<LayerKind> k;
  for (const auto& l : g.layers) k.push_back(l.kind);
  return k;
}

at::Tensor randn(std::vector<int64_t> shape, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  return at::randn(shape, gen, at::TensorOptions(at::kFloat));
}

// ---------------------------------------------------------------------------------------------
// 1-D convolutions and pools written as 2-D

// tf2onnx's Keras Conv1D + MaxPool1D on [N,L,C]: Unsqueeze(1) -> NHWC->NCHW -> Conv [1,k] -> Relu ->
// MaxPool [1,2] -> NCHW->NHWC -> Squeeze(1), then Flatten of [N,L,C] (Keras order) and Dense. Opset 13: axes inputs.
std::string conv1d_nhwc(const test::TempDir& dir) {
  OnnxModel m("conv1d_nhwc", 13);
  m.input("x", {-1, 16, 3});
  m.node("Unsqueeze", {"x", m.ints("ax1", {1})}, "x4");
  OnnxModel::attr(m.node("Transpose", {"x4"}, "x_nchw"), "perm", {0, 3, 1, 2});
  auto* c = m.conv("x_nchw", "conv", {8, 3, 1, 3});
  OnnxModel::attr(c, "pads", {0, 1, 0, 1});
  OnnxModel::attr(c, "kernel_shape", {1, 3});
  m.node("Relu", {"conv"}, "relu");
  auto* p = m.node("MaxPool", {"relu"}, "pool");
  OnnxModel::attr(p, "kernel_shape", {1, 2});
  OnnxModel::attr(p, "strides", {1, 2});
  OnnxModel::attr(m.node("Transpose", {"pool"}, "pool_nhwc"), "perm", {0, 2, 3, 1});
  m.node("Squeeze", {"pool_nhwc", m.ints("ax1b", {1})}, "seq");
  m.node("Flatten", {"seq"}, "flat");
  m.gemm("flat", "dense", 64, 5);
  m.output("dense", {-1, 5});
  return m.save(dir);
}

TEST(OnnxFolding, Conv1dWrittenAs2dNhwcReadsAsConv1dAndMaxPool1d) {
  test::TempDir dir;
  ir::Graph g = check_against_runtime(conv1d_nhwc(dir), randn({4, 16, 3}, 1), /*to_first=*/true);
  std::string d = ir::dump(g);
  EXPECT_EQ(kinds(g), (std::vector<LayerKind>{LayerKind::kInput, LayerKind::kConv1D, LayerKind::kMaxPool1D,
                                              LayerKind::kFlatten, LayerKind::kDense}))
      << d;
  EXPECT_EQ(g.input_shape(), (ir::Shape{3, 16}));
  EXPECT_EQ(g.layers[1].activation, ir::Activation::kRelu) << d;
  EXPECT_EQ(g.layers[1].padding, ir::Padding::kSame) << d;
  EXPECT_EQ(g.layers[1].weights.at("weight").sizes(), (at::IntArrayRef{8, 3, 3})) << "OIL";
  EXPECT_EQ(g.layers[2].kernel, (ir::Shape{2})) << d;
  EXPECT_TRUE(g.layers[3].channels_last) << "Flatten of the [N,L,C] tensor";
}

// The NCHW form, opset 11 (axes attributes), the unit axis last: Unsqueeze(3) -> Conv [k,1] -> Relu ->
// AveragePool [2,1] -> Squeeze(3) -> ReduceMean over L -> Dense.
TEST(OnnxFolding, Conv1dWrittenAs2dNchwOpset11ReadsAsConv1dAndAvgPool1d) {
  test::TempDir dir;
  OnnxModel m("conv1d_nchw", 11);
  m.input("x", {-1, 3, 16});
  OnnxModel::attr(m.node("Unsqueeze", {"x"}, "x4"), "axes", std::vector<int64_t>{3});
  m.conv("x4", "conv", {6, 3, 3, 1});
  m.node("Relu", {"conv"}, "relu");
  auto* p = m.node("AveragePool", {"relu"}, "pool");
  OnnxModel::attr(p, "kernel_shape", {2, 1});
  OnnxModel::attr(p, "strides", {2, 1});
  OnnxModel::attr(m.node("Squeeze", {"pool"}, "seq"), "axes", std::vector<int64_t>{3});
  auto* r = m.node("ReduceMean", {"seq"}, "mean");
  OnnxModel::attr(r, "axes", std::vector<int64_t>{2});
  OnnxModel::attr(r, "keepdims", int64_t{0});
  m.gemm("mean", "dense", 6, 4);
  m.output("dense", {-1, 4});
  ir::Graph g = check_against_runtime(m.save(dir), randn({4, 3, 16}, 2));
  EXPECT_EQ(kinds(g), (std::vector<LayerKind>{LayerKind::kInput, LayerKind::kConv1D, LayerKind::kAvgPool1D,
                                              LayerKind::kGlobalAvgPool1D, LayerKind::kDense}))
      << ir::dump(g);
  EXPECT_EQ(g.layers[1].padding, ir::Padding::kValid);
}

TEST(OnnxFolding, UnsqueezeThatIsNotAUnitSpatialAxisStaysUnsupported) {
  test::TempDir dir;
  OnnxModel m("unsqueeze_channel", 13);
  m.input("x", {-1, 3, 16});
  m.node("Unsqueeze", {"x", m.ints("ax", {1})}, "x4");  // [N,1,3,16]: a 1-channel image, not a 1-D conv
  m.conv("x4", "conv", {2, 1, 3, 3});
  m.node("Flatten", {"conv"}, "flat");
  m.output("flat", {-1, 28});
  std::string e = test::read_error<UnsupportedError>(m.save(dir));
  EXPECT_NE(e.find("node 'x4' (Unsqueeze): unsqueeze of axes [1]"), std::string::npos) << e;
}

// ---------------------------------------------------------------------------------------------
// Input preprocessing

// uint8 image -> Cast(float) -> Div(255) -> Conv (same) -> Relu -> Flatten -> Dense.
TEST(OnnxFolding, CastAndDivBy255BecomeUnitScaleAndGoBackIntoTheExport) {
  test::TempDir dir;
  OnnxModel m("uint8_div255", 13);
  m.input("image", {-1, 1, 6, 6}, pb::TensorProto::UINT8);
  OnnxModel::attr(m.node("Cast", {"image"}, "xf"), "to", int64_t{pb::TensorProto::FLOAT});
  m.node("Div", {"xf", m.init("c255", at::full({}, 255.0f))}, "x01");
  OnnxModel::attr(m.conv("x01", "conv", {4, 1, 3, 3}), "pads", {1, 1, 1, 1});
  m.node("Relu", {"conv"}, "relu");
  m.node("Flatten", {"relu"}, "flat");
  m.gemm("flat", "dense", 144, 3);
  m.output("dense", {-1, 3});
  std::string path = m.save(dir);
  at::Generator gen = at::detail::createCPUGenerator(5);
  at::Tensor pixels = at::randint(0, 256, {5, 1, 6, 6}, gen, at::TensorOptions(at::kFloat));  // integer-valued
  ir::Graph g = check_against_runtime(path, pixels);
  EXPECT_EQ(g.input_scaling.scale, ir::InputScaling::Scale::kUnit);
  EXPECT_EQ(g.meta.at("onnx.preprocess"), "Cast(from=UINT8 to=FLOAT) -> Div(255)");
  EXPECT_EQ(g.meta.at("onnx.preprocess_into"), "snare.scale=unit");
  EXPECT_NE(g.meta.at("onnx.input_type").find("UINT8"), std::string::npos);
  EXPECT_EQ(g.layers[1].kind, LayerKind::kConv2D) << "the graph starts at the first real layer";
  test::TempDir out_dir;
  std::string out = out_dir.str("export.onnx");
  io::onnx::write_onnx(g, out);
  EXPECT_EQ(test::count_nodes(out, "Cast"), 1);
  EXPECT_EQ(test::count_nodes(out, "Div"), 1);
}

// tf2onnx's Keras Normalization on an NHWC image: Sub(mean[C]) -> Div(std[C]) -> NHWC->NCHW -> Conv.
TEST(OnnxFolding, PerChannelSubDivOnNhwcInputBecomesStandardScale) {
  test::TempDir dir;
  OnnxModel m("normalize_nhwc", 13);
  m.input("x", {-1, 6, 6, 3});
  m.node("Sub", {"x", m.init("mean", at::tensor({0.5f, -1.0f, 2.0f}))}, "centred");
  m.node("Div", {"centred", m.init("std", at::tensor({0.25f, 2.0f, 4.0f}))}, "normed");
  OnnxModel::attr(m.node("Transpose", {"normed"}, "nchw"), "perm", {0, 3, 1, 2});
  OnnxModel::attr(m.conv("nchw", "conv", {4, 3, 3, 3}), "pads", {1, 1, 1, 1});
  m.node("GlobalAveragePool", {"conv"}, "gap");
  m.node("Flatten", {"gap"}, "flat");
  m.gemm("flat", "dense", 4, 2);
  m.output("dense", {-1, 2});
  ir::Graph g = check_against_runtime(m.save(dir), randn({4, 6, 6, 3}, 3) * 3.0, /*to_first=*/true);
  EXPECT_EQ(g.input_scaling.scale, ir::InputScaling::Scale::kStandard);
  EXPECT_EQ(g.input_scaling.mean, (std::vector<double>{0.5, -1, 2}));
  EXPECT_EQ(g.input_scaling.stddev, (std::vector<double>{0.25, 2, 4}));
  EXPECT_EQ(g.meta.at("onnx.input_layout"), "NHWC (snare feeds NCHW)");
}

// A negative scale is no data::Scale: Mul(-2) -> Add(0.5) folds exactly into a valid conv's weights and bias.
TEST(OnnxFolding, NegativeScaleAndOffsetFoldIntoAValidConv) {
  test::TempDir dir;
  OnnxModel m("negative_scale", 13);
  m.input("x", {-1, 3, 7, 7});
  m.node("Mul", {m.init("minus2", at::full({}, -2.0f)), "x"}, "scaled");
  m.node("Add", {"scaled", m.init("half", at::tensor({0.5f, 0.0f, -0.25f}).reshape({3, 1, 1}))}, "shifted");
  m.conv("shifted", "conv", {4, 3, 3, 3});
  m.node("Relu", {"conv"}, "relu");
  m.node("Flatten", {"relu"}, "flat");
  m.gemm("flat", "dense", 100, 3);
  m.output("dense", {-1, 3});
  ir::Graph g = check_against_runtime(m.save(dir), randn({4, 3, 7, 7}, 4));
  EXPECT_EQ(g.input_scaling.scale, ir::InputScaling::Scale::kUnstated);
  EXPECT_EQ(g.meta.at("onnx.preprocess_into"), "weights of 'conv'");
}

// A negative scale before a Flatten and Dense folds too, per flattened feature.
TEST(OnnxFolding, NegativeScaleFoldsThroughAFlattenIntoTheDense) {
  test::TempDir dir;
  OnnxModel m("negative_scale_dense", 13);
  m.input("x", {-1, 2, 3, 3});
  m.node("Mul", {"x", m.init("neg", at::tensor({-1.0f, 3.0f}).reshape({2, 1, 1}))}, "scaled");
  m.node("Sub", {"scaled", m.init("off", at::full({}, 0.75f))}, "shifted");
  m.node("Flatten", {"shifted"}, "flat");
  m.gemm("flat", "dense", 18, 4);
  m.output("dense", {-1, 4});
  ir::Graph g = check_against_runtime(m.save(dir), randn({4, 2, 3, 3}, 6));
  EXPECT_EQ(g.meta.at("onnx.preprocess_into"), "weights of 'dense'");
}

TEST(OnnxFolding, OffsetBeforeASamePaddedConvWithoutAScaleIsRefusedWithTheReason) {
  test::TempDir dir;
  OnnxModel m("offset_same", 13);
  m.input("x", {-1, 3, 6, 6});
  m.node("Mul", {"x", m.init("minus", at::full({}, -1.0f))}, "neg");
  m.node("Sub", {"neg", m.init("mean", at::tensor({0.5f, 0.5f, 0.5f}).reshape({3, 1, 1}))}, "centred");
  OnnxModel::attr(m.conv("centred", "conv", {4, 3, 3, 3}), "pads", {1, 1, 1, 1});
  m.node("Flatten", {"conv"}, "flat");
  m.output("flat", {-1, 144});
  std::string e = test::read_error<UnsupportedError>(m.save(dir));
  EXPECT_NE(e.find("input preprocessing Mul(-1) -> Sub(0.5,0.5,0.5)"), std::string::npos) << e;
  EXPECT_NE(e.find("not exact before the 'same'-padded conv 'conv'"), std::string::npos) << e;
}

TEST(OnnxFolding, SubOfAMeanImageIsNotPerChannelAndIsRefused) {
  test::TempDir dir;
  OnnxModel m("mean_image", 13);
  m.input("x", {-1, 1, 4, 4});
  m.node("Sub", {"x", m.init("mean_image", at::arange(16, at::kFloat).reshape({1, 4, 4}))}, "centred");
  m.conv("centred", "conv", {2, 1, 3, 3});
  m.node("Flatten", {"conv"}, "flat");
  m.output("flat", {-1, 8});
  std::string e = test::read_error<UnsupportedError>(m.save(dir));
  EXPECT_NE(e.find("node 'centred' (Sub): the input's scaling constant [1,4,4] varies along axis 2"), std::string::npos) << e;
}

// ---------------------------------------------------------------------------------------------
// After the logits

// Dense -> Softmax -> ArgMax(axis=-1, keepdims=0) -> Cast(int32): snare's output is the probabilities; the export
// ends in the same ArgMax and Cast, so it gives int32 class indices [N] like the original.
TEST(OnnxFolding, ArgMaxAndCastAfterTheLogitsAreDroppedAndWrittenBack) {
  test::TempDir dir;
  OnnxModel m("argmax_tail", 13);
  m.input("x", {-1, 6});
  m.gemm("x", "dense", 6, 5);
  m.node("Softmax", {"dense"}, "probs");
  auto* a = m.node("ArgMax", {"probs"}, "class");
  OnnxModel::attr(a, "axis", int64_t{-1});
  OnnxModel::attr(a, "keepdims", int64_t{0});
  OnnxModel::attr(m.node("Cast", {"class"}, "class32"), "to", int64_t{pb::TensorProto::INT32});
  m.output("class32", {-1}, pb::TensorProto::INT32);
  std::string path = m.save(dir);
  ir::Graph g = check_against_runtime(path, randn({16, 6}, 7) * 3.0);
  EXPECT_EQ(g.layers.back().activation, ir::Activation::kSoftmax);
  EXPECT_EQ(g.meta.at("onnx.dropped_tail"), "ArgMax(axis=1 keepdims=0 select_last_index=0) -> Cast(to=INT32)");
  EXPECT_EQ(g.output_shape(), (ir::Shape{5}));
  if (!test::ort_available()) return;
  std::string type;
  test::run_ort(path, randn({2, 6}, 8), dir, &type);
  EXPECT_EQ(type, "int32");
}

// A trailing Cast alone (float -> double) is a tail too.
TEST(OnnxFolding, TrailingCastIsDroppedAndWrittenBack) {
  test::TempDir dir;
  OnnxModel m("cast_tail", 13);
  m.input("x", {-1, 6});
  m.gemm("x", "dense", 6, 3);
  OnnxModel::attr(m.node("Cast", {"dense"}, "y64"), "to", int64_t{pb::TensorProto::DOUBLE});
  m.output("y64", {-1, 3}, pb::TensorProto::DOUBLE);
  ir::Graph g = check_against_runtime(m.save(dir), randn({8, 6}, 9));
  EXPECT_EQ(g.meta.at("onnx.dropped_tail"), "Cast(to=DOUBLE)");
}

TEST(OnnxFolding, ArgMaxOverASpatialAxisIsRefusedNamingTheAxis) {
  test::TempDir dir;
  OnnxModel m("argmax_time", 13);
  m.input("x", {-1, 3, 10});
  m.conv("x", "conv", {4, 3, 3});
  auto* a = m.node("ArgMax", {"conv"}, "where");
  OnnxModel::attr(a, "axis", int64_t{2});
  m.output("where", {-1, 4, 1}, pb::TensorProto::INT64);
  std::string e = test::read_error<UnsupportedError>(m.save(dir));
  EXPECT_NE(e.find("node 'where' (ArgMax): ArgMax over axis 2 of output 'where' [N,4,8]"), std::string::npos) << e;
}

// ---------------------------------------------------------------------------------------------
// ReduceMean / ReduceMax over the spatial axes

// ReduceMean keepdims=1 -> Flatten, and ReduceMax keepdims=0, side by side. (Opset 18 moves axes to an input; the
// ONNX 1.12 checker snare links knows opsets up to 17.)
TEST(OnnxFolding, ReduceMeanAndReduceMaxOverSpatialAxesAreGlobalPools) {
  test::TempDir dir;
  OnnxModel m("reduce_pools", 13);
  m.input("x", {-1, 3, 6, 6});
  OnnxModel::attr(m.conv("x", "conv", {4, 3, 3, 3}), "pads", {1, 1, 1, 1});
  m.node("Relu", {"conv"}, "relu");
  OnnxModel::attr(m.node("ReduceMean", {"relu"}, "mean"), "axes", {-2, -1});  // keepdims defaults to 1: [N,4,1,1]
  m.node("Flatten", {"mean"}, "mean_flat");
  auto* max = m.node("ReduceMax", {"relu"}, "max");
  OnnxModel::attr(max, "axes", {2, 3});
  OnnxModel::attr(max, "keepdims", int64_t{0});
  auto* cat = m.node("Concat", {"mean_flat", "max"}, "both");
  OnnxModel::attr(cat, "axis", int64_t{1});
  m.gemm("both", "dense", 8, 3);
  m.output("dense", {-1, 3});
  ir::Graph g = check_against_runtime(m.save(dir), randn({4, 3, 6, 6}, 10));
  EXPECT_EQ(g.layer("mean").kind, LayerKind::kGlobalAvgPool2D) << ir::dump(g);
  EXPECT_EQ(g.layer("max").kind, LayerKind::kGlobalMaxPool2D) << ir::dump(g);
}

TEST(OnnxFolding, ReduceMeanOverTheChannelsIsRefused) {
  test::TempDir dir;
  OnnxModel m("reduce_channels", 13);
  m.input("x", {-1, 3, 6, 6});
  m.conv("x", "conv", {4, 3, 3, 3});
  auto* r = m.node("ReduceMean", {"conv"}, "mean");
  OnnxModel::attr(r, "axes", std::vector<int64_t>{1});
  m.output("mean", {-1, 1, 4, 4});
  std::string e = test::read_error<UnsupportedError>(m.save(dir));
  EXPECT_NE(e.find("node 'mean' (ReduceMean): reduces axes [1]"), std::string::npos) << e;
}

// ---------------------------------------------------------------------------------------------
// PyTorch's x.view(x.size(0), -1)

std::string torch_flatten(const test::TempDir& dir, const std::string& name, bool batch_last) {
  OnnxModel m(name, 13);
  m.input("x", {-1, 3, 5, 5});
  m.conv("x", "conv", {4, 3, 3, 3});
  m.node("Relu", {"conv"}, "relu");
  m.node("Shape", {"conv"}, "shape");  // the conv's output: Relu and Shape read it
  m.node("Gather", {"shape", m.init("zero", at::zeros({}, at::kLong))}, "batch");
  m.node("Unsqueeze", {"batch", m.ints("ax0", {0})}, "batch1");
  auto* cat = m.node("Concat", batch_last ? std::vector<std::string>{m.ints("minus1", {-1}), "batch1"}
                                          : std::vector<std::string>{"batch1", m.ints("minus1", {-1})},
                     "target");
  OnnxModel::attr(cat, "axis", int64_t{0});
  m.node("Reshape", {"relu", "target"}, "flat");
  m.gemm("flat", "dense", 36, 3);
  m.output("dense", {-1, 3});
  return m.save(dir);
}

TEST(OnnxFolding, PytorchShapeGatherConcatReshapeIsFlatten) {
  test::TempDir dir;
  ir::Graph g = check_against_runtime(torch_flatten(dir, "torch_flatten", false), randn({4, 3, 5, 5}, 11));
  EXPECT_EQ(kinds(g), (std::vector<LayerKind>{LayerKind::kInput, LayerKind::kConv2D, LayerKind::kFlatten, LayerKind::kDense}))
      << ir::dump(g);
  EXPECT_EQ(g.layers[1].activation, ir::Activation::kRelu) << "Shape reads no values: the Relu still fuses";
  EXPECT_FALSE(g.layers[2].channels_last);
}

TEST(OnnxFolding, ReshapeWithTheBatchSizeLastIsRefused) {
  test::TempDir dir;
  std::string e = test::read_error<UnsupportedError>(torch_flatten(dir, "torch_batch_last", true));
  EXPECT_NE(e.find("node 'flat' (Reshape): the batch size appears past the first axis"), std::string::npos) << e;
}

}  // namespace
}  // namespace snare
