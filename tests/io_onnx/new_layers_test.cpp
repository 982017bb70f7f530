// Element-wise merges, Cropping, UpSampling, keepdims global pools and SeparableConv1D/2D in ONNX: snare's export
// runs in ONNX Runtime (an implementation that is not ours) and computes what snare's LibTorch forward computes,
// and reads back as the same graph (Sub/Mul/Mean/Max/Min, Slice, Resize, a pool read by a Conv or Mul, and
// snare's `separable` hint).
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <cstdio>

#include "exec/network.h"
#include "io/onnx/onnx.h"
#include "io_onnx/onnx_test_util.h"
#include "support/layer_graphs.h"

namespace snare {
namespace {

at::Tensor sample(const ir::Graph& g, int64_t n) {
  std::vector<int64_t> shape{n};
  shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
  at::Generator gen = at::detail::createCPUGenerator(8);
  return at::randn(shape, gen, at::TensorOptions(at::kFloat));
}

TEST(WriteOnnx, MergesCroppingUpSamplingAndSeparableConvsRunInOnnxRuntimeLikeSnare) {
  test::TempDir dir;
  for (const ir::Graph& g : test::new_layer_graphs()) {
    SCOPED_TRACE(g.name);
    std::string path = dir.str(g.name + ".onnx");
    io::onnx::write_onnx(g, path);
    EXPECT_NO_THROW(::ONNX_NAMESPACE::checker::check_model(path));
    if (!test::ort_available()) continue;
    at::Tensor x = sample(g, 6);
    at::Tensor ours = exec::predict(g, x), theirs = test::run_ort(path, x, dir);
    ASSERT_EQ(ours.sizes(), theirs.sizes());
    double rel = test::rel_diff(ours, theirs);
    std::printf("%s: ONNX Runtime vs snare rel %.3g\n", g.name.c_str(), rel);
    EXPECT_LE(rel, 1e-5);
  }
}

TEST(WriteOnnx, MergesCroppingUpSamplingAndSeparableConvsReadBackIdentically) {
  test::TempDir dir;
  for (const ir::Graph& g : test::new_layer_graphs()) {
    SCOPED_TRACE(g.name);
    std::string a = dir.str(g.name + "_a.onnx"), b = dir.str(g.name + "_b.onnx");
    io::onnx::write_onnx(g, a);
    ir::Graph once = io::onnx::read_onnx(a);
    EXPECT_EQ(ir::dump(g), ir::dump(once));
    io::onnx::write_onnx(once, b);
    EXPECT_EQ(ir::dump(once), ir::dump(io::onnx::read_onnx(b)));
  }
}

}  // namespace
}  // namespace snare
