// Median CPU forward latency of a model in LibTorch (snare's executor), batch 1 and batch 64, after
// warm-up. Prints one JSON line per batch size.   build/bench/bench_latency MODEL [--runs N] [--threads T]
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

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: bench_latency MODEL [--runs N] [--threads T]\n");
    return 2;
  }
  int runs = 300, threads = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--runs")) runs = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
  }
  using namespace snare;
  exec::configure_threads();
  if (threads > 0) at::set_num_threads(threads);
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
