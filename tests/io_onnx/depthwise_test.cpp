// Depthwise and grouped convolutions, ReLU6 (Clip) and the activations ONNX spells as several nodes:
// tf2onnx's MobileNetV2 reads and computes what ONNX Runtime computes; graphs with every new layer
// form and activation survive read -> write -> read and run in ONNX Runtime like snare; hand-written
// ONNX patterns (Clip forms, x * Sigmoid(x), HardSwish, the erf GELU) read as the right activation.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <regex>

#include "common/error.h"
#include "exec/network.h"
#include "io/keras/keras.h"
#include "io/onnx/onnx.h"
#include "io_onnx/onnx_test_util.h"

namespace snare {
namespace {

namespace pb = ::ONNX_NAMESPACE;
using ir::Activation;
using ir::Layer;
using ir::LayerKind;
using ir::Padding;

const char* kMobileNet = "../shared/models/onnx/mobilenet_v2_128_0.5_tf2onnx.onnx";

using test::count_nodes;
using test::rel_diff;

// ---------------------------------------------------------------------------------------------
// tf2onnx MobileNetV2 (NCHW input, Conv with group = C, Clip(0, 6) with initializer bounds)

TEST(ReadOnnx, MobileNetV2Tf2onnxHasDepthwiseConvsAndRelu6) {
  ir::Graph g = io::onnx::read_onnx(kMobileNet);
  std::string d = ir::dump(g);
  EXPECT_EQ(g.input_shape(), (ir::Shape{3, 128, 128})) << d;
  EXPECT_EQ(g.meta.count("onnx.input_layout"), 0u) << "the file's input is NCHW already";
  int depthwise = 0, relu6 = 0, grouped = 0;
  for (const Layer& l : g.layers) {
    depthwise += l.kind == LayerKind::kDepthwiseConv2D;
    grouped += l.groups != 1;
    relu6 += l.activation == Activation::kRelu6;
    if (l.kind == LayerKind::kDepthwiseConv2D) {
      EXPECT_EQ(l.multiplier, 1) << l.name;
      EXPECT_EQ(l.kernel, (ir::Shape{3, 3})) << l.name;
    }
  }
  int group_convs = 0;
  {
    pb::ModelProto model;
    std::ifstream in(kMobileNet, std::ios::binary);
    ASSERT_TRUE(model.ParseFromIstream(&in));
    for (const auto& n : model.graph().node()) {
      if (n.op_type() != "Conv") continue;
      for (const auto& a : n.attribute()) group_convs += a.name() == "group" && a.i() > 1;
    }
  }
  EXPECT_GT(group_convs, 0);
  EXPECT_EQ(depthwise, group_convs) << d;
  EXPECT_EQ(grouped, 0) << d;
  EXPECT_EQ(relu6, count_nodes(kMobileNet, "Clip")) << d;
  EXPECT_EQ(g.output_shape(), (ir::Shape{2}));
}

TEST(ReadOnnx, MobileNetV2Tf2onnxMatchesOnnxRuntimeOnTheOriginalFile) {
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing (npm install --ignore-scripts)";
  test::TempDir dir;
  ir::Graph g = io::onnx::read_onnx(kMobileNet);
  at::Generator gen = at::detail::createCPUGenerator(17);
  at::Tensor x = at::rand({4, 3, 128, 128}, gen, at::TensorOptions(at::kFloat));
  at::Tensor ours = exec::predict(g, x);
  at::Tensor theirs = test::run_ort(kMobileNet, x, dir);
  ASSERT_EQ(std::vector<int64_t>(ours.sizes().begin(), ours.sizes().end()),
            std::vector<int64_t>(theirs.sizes().begin(), theirs.sizes().end()));
  double rel = rel_diff(ours, theirs);
  std::printf("mobilenet_v2 tf2onnx: original file in ONNX Runtime vs snare: max abs diff %.3g, rel %.3g\n",
              test::max_abs_diff(ours, theirs), rel);
  EXPECT_LE(rel, 1e-4);

  // snare's export of it: the same graph back, and the same numbers in ONNX Runtime.
  std::string out = dir.str("mobilenet_export.onnx");
  io::onnx::write_onnx(g, out);
  EXPECT_EQ(ir::dump(g), ir::dump(io::onnx::read_onnx(out)));
  at::Tensor exported = test::run_ort(out, x, dir);
  double rel_export = rel_diff(ours, exported);
  std::printf("mobilenet_v2 tf2onnx: snare's export in ONNX Runtime vs snare: rel %.3g\n", rel_export);
  EXPECT_LE(rel_export, 1e-5);
}

// ---------------------------------------------------------------------------------------------
// ir graphs with depthwise / grouped convs and every new activation, written and read back

class Builder {
 public:
  Builder(std::string name, ir::Shape input) : gen_(at::detail::createCPUGenerator(23)) {
    g_.name = std::move(name);
    Layer in;
    in.name = "input";
    in.kind = LayerKind::kInput;
    in.input_shape = std::move(input);
    g_.layers.push_back(in);
  }
  at::Tensor rnd(std::vector<int64_t> shape, double scale) { return at::randn(shape, gen_, at::TensorOptions(at::kFloat)) * scale; }
  const ir::Shape& shape(const std::string& name) {
    g_.infer_shapes();
    return g_.layer(name).output_shape;
  }
  std::string add(Layer l, const std::string& x) {
    l.inputs = {x};
    g_.layers.push_back(l);
    g_.infer_shapes();
    return l.name;
  }
  std::string depthwise(const std::string& name, const std::string& x, int64_t multiplier, ir::Shape kernel,
                        ir::Shape strides, ir::Shape dilation, Padding padding, Activation act, bool bias) {
    Layer l;
    l.name = name;
    l.kind = LayerKind::kDepthwiseConv2D;
    l.multiplier = multiplier;
    l.units = shape(x).at(0) * multiplier;
    l.kernel = kernel;
    l.strides = strides;
    l.dilation = dilation;
    l.padding = padding;
    l.activation = act;
    l.use_bias = bias;
    l.weights["weight"] = rnd({l.units, 1, kernel[0], kernel[1]}, 0.5);
    if (bias) l.weights["bias"] = rnd({l.units}, 0.2);
    return add(l, x);
  }
  std::string conv(const std::string& name, const std::string& x, int64_t filters, int64_t groups, ir::Shape kernel,
                   ir::Shape strides, Padding padding, Activation act) {
    Layer l;
    l.name = name;
    l.kind = kernel.size() == 1 ? LayerKind::kConv1D : LayerKind::kConv2D;
    l.units = filters;
    l.groups = groups;
    l.kernel = kernel;
    l.strides = strides;
    l.dilation = ir::Shape(kernel.size(), 1);
    l.padding = padding;
    l.activation = act;
    std::vector<int64_t> w{filters, shape(x).at(0) / groups};
    w.insert(w.end(), kernel.begin(), kernel.end());
    l.weights["weight"] = rnd(w, 0.4);
    l.weights["bias"] = rnd({filters}, 0.2);
    return add(l, x);
  }
  std::string dense(const std::string& name, const std::string& x, int64_t units, Activation act) {
    Layer l;
    l.name = name;
    l.kind = LayerKind::kDense;
    l.units = units;
    l.activation = act;
    l.weights["weight"] = rnd({units, shape(x).at(0)}, 0.3);
    l.weights["bias"] = rnd({units}, 0.2);
    return add(l, x);
  }
  std::string activation(const std::string& name, const std::string& x, Activation a) {
    Layer l;
    l.name = name;
    l.kind = LayerKind::kActivation;
    l.activation = a;
    return add(l, x);
  }
  std::string flatten(const std::string& name, const std::string& x) {
    Layer l;
    l.name = name;
    l.kind = LayerKind::kFlatten;
    return add(l, x);
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

/// Depthwise convs (multiplier 1 / 2 / 3, stride 2, dilation 2, same and valid, with and without bias),
/// a grouped conv, and every new activation fused into a conv and as its own layer.
ir::Graph depthwise_graph() {
  Builder b("depthwise_mix", {4, 11, 10});
  auto x = b.depthwise("dw_s2", "input", 1, {3, 3}, {2, 2}, {1, 1}, Padding::kSame, Activation::kRelu6, true);
  x = b.depthwise("dw_m2_d2", x, 2, {3, 3}, {1, 1}, {2, 2}, Padding::kSame, Activation::kSwish, false);
  x = b.conv("grouped", x, 6, 2, {3, 3}, {1, 1}, Padding::kSame, Activation::kHardSwish);
  x = b.conv("pointwise", x, 6, 1, {1, 1}, {1, 1}, Padding::kValid, Activation::kGelu);
  x = b.depthwise("dw_m3", x, 3, {2, 3}, {1, 2}, {1, 1}, Padding::kValid, Activation::kSoftplus, true);
  x = b.depthwise("dw_softsign", x, 1, {3, 3}, {1, 1}, {1, 1}, Padding::kSame, Activation::kSoftsign, true);
  x = b.depthwise("dw_exp", x, 1, {1, 1}, {1, 1}, {1, 1}, Padding::kValid, Activation::kExponential, true);
  x = b.activation("relu6", x, Activation::kRelu6);
  x = b.depthwise("dw_linear", x, 1, {3, 3}, {1, 1}, {1, 1}, Padding::kSame, Activation::kLinear, true);
  x = b.activation("swish", x, Activation::kSwish);
  x = b.activation("hard_swish", x, Activation::kHardSwish);
  x = b.activation("gelu", x, Activation::kGelu);
  x = b.activation("softplus", x, Activation::kSoftplus);
  x = b.activation("softsign", x, Activation::kSoftsign);
  b.activation("exponential", x, Activation::kExponential);
  return b.finish();
}

/// One input channel (a depthwise conv is then ONNX group 1), grouped Conv1D, Dense with new activations.
ir::Graph single_channel_graph() {
  Builder b("single_channel", {1, 9, 8});
  auto x = b.depthwise("dw_c1", "input", 4, {3, 3}, {1, 1}, {1, 1}, Padding::kSame, Activation::kRelu6, true);
  x = b.conv("grouped4", x, 8, 4, {1, 1}, {1, 1}, Padding::kValid, Activation::kSwish);
  auto f = b.flatten("flat", x);
  x = b.dense("d_gelu", f, 6, Activation::kGelu);
  x = b.dense("d_hswish", x, 5, Activation::kHardSwish);
  x = b.dense("d_softplus", x, 5, Activation::kSoftplus);
  x = b.dense("d_softsign", x, 4, Activation::kSoftsign);
  b.dense("d_exp", x, 3, Activation::kExponential);
  return b.finish();
}

ir::Graph grouped_1d_graph() {
  Builder b("grouped_1d", {4, 12});
  auto x = b.conv("g1d", "input", 6, 2, {3}, {1}, Padding::kSame, Activation::kRelu6);
  x = b.conv("g1d_s2", x, 4, 2, {3}, {2}, Padding::kValid, Activation::kSwish);
  b.activation("gelu1d", x, Activation::kGelu);
  return b.finish();
}

std::vector<ir::Graph> new_graphs() { return {depthwise_graph(), single_channel_graph(), grouped_1d_graph()}; }

at::Tensor sample(const ir::Graph& g, int64_t n) {
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  at::Generator gen = at::detail::createCPUGenerator(5);
  return at::randn(shape, gen, at::TensorOptions(at::kFloat));
}

TEST(WriteOnnx, DepthwiseGroupedAndNewActivationsReadBackIdentically) {
  test::TempDir dir;
  for (const ir::Graph& g : new_graphs()) {
    std::string a = dir.str(g.name + "_a.onnx"), b = dir.str(g.name + "_b.onnx");
    io::onnx::write_onnx(g, a);
    EXPECT_NO_THROW(::ONNX_NAMESPACE::checker::check_model(a)) << a;
    ir::Graph once = io::onnx::read_onnx(a);
    EXPECT_EQ(ir::dump(g), ir::dump(once)) << g.name;
    io::onnx::write_onnx(once, b);
    EXPECT_EQ(ir::dump(once), ir::dump(io::onnx::read_onnx(b))) << g.name;
  }
  // What the file holds: depthwise = Conv with group = C, ReLU6 = Clip, no op newer than opset 13.
  ir::Graph g = depthwise_graph();
  std::string path = dir.str("ops.onnx");
  io::onnx::write_onnx(g, path);
  pb::ModelProto model;
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(model.ParseFromIstream(&in));
  for (const auto& n : model.graph().node()) {
    if (n.name() == "dw_s2" || n.name() == "dw_m2_d2" || n.name() == "grouped") {
      EXPECT_EQ(n.op_type(), "Conv");
      int64_t group = 0;
      for (const auto& a : n.attribute()) group = a.name() == "group" ? a.i() : group;
      EXPECT_EQ(group, n.name() == "dw_s2" ? 4 : n.name() == "dw_m2_d2" ? 4 : 2) << n.name();
    }
    EXPECT_NE(n.op_type(), "HardSwish");
    EXPECT_NE(n.op_type(), "Gelu");
  }
  EXPECT_EQ(count_nodes(path, "Clip"), 2);
  EXPECT_EQ(count_nodes(path, "Erf"), 2);
}

TEST(WriteOnnx, DepthwiseGroupedAndNewActivationsRunInOnnxRuntimeLikeSnare) {
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing (npm install --ignore-scripts)";
  test::TempDir dir;
  for (const ir::Graph& g : new_graphs()) {
    std::string path = dir.str(g.name + ".onnx");
    io::onnx::write_onnx(g, path);
    at::Tensor x = sample(g, 8);
    at::Tensor ours = exec::predict(g, x);
    at::Tensor theirs = test::run_ort(path, x, dir);
    ASSERT_EQ(std::vector<int64_t>(ours.sizes().begin(), ours.sizes().end()),
              std::vector<int64_t>(theirs.sizes().begin(), theirs.sizes().end()));
    double abs = test::max_abs_diff(ours, theirs), rel = rel_diff(ours, theirs);
    std::printf("%s: ONNX Runtime vs snare max abs diff %.3g, rel %.3g (max |y| %.3g)\n", g.name.c_str(), abs, rel,
                theirs.abs().max().item<double>());
    EXPECT_LE(rel, 1e-5) << g.name;
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-written ONNX: Clip forms, multi-node activations

void add_float(pb::GraphProto* g, const std::string& name, const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  auto* p = g->add_initializer();
  p->set_name(name);
  p->set_data_type(pb::TensorProto::FLOAT);
  for (int64_t d : c.sizes()) p->add_dims(d);
  p->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.numel() * 4));
}

using test::add_node;

void float_attr(pb::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(pb::AttributeProto::FLOAT);
  a->set_f(v);
}

/// x [N,6] -> Gemm "dense" -> act(...) -> "y1" -> act(...) -> "y2" (output). `act(g, in, prefix, out)` writes one
/// activation; the first one can fuse into the Gemm, the second is an Activation layer.
std::string act_model(const test::TempDir& dir, const std::string& name, int64_t opset,
                      const std::function<void(pb::GraphProto*, const std::string&, const std::string&, const std::string&)>& act) {
  pb::ModelProto m;
  m.set_ir_version(opset >= 15 ? 8 : 7);
  m.add_opset_import()->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name(name);
  auto info = [](pb::ValueInfoProto* v, const std::string& n, int64_t size) {
    v->set_name(n);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(pb::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_param("N");
    t->mutable_shape()->add_dim()->set_dim_value(size);
  };
  info(g->add_input(), "x", 6);
  at::manual_seed(3);
  add_float(g, "w", at::randn({6, 5}) * 0.6);
  add_float(g, "b", at::randn({5}) * 0.3);
  add_node(g, "Gemm", "dense", {"x", "w", "b"}, "h");
  act(g, "h", "first", "y1");
  act(g, "y1", "second", "y2");
  info(g->add_output(), "y2", 5);
  std::string path = dir.str(name + ".onnx");
  std::string bytes;
  EXPECT_TRUE(m.SerializeToString(&bytes));
  test::write_file(path, bytes);
  return path;
}

void expect_activation(const std::string& path, Activation a, const test::TempDir& dir, double input_scale = 2.0) {
  ir::Graph g = io::onnx::read_onnx(path);
  std::string d = ir::dump(g);
  ASSERT_EQ(g.layers.size(), 3u) << d;  // input, dense (fused), activation
  EXPECT_EQ(g.layers[1].kind, LayerKind::kDense) << d;
  EXPECT_EQ(g.layers[1].activation, a) << d;
  EXPECT_EQ(g.layers[2].kind, LayerKind::kActivation) << d;
  EXPECT_EQ(g.layers[2].activation, a) << d;
  if (!test::ort_available()) return;
  at::Generator gen = at::detail::createCPUGenerator(9);
  at::Tensor x = at::randn({16, 6}, gen, at::TensorOptions(at::kFloat)) * input_scale;
  at::Tensor ours = exec::predict(g, x);
  at::Tensor theirs = test::run_ort(path, x, dir);
  double rel = rel_diff(ours, theirs);
  std::printf("%s: original in ONNX Runtime vs snare rel %.3g\n", path.c_str(), rel);
  EXPECT_LE(rel, 1e-5) << path;
}

TEST(ReadOnnxActivations, ClipZeroSixIsRelu6InBothForms) {
  test::TempDir dir;
  // Opset 10: bounds are attributes.
  std::string attr = act_model(dir, "clip_attr", 10, [](pb::GraphProto* g, const std::string& in, const std::string& p,
                                                      const std::string& out) {
    auto* n = add_node(g, "Clip", p + "_clip", {in}, out);
    float_attr(n, "min", 0.0f);
    float_attr(n, "max", 6.0f);
  });
  expect_activation(attr, Activation::kRelu6, dir);
  // Opset 13: bounds are inputs, here a shared initializer and a Constant node (as exporters write them).
  std::string inputs = act_model(dir, "clip_inputs", 13, [](pb::GraphProto* g, const std::string& in, const std::string& p,
                                                          const std::string& out) {
    add_float(g, p + "_min", at::zeros({}));
    auto* c = add_node(g, "Constant", p + "_max_node", {}, p + "_max");
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(pb::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(pb::TensorProto::FLOAT);
    a->mutable_t()->add_float_data(6.0f);
    add_node(g, "Clip", p + "_clip", {in, p + "_min", p + "_max"}, out);
  });
  expect_activation(inputs, Activation::kRelu6, dir);
  // Clip(0) with no max is ReLU.
  std::string relu = act_model(dir, "clip_relu", 13, [](pb::GraphProto* g, const std::string& in, const std::string& p,
                                                      const std::string& out) {
    add_float(g, p + "_min", at::zeros({}));
    add_node(g, "Clip", p + "_clip", {in, p + "_min"}, out);
  });
  expect_activation(relu, Activation::kRelu, dir);
}

TEST(ReadOnnxActivations, ClipWithOtherBoundsIsUnsupportedNamingNodeAndBounds) {
  test::TempDir dir;
  std::string path = act_model(dir, "clip_bad", 13, [](pb::GraphProto* g, const std::string& in, const std::string& p,
                                                     const std::string& out) {
    add_float(g, p + "_min", at::full({}, -1.0));
    add_float(g, p + "_max", at::full({}, 1.0));
    add_node(g, "Clip", p + "_clip", {in, p + "_min", p + "_max"}, out);
  });
  try {
    io::onnx::read_onnx(path);
    ADD_FAILURE() << "no exception";
  } catch (const UnsupportedError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("first_clip"), std::string::npos) << msg;
    EXPECT_NE(msg.find("min=-1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("max=1"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
}

TEST(ReadOnnxActivations, SingleOpActivations) {
  test::TempDir dir;
  const std::pair<const char*, Activation> ops[] = {{"Softplus", Activation::kSoftplus},
                                                    {"Softsign", Activation::kSoftsign},
                                                    {"Exp", Activation::kExponential},
                                                    {"HardSwish", Activation::kHardSwish}};
  for (const auto& [op, a] : ops) {
    std::string o = op;
    std::string path = act_model(dir, "single_" + o, o == "HardSwish" ? 14 : 13,
                                 [&](pb::GraphProto* g, const std::string& in, const std::string& p, const std::string& out) {
                                   add_node(g, o, p + "_" + o, {in}, out);
                                 });
    expect_activation(path, a, dir, o == "Exp" ? 0.3 : 2.0);  // exp(exp(x)) overflows for large x
  }
}

TEST(ReadOnnxActivations, SwishAndHardSwishPatterns) {
  test::TempDir dir;
  // Sigmoid operand first in the Mul, as some exporters write it.
  std::string swish = act_model(dir, "swish", 13, [](pb::GraphProto* g, const std::string& in, const std::string& p,
                                                   const std::string& out) {
    add_node(g, "Sigmoid", p + "_sigmoid", {in}, p + "_s");
    add_node(g, "Mul", p + "_mul", {p + "_s", in}, out);
  });
  expect_activation(swish, Activation::kSwish, dir);
  std::string hswish = act_model(dir, "hard_swish", 13, [](pb::GraphProto* g, const std::string& in, const std::string& p,
                                                         const std::string& out) {
    auto* h = add_node(g, "HardSigmoid", p + "_hsig", {in}, p + "_h");
    float_attr(h, "alpha", 1.0f / 6.0f);
    float_attr(h, "beta", 0.5f);
    add_node(g, "Mul", p + "_mul", {in, p + "_h"}, out);
  });
  expect_activation(hswish, Activation::kHardSwish, dir);
  // HardSigmoid with its default alpha 0.2 is not hard-swish: it reads as Keras 2's hard_sigmoid and a multiply.
  std::string other = act_model(dir, "hsig_default", 13, [](pb::GraphProto* g, const std::string& in, const std::string& p,
                                                          const std::string& out) {
    add_node(g, "HardSigmoid", p + "_hsig", {in}, p + "_h");
    add_node(g, "Mul", p + "_mul", {in, p + "_h"}, out);
  });
  ir::Graph g = io::onnx::read_onnx(other);
  std::string d = ir::dump(g);
  EXPECT_NE(d.find("multiply"), std::string::npos) << d;
  EXPECT_NE(d.find("hard_sigmoid"), std::string::npos) << d;
  EXPECT_EQ(d.find("hard_swish"), std::string::npos) << d;
  if (test::ort_available()) {
    at::Generator gen = at::detail::createCPUGenerator(9);
    at::Tensor x = at::randn({16, 6}, gen, at::TensorOptions(at::kFloat)) * 2.0;
    EXPECT_LE(rel_diff(exec::predict(g, x), test::run_ort(other, x, dir)), 1e-5);
  }
}

TEST(ReadOnnxActivations, ErfGeluPatterns) {
  test::TempDir dir;
  // PyTorch: Div(x, sqrt2) -> Erf -> Add 1 -> Mul(x, .) -> Mul(., 0.5)
  std::string torch_style = act_model(dir, "gelu_torch", 13, [](pb::GraphProto* g, const std::string& in,
                                                              const std::string& p, const std::string& out) {
    add_float(g, p + "_sqrt2", at::full({}, std::sqrt(2.0)));
    add_float(g, p + "_one", at::full({}, 1.0));
    add_float(g, p + "_half", at::full({}, 0.5));
    add_node(g, "Div", p + "_div", {in, p + "_sqrt2"}, p + "_d");
    add_node(g, "Erf", p + "_erf", {p + "_d"}, p + "_e");
    add_node(g, "Add", p + "_add", {p + "_e", p + "_one"}, p + "_a");
    add_node(g, "Mul", p + "_mul", {in, p + "_a"}, p + "_m");
    add_node(g, "Mul", p + "_half_mul", {p + "_m", p + "_half"}, out);
  });
  expect_activation(torch_style, Activation::kGelu, dir);
  // TensorFlow: Mul(x, 1/sqrt2) -> Erf -> Add(1, .) ; Mul(x, 0.5) ; Mul(half_x, a)
  std::string tf_style = act_model(dir, "gelu_tf", 13, [](pb::GraphProto* g, const std::string& in, const std::string& p,
                                                        const std::string& out) {
    add_float(g, p + "_rsqrt2", at::full({}, std::sqrt(0.5)));
    add_float(g, p + "_one", at::full({}, 1.0));
    add_float(g, p + "_half", at::full({}, 0.5));
    add_node(g, "Mul", p + "_scale", {in, p + "_rsqrt2"}, p + "_d");
    add_node(g, "Erf", p + "_erf", {p + "_d"}, p + "_e");
    add_node(g, "Add", p + "_add", {p + "_one", p + "_e"}, p + "_a");
    add_node(g, "Mul", p + "_half_x", {in, p + "_half"}, p + "_hx");
    add_node(g, "Mul", p + "_mul", {p + "_hx", p + "_a"}, out);
  });
  expect_activation(tf_style, Activation::kGelu, dir);
}

// ---------------------------------------------------------------------------------------------
// snare's export of the Keras zoo's MobileNets (read by io/keras) in ONNX Runtime

TEST(WriteOnnx, KerasZooMobileNetsRunInOnnxRuntimeLikeSnare) {
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing (npm install --ignore-scripts)";
  test::TempDir dir;
  const char* models[] = {"../shared/models/keras/zoo/mobilenet_v1_0.25_96_vww_tfkeras.h5",
                          "../shared/models/keras/zoo/mobilenet_v2_0.35_128_flowers_tfkeras.h5",
                          "../shared/models/keras/zoo/stmnist_v1_emnist_tfkeras.h5",
                          "../shared/models/keras/zoo/yamnet_256_64x96_esc10_tfkeras.h5"};
  int ran = 0;
  for (const char* path : models) {
    ir::Graph g;
    try {
      g = io::keras::read_keras(path);
    } catch (const UnsupportedError& e) {
      std::printf("%s: the Keras reader cannot read it yet: %s\n", path, e.what());
      continue;
    }
    std::string out = dir.str("zoo.onnx"), again = dir.str("zoo_again.onnx");
    io::onnx::write_onnx(g, out);
    // The ONNX reader names the input layer "input"; everything else reads back as it was.
    std::string input = g.layers.front().name;
    std::string expected = std::regex_replace(ir::dump(g), std::regex("\\b" + input + "\\b"), "input");
    ir::Graph back = io::onnx::read_onnx(out);
    EXPECT_EQ(expected, ir::dump(back)) << path;
    io::onnx::write_onnx(back, again);
    EXPECT_EQ(ir::dump(back), ir::dump(io::onnx::read_onnx(again))) << path;
    at::Generator gen = at::detail::createCPUGenerator(31);
    std::vector<int64_t> shape{2};
    shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
    at::Tensor x = at::rand(shape, gen, at::TensorOptions(at::kFloat));
    at::Tensor ours = exec::predict(g, x);
    at::Tensor theirs = test::run_ort(out, x, dir);
    double rel = rel_diff(ours, theirs);
    std::printf("%s: snare's ONNX export in ONNX Runtime vs snare: max abs diff %.3g, rel %.3g\n", path,
                test::max_abs_diff(ours, theirs), rel);
    EXPECT_LE(rel, 1e-5) << path;
    ++ran;
  }
  if (ran == 0) GTEST_SKIP() << "the Keras reader reads none of the zoo MobileNets yet";
}

}  // namespace
}  // namespace snare
