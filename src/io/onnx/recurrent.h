// Private to io/onnx: what the ONNX LSTM, GRU and RNN ops and the IR's recurrent layers share, in one place for the
// writer and the reader: op names, gate orders and the names of the activations ONNX lets a recurrent op use.
//
//   ONNX W [dirs, G*U, C], R [dirs, G*U, U], B [dirs, 2*G*U] = [Wb, Rb]; gate blocks LSTM i,o,f,c, GRU z,r,h, RNN one
//   (the IR's: LSTM i,f,g,o, GRU r,z,n). Y [L, dirs, N, U], Y_h [dirs, N, U]; direction forward or bidirectional.
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>
#include <string>

#include "ir/layer.h"

namespace snare::io::onnx::detail {

/// "LSTM", "GRU" or "RNN".
const char* recurrent_op(ir::LayerKind kind);
/// IR gate blocks (axis 0) in ONNX's order, and back.
at::Tensor gates_to_onnx(const at::Tensor& t, ir::LayerKind kind);
at::Tensor gates_from_onnx(const at::Tensor& t, ir::LayerKind kind);
/// ONNX's name of an activation a recurrent op can apply ("Tanh", "Sigmoid", "Relu", "HardSigmoid", "Softsign",
/// "Softplus"); throws UnsupportedError naming `layer` for the others.
std::string recurrent_activation_to_onnx(ir::Activation a, const std::string& layer);
/// Inverse; nullopt for names snare does not model.
std::optional<ir::Activation> recurrent_activation_from_onnx(const std::string& name);

}  // namespace snare::io::onnx::detail
