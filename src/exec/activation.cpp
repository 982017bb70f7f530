// LibTorch form of the IR's activations.
#include <ATen/ATen.h>

#include "exec/lowering.h"

namespace snare::exec::detail {

at::Tensor activate(const at::Tensor& x, ir::Activation a, double alpha) {
  switch (a) {
    case ir::Activation::kLinear: return x;
    case ir::Activation::kRelu: return at::relu(x);
    case ir::Activation::kTanh: return at::tanh(x);
    case ir::Activation::kSigmoid: return at::sigmoid(x);
    case ir::Activation::kSoftmax: return at::softmax(x, 1);
    case ir::Activation::kElu: return at::elu(x, alpha == 0.0 ? 1.0 : alpha);
    case ir::Activation::kSelu: return at::selu(x);
    case ir::Activation::kLeakyRelu: return at::leaky_relu(x, alpha);
    case ir::Activation::kRelu6: return at::hardtanh(x, 0.0, 6.0);
    case ir::Activation::kSwish: return at::silu(x);
    case ir::Activation::kHardSwish: return at::hardswish(x);
    case ir::Activation::kGelu: return at::gelu(x);
    case ir::Activation::kSoftplus: return at::softplus(x);
    case ir::Activation::kSoftsign: return x / (x.abs() + 1);
    case ir::Activation::kExponential: return at::exp(x);
    case ir::Activation::kHardSigmoid: return at::clamp(x * 0.2 + 0.5, 0.0, 1.0);
  }
  return x;
}

}  // namespace snare::exec::detail
