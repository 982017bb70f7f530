// Bad ONNX input: each failure is one snare::Error of the right kind whose message names the file
// and, where there is one, the node.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <fstream>

#include "arch/zoo.h"
#include "common/error.h"
#include "exec/network.h"
#include "io/onnx/onnx.h"
#include "io_onnx/onnx_test_util.h"

namespace snare {
namespace {

namespace pb = ::ONNX_NAMESPACE;

using test::read_error;

/// A tiny opset-13 model: x [N,4] -> nodes -> the last node's output.
pb::ModelProto tiny_model(const std::vector<std::pair<std::string, std::string>>& op_and_name) {
  pb::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("tiny");
  auto add_info = [](pb::ValueInfoProto* v, const std::string& name) {
    v->set_name(name);
    auto* t = v->mutable_type()->mutable_tensor_type();
    t->set_elem_type(pb::TensorProto::FLOAT);
    t->mutable_shape()->add_dim()->set_dim_param("N");
    t->mutable_shape()->add_dim()->set_dim_value(4);
  };
  add_info(g->add_input(), "x");
  std::string prev = "x";
  for (const auto& [op, name] : op_and_name) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name);
    n->add_input(prev);
    prev = name + "_out";
    n->add_output(prev);
  }
  add_info(g->add_output(), prev);
  return m;
}

void save(const pb::ModelProto& m, const std::string& path) {
  std::string bytes;
  ASSERT_TRUE(m.SerializeToString(&bytes));
  test::write_file(path, bytes);
}

TEST(BadOnnx, TruncatedProtobufIsAModelErrorNamingTheFile) {
  test::TempDir dir;
  std::string bytes = test::read_file(test::kMnist8);
  ASSERT_GT(bytes.size(), 1000u);
  std::string path = dir.str("truncated.onnx");
  test::write_file(path, bytes.substr(0, bytes.size() / 2));
  std::string msg = read_error<ModelError>(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("protobuf"), std::string::npos) << msg;
}

// Window attributes out of range were a SIGFPE (stride 0) or a LibTorch failure: each is now a ModelError naming
// the file, the node and the attribute, before any arithmetic on it.
TEST(BadOnnx, WindowAttributesOutOfRangeAreModelErrors) {
  test::TempDir dir;
  const std::string good = dir.str("lenet5.onnx");
  io::onnx::write_onnx(snare::arch::build("lenet5", 1), good);
  struct Edit {
    const char* op;
    const char* attribute;
    std::vector<int64_t> values;
  };
  for (const Edit& e : {Edit{"Conv", "strides", {0, 0}}, Edit{"Conv", "dilations", {1, 0}}, Edit{"Conv", "pads", {-1, 0, 0, 0}},
                        Edit{"MaxPool", "kernel_shape", {0, 2}}, Edit{"MaxPool", "strides", {2, 0}},
                        Edit{"Conv", "strides", {1, 1, 1}}}) {
    SCOPED_TRACE(std::string(e.op) + " " + e.attribute);
    pb::ModelProto m;
    {
      std::ifstream in(good, std::ios::binary);
      ASSERT_TRUE(m.ParseFromIstream(&in));
    }
    bool edited = false;
    for (auto& n : *m.mutable_graph()->mutable_node()) {
      if (n.op_type() != e.op || edited) continue;
      pb::AttributeProto* a = nullptr;
      for (auto& existing : *n.mutable_attribute()) {
        if (existing.name() == e.attribute) a = &existing;
      }
      if (a == nullptr) {
        a = n.add_attribute();
        a->set_name(e.attribute);
        a->set_type(pb::AttributeProto::INTS);
      }
      a->clear_ints();
      for (int64_t v : e.values) a->add_ints(v);
      edited = true;
    }
    ASSERT_TRUE(edited);
    const std::string path = dir.str("bad_window.onnx");
    save(m, path);
    const std::string msg = read_error<ModelError>(path);
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(e.attribute), std::string::npos) << msg;
  }
}

TEST(BadOnnx, MissingFileIsAModelError) {
  std::string msg = read_error<ModelError>("no/such/model.onnx");
  EXPECT_NE(msg.find("no/such/model.onnx"), std::string::npos) << msg;
}

