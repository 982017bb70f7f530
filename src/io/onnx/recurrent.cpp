#include "io/onnx/recurrent.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"

namespace snare::io::onnx::detail {

using ir::LayerKind;

namespace {

/// ONNX's HardSigmoid with its default alpha 0.2 and beta 0.5 is the IR's hard_sigmoid.
constexpr std::pair<ir::Activation, const char*> kActivations[] = {
    {ir::Activation::kTanh, "Tanh"},         {ir::Activation::kSigmoid, "Sigmoid"},
    {ir::Activation::kRelu, "Relu"},         {ir::Activation::kHardSigmoid, "HardSigmoid"},
    {ir::Activation::kSoftsign, "Softsign"}, {ir::Activation::kSoftplus, "Softplus"},
};

}  // namespace

const char* recurrent_op(LayerKind kind) {
  switch (kind) {
    case LayerKind::kLSTM: return "LSTM";
    case LayerKind::kGRU: return "GRU";
    case LayerKind::kSimpleRNN: return "RNN";
    default: throw InternalError("io/onnx: recurrent_op of a non-recurrent kind");
  }
}

at::Tensor gates_to_onnx(const at::Tensor& t, LayerKind kind) {
  if (kind == LayerKind::kLSTM) {  // i,f,g,o -> i,o,f,c
    auto q = t.chunk(4, 0);
    return at::cat({q[0], q[3], q[1], q[2]}, 0).contiguous();
  }
  if (kind == LayerKind::kGRU) {  // r,z,n -> z,r,h
    auto q = t.chunk(3, 0);
    return at::cat({q[1], q[0], q[2]}, 0).contiguous();
  }
  return t.contiguous();
}

at::Tensor gates_from_onnx(const at::Tensor& t, LayerKind kind) {
  if (kind == LayerKind::kLSTM) {  // i,o,f,c -> i,f,g,o
    auto q = t.chunk(4, 0);
    return at::cat({q[0], q[2], q[3], q[1]}, 0).contiguous();
  }
  return gates_to_onnx(t, kind);  // the GRU swap is its own inverse; RNN has one gate
}

std::string recurrent_activation_to_onnx(ir::Activation a, const std::string& layer) {
  for (const auto& [ir_value, name] : kActivations) {
    if (ir_value == a) return name;
  }
  throw UnsupportedError(fmt::format("layer '{}': ONNX recurrent ops cannot apply activation {} (snare writes tanh, "
                                     "sigmoid, relu, hard_sigmoid, softsign, softplus)",
                                     layer, ir::activation_name(a)));
}

std::optional<ir::Activation> recurrent_activation_from_onnx(const std::string& name) {
  for (const auto& [ir_value, onnx_name] : kActivations) {
    if (name == onnx_name) return ir_value;
  }
  return std::nullopt;
}

}  // namespace snare::io::onnx::detail
