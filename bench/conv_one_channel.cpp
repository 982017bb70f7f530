// Milliseconds per training step (forward and backward) of the convolutions snare computes with its own kernels
// (one input channel per group: src/exec/conv_one_channel.cpp) against LibTorch's at::conv2d (oneDNN) on the same
// tensors, median of many calls; so a new machine shows whether the own kernels still win there.
//   build/bench/bench_conv_one_channel [--threads T] [--calls N]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "exec/lowering.h"

namespace {

struct Shape {
  const char* name;
  std::vector<int64_t> input, weight, padding;
  bool input_grad;  // a layer inside a network (its input wants a gradient) or a first layer
};

double median_ms(const std::function<void()>& step, int calls) {
  for (int i = 0; i < 3; ++i) step();  // warm-up: oneDNN builds its kernels on the first calls
  std::vector<double> ms;
  for (int i = 0; i < calls; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + calls / 2, ms.end());
  return ms[calls / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, calls = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--threads")) threads = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--calls")) calls = std::stoi(argv[i + 1]);
  }
  if (threads > 0) at::set_num_threads(threads);
  const std::vector<Shape> shapes{
      {"LeNet-5 conv1: 1->6, 5x5, 28x28", {128, 1, 28, 28}, {6, 1, 5, 5}, {2, 2}, false},
      {"mobilenet-mini conv1: 1->16, 3x3, 28x28", {128, 1, 28, 28}, {16, 1, 3, 3}, {1, 1}, false},
      {"depthwise 64 channels, 3x3, 14x14", {128, 64, 14, 14}, {64, 1, 3, 3}, {1, 1}, true},
      {"depthwise 16 channels, 3x3, 28x28", {128, 16, 28, 28}, {16, 1, 3, 3}, {1, 1}, true},
      {"1-D 1->16, k 9, 128 steps", {128, 1, 128}, {16, 1, 9}, {4}, false},
  };
  fmt::print("threads {}, batch 128, median of {} calls, forward + backward (ms)\n", at::get_num_threads(), calls);
  fmt::print("{:<42}{:>10}{:>10}{:>8}\n", "convolution", "LibTorch", "snare", "ratio");
  at::manual_seed(1);
  for (const Shape& s : shapes) {
    const at::Tensor x = at::randn(s.input).requires_grad_(s.input_grad);
    const at::Tensor w = at::randn(s.weight).requires_grad_(true), b = at::randn({s.weight[0]}).requires_grad_(true);
    const std::vector<int64_t> ones(s.padding.size(), 1);
    const int64_t groups = s.input[1];
    at::Tensor upstream;
    auto step = [&](bool ours) {
      for (const at::Tensor& t : {x, w, b}) {
        if (t.grad().defined()) t.mutable_grad().zero_();
      }
      at::Tensor y = ours ? snare::exec::detail::conv_one_channel(x, w, b, s.padding)
                     : s.input.size() == 3 ? at::conv1d(x, w, b, ones, s.padding, ones, groups)
                                           : at::conv2d(x, w, b, ones, s.padding, ones, groups);
      if (!upstream.defined()) upstream = at::randn(y.sizes());
      y.backward(upstream);
    };
    const double libtorch = median_ms([&] { step(false); }, calls);
    const double snare = median_ms([&] { step(true); }, calls);
    fmt::print("{:<42}{:>10.3f}{:>10.3f}{:>8.2f}\n", s.name, libtorch, snare, libtorch / snare);
  }
  return 0;
}