TEST(BadOnnx, CheckerFailureIsAModelErrorNamingFileAndNode) {
  test::TempDir dir;
  pb::ModelProto m = tiny_model({{"Relu", "relu_ok"}, {"Relu", "relu_two_inputs"}});
  m.mutable_graph()->mutable_node(1)->add_input("x");  // Relu takes exactly one input
  std::string path = dir.str("checker.onnx");
  save(m, path);
  std::string msg = read_error<ModelError>(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("ONNX checker"), std::string::npos) << msg;
  EXPECT_NE(msg.find("relu_two_inputs"), std::string::npos) << msg;
}

TEST(BadOnnx, UnsupportedOpsAreListedTogetherWithNodeNames) {
  test::TempDir dir;
  std::string path = dir.str("unsupported.onnx");
  save(tiny_model({{"Relu", "relu_ok"}, {"Cos", "my_cos"}, {"Floor", "my_floor"}}), path);
  std::string msg = read_error<UnsupportedError>(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'my_cos' (Cos)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'my_floor' (Floor)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("relu_ok"), std::string::npos) << msg;
}

// An op ONNX does not define was a ModelError from the checker (exit 3); it is a file snare cannot read (exit 4).
TEST(BadOnnx, OpsOnnxDoesNotDefineAreUnsupported) {
  test::TempDir dir;
  std::string path = dir.str("unknown_op.onnx");
  pb::ModelProto m = tiny_model({{"Relu", "relu_ok"}, {"Frobnicate", "my_frob"}});
  save(m, path);
  std::string msg = read_error<UnsupportedError>(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("'my_frob' (Frobnicate)"), std::string::npos) << msg;
  m.mutable_graph()->mutable_node(1)->set_op_type("Relu");
  m.mutable_graph()->mutable_node(1)->set_domain("com.example");
  save(m, path);
  msg = read_error<UnsupportedError>(path);
  EXPECT_NE(msg.find("com.example.Relu"), std::string::npos) << msg;
}

TEST(BadOnnx, UnsortedNodesAreSorted) {
  test::TempDir dir;
  pb::ModelProto m = tiny_model({{"Relu", "first"}, {"Sigmoid", "second"}, {"Tanh", "third"}});
  m.mutable_graph()->mutable_node()->SwapElements(0, 2);
  std::string path = dir.str("unsorted.onnx");
  save(m, path);
  ir::Graph g = io::onnx::read_onnx(path);
  ASSERT_EQ(g.layers.size(), 4u);
  EXPECT_EQ(g.layers[1].name, "first");
  EXPECT_EQ(g.layers[2].name, "second");
  EXPECT_EQ(g.layers[3].name, "third");
}

// Issue 17: 20,000 chained nodes took over a minute when sorting and shape inference were quadratic; bench/graph_load
// times it (under a second now). Here: such a graph, given in reverse order, reads completely and in order.
TEST(BadOnnx, ALongChainGivenInReverseIsReadInOrder) {
  test::TempDir dir;
  std::vector<std::pair<std::string, std::string>> nodes;
  for (int i = 0; i < 20000; ++i) nodes.emplace_back(i % 2 ? "Sigmoid" : "Relu", "n" + std::to_string(i));
  pb::ModelProto m = tiny_model(nodes);
  auto* g = m.mutable_graph()->mutable_node();
  for (int i = 0, j = g->size() - 1; i < j; ++i, --j) g->SwapElements(i, j);
  std::string path = dir.str("chain.onnx");
  save(m, path);
  ir::Graph read = io::onnx::read_onnx(path);
  ASSERT_EQ(read.layers.size(), 20001u);
  EXPECT_EQ(read.layers[1].name, "n0");
  EXPECT_EQ(read.layers.back().name, "n19999");
  EXPECT_EQ(read.output_shape(), ir::Shape{4});
}

TEST(BadOnnx, UnfoldableConstantAddIsUnsupportedNamingTheNode) {
  test::TempDir dir;
  pb::ModelProto m = tiny_model({{"Relu", "relu"}, {"Add", "add_const"}});
  auto* c = m.mutable_graph()->add_initializer();
  c->set_name("c");
  c->set_data_type(pb::TensorProto::FLOAT);
  c->add_dims(4);
  for (int i = 0; i < 4; ++i) c->add_float_data(1.0f);
  m.mutable_graph()->mutable_node(1)->add_input("c");
  std::string path = dir.str("add.onnx");
  save(m, path);
  std::string msg = read_error<UnsupportedError>(path);
  EXPECT_NE(msg.find("add_const"), std::string::npos) << msg;
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
}

}  // namespace
}  // namespace snare

