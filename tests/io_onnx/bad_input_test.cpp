// Bad ONNX input: each failure is one snare::Error of the right kind whose message names the file
// and, where there is one, the node.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "common/error.h"
#include "io/onnx/onnx.h"
#include "io_onnx/onnx_test_util.h"

namespace snare {
namespace {

namespace pb = ::ONNX_NAMESPACE;

/// Catches the error `read_onnx(path)` throws (failing the test when it throws nothing).
template <typename E>
std::string read_error(const std::string& path) {
  try {
    io::onnx::read_onnx(path);
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return "";
  }
  ADD_FAILURE() << "no exception for " << path;
  return "";
}

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
  std::string bytes = test::read_text(test::kMnist8);
  ASSERT_GT(bytes.size(), 1000u);
  std::string path = dir.str("truncated.onnx");
  test::write_file(path, bytes.substr(0, bytes.size() / 2));
  std::string msg = read_error<ModelError>(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("protobuf"), std::string::npos) << msg;
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
