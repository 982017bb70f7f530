// ONNX GRU, RNN and bidirectional LSTM/GRU/RNN: snare's export reads back to the same graph, passes the ONNX checker,
// and computes in ONNX Runtime what snare's LibTorch lowering computes (GRU with reset_after both ways, hard_sigmoid
// gates, every Bidirectional merge mode, return_sequences both ways).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <fstream>

#include "exec/network.h"
#include "io/onnx/onnx.h"
#include "io_onnx/onnx_test_util.h"
#include "support/recurrent_graphs.h"

namespace snare {
namespace {

constexpr double kRuntimeTolerance = 1e-5;

at::Tensor sample(const ir::Graph& g) {
  at::manual_seed(9);
  return at::rand({5, g.input_shape().at(0), g.input_shape().at(1)});
}

TEST(RecurrentOnnx, WriteReadGivesTheSameGraph) {
  test::TempDir dir;
  for (const ir::Graph& g : testing::recurrent_graphs()) {
    std::string path = dir.str(g.name + ".onnx");
    io::onnx::write_onnx(g, path);
    EXPECT_NO_THROW(::ONNX_NAMESPACE::checker::check_model(path)) << g.name;
    ir::Graph back = io::onnx::read_onnx(path);
    EXPECT_EQ(ir::dump(g), ir::dump(back)) << g.name;
  }
}

TEST(RecurrentOnnx, BidirectionalLayersAreOneNodeEach) {
  test::TempDir dir;
  for (const ir::Graph& g : testing::recurrent_graphs()) {
    std::string path = dir.str(g.name + ".onnx");
    io::onnx::write_onnx(g, path);
    ::ONNX_NAMESPACE::ModelProto model;
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(model.ParseFromIstream(&in)) << path;
    for (const auto& n : model.graph().node()) {
      if (n.op_type() != "LSTM" && n.op_type() != "GRU" && n.op_type() != "RNN") continue;
      const ir::Layer& l = g.layer(n.name());
      std::string direction = "forward";
      for (const auto& a : n.attribute()) {
        if (a.name() == "direction") direction = a.s();
      }
      EXPECT_EQ(direction, l.bidirectional ? "bidirectional" : "forward") << g.name << " " << n.name();
    }
  }
}

TEST(RecurrentOnnx, RunsInOnnxRuntimeLikeSnare) {
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing (npm install --ignore-scripts)";
  test::TempDir dir;
  for (const ir::Graph& g : testing::recurrent_graphs()) {
    std::string path = dir.str(g.name + ".onnx");
    io::onnx::write_onnx(g, path);
    at::Tensor x = sample(g);
    at::Tensor ours = exec::predict(g, x);
    at::Tensor theirs = test::run_ort(path, x, dir);
    ASSERT_EQ(ours.sizes(), theirs.sizes()) << g.name;
    double diff = test::max_abs_diff(ours, theirs);
    std::printf("%s: ONNX Runtime vs snare max abs diff %.3g\n", g.name.c_str(), diff);
    EXPECT_LE(diff, kRuntimeTolerance) << g.name;
  }
}

TEST(RecurrentOnnx, SequenceOutputsKeepTheirTimeOrder) {
  // A bidirectional layer with return_sequences as the graph output: ONNX Runtime's sequence output, merged, equals
  // snare's at every step (a flipped backward direction would only agree at the middle step).
  if (!test::ort_available()) GTEST_SKIP() << "node_modules/onnxruntime-node missing (npm install --ignore-scripts)";
  test::TempDir dir;
  for (ir::MergeMode m : {ir::MergeMode::kConcat, ir::MergeMode::kAve}) {
    ir::Graph g = testing::RecurrentNet(std::string("bi_seq_") + ir::merge_mode_name(m))
                      .bi("bi_gru", ir::LayerKind::kGRU, 3, true, m, true)
                      .finish();
    std::string path = dir.str(g.name + ".onnx");
    io::onnx::write_onnx(g, path);
    EXPECT_EQ(ir::dump(g), ir::dump(io::onnx::read_onnx(path))) << g.name;
    at::Tensor x = sample(g);
    EXPECT_LE(test::max_abs_diff(exec::predict(g, x), test::run_ort(path, x, dir)), kRuntimeTolerance) << g.name;
  }
}

}  // namespace
}  // namespace snare