namespace snare {
namespace {

namespace pb = ::ONNX_NAMESPACE;

void add_float(pb::GraphProto* g, const std::string& name, const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  auto* p = g->add_initializer();
  p->set_name(name);
  p->set_data_type(pb::TensorProto::FLOAT);
  for (int64_t d : c.sizes()) p->add_dims(d);
  p->set_raw_data(std::string(static_cast<const char*>(c.data_ptr()), c.numel() * 4));
}

void add_ints(pb::GraphProto* g, const std::string& name, const std::vector<int64_t>& v) {
  auto* p = g->add_initializer();
  p->set_name(name);
  p->set_data_type(pb::TensorProto::INT64);
  p->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) p->add_int64_data(x);
}

using test::add_node;

void ints_attr(pb::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(pb::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

// A tf2onnx-style graph with a 2-channel NHWC input, asymmetric explicit conv pads, a channels-last
// flatten and Gemm with transB=0: snare reads it channels-first and computes what ONNX Runtime computes.
TEST(ReadOnnxLayouts, NhwcInputExplicitPadsAndGemmMatchOnnxRuntime) {
  at::manual_seed(5);
  pb::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("nhwc");
  auto* in = g->add_input();
  in->set_name("image");
  auto* t = in->mutable_type()->mutable_tensor_type();
  t->set_elem_type(pb::TensorProto::FLOAT);
  t->mutable_shape()->add_dim()->set_dim_param("batch");
  for (int64_t d : {5, 5, 2}) t->mutable_shape()->add_dim()->set_dim_value(d);
  add_float(g, "w", at::randn({3, 2, 3, 3}));
  add_float(g, "b", at::randn({3}));
  add_float(g, "fc", at::randn({45, 4}));
  add_float(g, "fc_b", at::randn({4}));
  add_ints(g, "flat_shape", {-1, 45});
  ints_attr(add_node(g, "Transpose", "to_nchw", {"image"}, "x"), "perm", {0, 3, 1, 2});
  auto* conv = add_node(g, "Conv", "conv", {"x", "w", "b"}, "c");
  ints_attr(conv, "pads", {1, 0, 1, 0});
  add_node(g, "Relu", "relu", {"c"}, "r");
  ints_attr(add_node(g, "Transpose", "to_nhwc", {"r"}, "rt"), "perm", {0, 2, 3, 1});
  add_node(g, "Reshape", "flatten", {"rt", "flat_shape"}, "f");
  add_node(g, "Gemm", "dense", {"f", "fc", "fc_b"}, "logits");
  add_node(g, "Softmax", "softmax", {"logits"}, "probs");
  auto* out = g->add_output();
  out->set_name("probs");
  auto* ot = out->mutable_type()->mutable_tensor_type();
  ot->set_elem_type(pb::TensorProto::FLOAT);
  ot->mutable_shape()->add_dim()->set_dim_param("batch");
  ot->mutable_shape()->add_dim()->set_dim_value(4);

  test::TempDir dir;
  std::string path = dir.str("nhwc.onnx");
  save(m, path);
  ir::Graph ir_graph = io::onnx::read_onnx(path);
  std::string d = ir::dump(ir_graph);
  EXPECT_EQ(ir_graph.input_shape(), (ir::Shape{2, 5, 5})) << d;
  EXPECT_EQ(ir_graph.layer("conv/pad").kind, ir::LayerKind::kZeroPadding2D) << d;
  EXPECT_EQ(ir_graph.layer("conv").activation, ir::Activation::kRelu) << d;
  EXPECT_TRUE(ir_graph.layer("flatten").channels_last) << d;
  EXPECT_EQ(ir_graph.layer("dense").activation, ir::Activation::kSoftmax) << d;
  std::string again = dir.str("nhwc_again.onnx");
  io::onnx::write_onnx(ir_graph, again);
  EXPECT_EQ(d, ir::dump(io::onnx::read_onnx(again)));
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing";
  at::Tensor nchw = at::rand({6, 2, 5, 5});
  at::Tensor theirs = test::run_ort(path, nchw.permute({0, 2, 3, 1}).contiguous(), dir);
  at::Tensor ours = exec::predict(ir_graph, nchw);
  double diff = test::max_abs_diff(ours, theirs);
  std::printf("nhwc graph: original in ONNX Runtime vs snare max abs diff %.3g\n", diff);
  EXPECT_LE(diff, 1e-5);
}

}  // namespace
}  // namespace snare
