// snare::exec fused optimizer: Adam and SGD with momentum, one loop per parameter tensor.
//
// LibTorch's optimizers spend about eight tensor operations per parameter per step (plus a wrapped scalar converted
// in most of them); for a network of LeNet-5's size their dispatch costs far more than their arithmetic. This one
// computes PyTorch's update rules element by element in one pass over gradient, moments and weight, with the
// connection mask applied to the gradient before and to the weight after (masked weights stay exactly zero). The
// operations and their rounding follow LibTorch 1.13's vector kernels (AVX2, AVX-512), so on float CPU tensors it
// gives the same weights bit for bit (tested against torch::optim); other tensors take the same rules as tensor
// operations.
//
//   FusedOptimizer opt(net.parameters(), net.parameter_masks(), options);
//   opt.zero_grad(); loss.backward(); opt.step();
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace snare::exec {

struct TrainOptions;

class FusedOptimizer {
 public:
  /// `masks[i]` (undefined: none) multiplies parameter i's gradient before and its weight after each step.
  FusedOptimizer(std::vector<at::Tensor> params, std::vector<at::Tensor> masks, const TrainOptions& options);

  void set_lr(double lr) { lr_ = lr; }
  /// Drops the gradients (PyTorch's set_to_none): backward then stores them instead of adding them to zeros.
  void zero_grad();
  /// One update of every parameter that has a gradient.
  void step();

 private:
  struct Slot {
    at::Tensor param, mask, first, second;  ///< Adam: moments; SGD: `first` is the momentum buffer
    int64_t steps = 0;
  };
  void adam(Slot& s, const at::Tensor& grad);
  void sgd(Slot& s, const at::Tensor& grad);

  std::vector<Slot> slots_;
  bool adam_;
  double lr_, momentum_, weight_decay_;
};

}  // namespace snare::exec
