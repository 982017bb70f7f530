// Helpers for the io_onnx tests: fixture paths, running a model in ONNX Runtime through
// tools/ort_run.js, and comparing outputs.
#pragma once

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <onnx/onnx_pb.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "data/temp_dir.h"
#include "io/onnx/onnx.h"

namespace snare::test {

inline const char* kMnist8 = "../shared/models/onnx/mnist-8_onnxzoo_cntk_emclab.onnx";
inline const char* kMnistCnn = "../shared/models/onnx/mnist_cnn_tf2onnx1.6.3_opset8_llf.onnx";
inline const char* kMnistMlp = "../shared/models/onnx/mnist_mlp_tf2onnx1.17_opset13_ohhmkar.onnx";

inline bool ort_available() { return std::filesystem::exists("node_modules/onnxruntime-node/package.json"); }

/// Runs `model` in ONNX Runtime on x (float32, any shape incl. batch; converted when the model's input is of
/// another element type); returns its first output as float32 and, in `type`, ONNX Runtime's name for its
/// element type ("float32", "int64", ...).
inline at::Tensor run_ort(const std::string& model, const at::Tensor& x, const TempDir& dir, std::string* type = nullptr) {
  at::Tensor c = x.to(at::kFloat).contiguous();
  std::string in = dir.str("ort_in.f32"), out = dir.str("ort_out.f32"), json = dir.str("ort.json"), err = dir.str("ort.err");
  write_file(in, std::string(static_cast<const char*>(c.data_ptr()), c.numel() * 4));
  std::string shape = fmt::format("{}", fmt::join(c.sizes(), ","));
  std::string cmd = fmt::format("node tools/ort_run.js '{}' '{}' {} '{}' > '{}' 2> '{}'", model, in, shape, out, json, err);
  int rc = std::system(cmd.c_str());
  if (rc != 0) throw std::runtime_error("ort_run failed: " + read_file(err));
  auto meta = nlohmann::json::parse(read_file(json));
  std::vector<int64_t> dims = meta.at("shape").get<std::vector<int64_t>>();
  if (type) *type = meta.value("type", "float32");
  std::string bytes = read_file(out);
  at::Tensor y = at::empty(dims, at::kFloat);
  if (static_cast<size_t>(y.numel()) * 4 != bytes.size()) throw std::runtime_error("ort_run output size mismatch");
  std::memcpy(y.data_ptr(), bytes.data(), bytes.size());
  return y;
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble).reshape({-1}) - b.to(at::kDouble).reshape({-1})).abs().max().item<double>();
}

/// max |ours - theirs| / max |theirs|
inline double rel_diff(const at::Tensor& ours, const at::Tensor& theirs) {
  double scale = theirs.abs().max().item<double>();
  return max_abs_diff(ours, theirs) / (scale > 0 ? scale : 1.0);
}

/// Catches the error `read_onnx(path)` throws (failing the test when it throws nothing or another type).
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

/// Appends node `name` (op `op`, inputs `in`, one output `out`) to `g`.
inline ::ONNX_NAMESPACE::NodeProto* add_node(::ONNX_NAMESPACE::GraphProto* g, const std::string& op, const std::string& name,
                                             const std::vector<std::string>& in, const std::string& out) {
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : in) n->add_input(i);
  n->add_output(out);
  return n;
}

/// How many nodes of op type `op` the ONNX file at `path` has.
inline int count_nodes(const std::string& path, const std::string& op) {
  ::ONNX_NAMESPACE::ModelProto model;
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(model.ParseFromIstream(&in)) << path;
  int count = 0;
  for (const auto& n : model.graph().node()) count += n.op_type() == op;
  return count;
}

}  // namespace snare::test
