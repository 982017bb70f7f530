// Seconds per LeNet-5 training epoch on MNIST (batch 128, Adam, lr 1e-3) with snare's trainer.
// Prints one JSON line; bench/train_epoch runs it next to the same loop in PyTorch-Python.
//   build/bench/bench_train_epoch [--epochs N] [--device cpu|cuda] [--threads T] [--profile TRACE]
// --profile writes LibTorch's op-level trace (chrome://tracing JSON) of the training to TRACE.
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "arch/zoo.h"
#include "data/dataset.h"
#include "exec/blas_kernels.h"
#include "exec/network.h"
#include "exec/train.h"

int main(int argc, char** argv) {
  int64_t epochs = 2;
  std::string device = "cpu";
  int threads = 0;
  std::string profile;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--epochs")) epochs = std::stoll(argv[i + 1]);
    if (!std::strcmp(argv[i], "--device")) device = argv[i + 1];
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--profile")) profile = argv[i + 1];
  }
  using namespace snare;
  exec::set_threads(threads);  // 0: every core, as the CLI does
  data::Dataset d = data::load_dataset("mnist", {data::Scale::kUnit});
  ir::Graph g = arch::build("lenet5", 1);
  exec::TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 128;
  o.device = device;
  exec::TrainResult r;
  {
    std::unique_ptr<torch::autograd::profiler::RecordProfile> trace;
    if (!profile.empty()) trace = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
    r = exec::train(g, d.train, nullptr, o);
  }
  double total = 0, best = 1e30;
  for (const auto& e : r.epochs) {
    total += e.seconds;
    best = std::min(best, e.seconds);
  }
  exec::ExecOptions eo;
  eo.device = device;
  double acc = exec::evaluate(r.graph, d.test, eo).accuracy;
  const exec::BlasKernels blas = exec::blas_kernels();
  fmt::print("{{\"impl\":\"snare\",\"device\":\"{}\",\"threads\":{},\"epochs\":{},\"seconds_per_epoch\":{:.3f},"
             "\"best_epoch_seconds\":{:.3f},\"test_accuracy\":{:.4f},\"blas_core\":\"{}\",\"blas\":\"{}\"}}\n",
             device, at::get_num_threads(), epochs, total / static_cast<double>(epochs), best, acc, blas.core,
             blas.describe());
  return 0;
}
