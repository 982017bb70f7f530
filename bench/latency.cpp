// Median CPU forward latency of a model in LibTorch (snare's executor), batch 1 and batch 64, after
// warm-up. Prints one JSON line per batch size.   build/bench/bench_latency MODEL [--runs N] [--threads T]
// `bench_latency --floor-model OUT.onnx` writes a one-node model (ReLU of one number): its latency in
// a runtime is that runtime's fixed cost per call, which bounds what any reduction can gain at batch 1.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "analysis/stats.h"
#include "exec/network.h"
#include "io/model_file.h"
#include "io/onnx/onnx.h"

namespace {

void write_floor_model(const std::string& path) {
  snare::ir::Graph g;
  g.name = "floor";
  snare::ir::Layer in;
  in.name = "input";
  in.kind = snare::ir::LayerKind::kInput;
  in.input_shape = {1};
  snare::ir::Layer relu;
  relu.name = "relu";
  relu.kind = snare::ir::LayerKind::kActivation;
  relu.activation = snare::ir::Activation::kRelu;
  relu.inputs = {"input"};
  g.layers = {in, relu};
  snare::io::onnx::write_onnx(g, path);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: bench_latency MODEL [--runs N] [--threads T] | --floor-model OUT.onnx\n");
    return 2;
  }
  if (!std::strcmp(argv[1], "--floor-model") && argc == 3) {
    write_floor_model(argv[2]);
    return 0;
  }
  int runs = 1000, threads = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--runs")) runs = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
  }
  using namespace snare;
  exec::set_threads(threads);  // 0: every core, as the CLI does
  ir::Graph g = io::load_model(argv[1]);
  auto stats = analysis::analyze(g);
  at::NoGradGuard no_grad;
  exec::Network net(g);
  for (int64_t batch : {1, 64}) {
    std::vector<int64_t> shape{batch};
    shape.insert(shape.end(), g.input_shape().begin(), g.input_shape().end());
    at::Tensor x = at::rand(shape);
    for (int i = 0; i < 20; ++i) net.forward(x);
    std::vector<double> ms;
    int n = batch == 1 ? runs : std::max(20, runs / 5);
    for (int i = 0; i < n; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      net.forward(x);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::nth_element(ms.begin(), ms.begin() + static_cast<long>(ms.size() / 2), ms.end());
    fmt::print("{{\"runtime\":\"libtorch\",\"model\":\"{}\",\"batch\":{},\"median_ms\":{:.4f},\"runs\":{},\"macs\":{},"
               "\"threads\":{}}}\n",
               argv[1], batch, ms[ms.size() / 2], n, stats.macs, at::get_num_threads());
  }
  return 0;
}
