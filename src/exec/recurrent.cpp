// LibTorch lowering of recurrent layers. LibTorch's fused kernels run what they compute exactly as the IR defines it
// (LSTM and GRU with sigmoid gates, GRU with reset_after and a tanh cell; SimpleRNN with tanh or relu); everything
// else (GRU with reset_after=false, which LibTorch's GRU does not compute, hard_sigmoid gates, other cell
// activations) runs as an
// explicit loop over time steps. A bidirectional layer runs its backward direction on the time-reversed sequence and
// flips that output back before merging, as Keras' Bidirectional does.
#include <ATen/ATen.h>

#include "common/error.h"
#include "exec/lowering.h"

namespace snare::exec::detail {

using ir::LayerKind;

namespace {

struct Direction {
  at::Tensor weight_ih, weight_hh, bias_ih, bias_hh;  ///< biases undefined without use_bias
};

Direction direction_weights(const ir::Layer& l, bool reverse,
                            const std::function<const at::Tensor&(const std::string&)>& weight) {
  std::vector<std::string> names = ir::recurrent_weight_names(l, reverse);
  Direction d{weight(names[0]), weight(names[1]), at::Tensor(), at::Tensor()};
  if (l.use_bias) {
    d.bias_ih = weight(names[2]);
    d.bias_hh = weight(names[3]);
  }
  return d;
}

std::vector<at::Tensor> flat_params(const Direction& d) {
  std::vector<at::Tensor> p{d.weight_ih, d.weight_hh};
  if (d.bias_ih.defined()) {
    p.push_back(d.bias_ih);
    p.push_back(d.bias_hh);
  }
  return p;
}

bool fused_kernel_computes(const ir::Layer& l) {
  switch (l.kind) {
    case LayerKind::kLSTM: return l.recurrent_activation == ir::Activation::kSigmoid;
    case LayerKind::kGRU:
      return l.reset_after && l.activation == ir::Activation::kTanh && l.recurrent_activation == ir::Activation::kSigmoid;
    case LayerKind::kSimpleRNN: return l.activation == ir::Activation::kTanh || l.activation == ir::Activation::kRelu;
    default: return false;
  }
}

/// One direction with LibTorch's kernels: seq [N, L, C] -> [N, L, U].
at::Tensor fused(const at::Tensor& seq, const ir::Layer& l, const Direction& d, bool training) {
  at::Tensor h0 = at::zeros({1, seq.size(0), l.units}, seq.options());
  std::vector<at::Tensor> params = flat_params(d);
  const bool bias = l.use_bias;
  switch (l.kind) {
    case LayerKind::kLSTM:
      return std::get<0>(at::lstm(seq, {h0, h0}, params, bias, 1, 0.0, training, false, /*batch_first=*/true));
    case LayerKind::kGRU: return std::get<0>(at::gru(seq, h0, params, bias, 1, 0.0, training, false, true));
    case LayerKind::kSimpleRNN:
      if (l.activation == ir::Activation::kRelu) return std::get<0>(at::rnn_relu(seq, h0, params, bias, 1, 0.0, training, false, true));
      return std::get<0>(at::rnn_tanh(seq, h0, params, bias, 1, 0.0, training, false, true));
    default: throw InternalError("exec: fused recurrent kernel for a non-recurrent layer");
  }
}

/// One direction step by step (see the header comment of ir/layer.h for the formulas).
at::Tensor stepped(const at::Tensor& seq, const ir::Layer& l, const Direction& d) {
  const int64_t u = l.units;
  at::Tensor input_part = at::linear(seq, d.weight_ih, d.bias_ih);  // [N, L, G*U]: no time dependence
  at::Tensor h = at::zeros({seq.size(0), u}, seq.options());
  at::Tensor c = h;  // LSTM cell state
  std::vector<at::Tensor> outputs;
  outputs.reserve(static_cast<size_t>(seq.size(1)));
  for (int64_t t = 0; t < seq.size(1); ++t) {
    at::Tensor xi = input_part.select(1, t);
    if (l.kind == LayerKind::kSimpleRNN) {
      h = activate(xi + at::linear(h, d.weight_hh, d.bias_hh), l.activation, l.alpha);
    } else if (l.kind == LayerKind::kGRU) {
      auto gates_x = xi.chunk(3, 1);  // r, z, n
      auto rows = [&](const at::Tensor& t_, int64_t from, int64_t n) { return t_.defined() ? t_.narrow(0, from, n) : at::Tensor(); };
      at::Tensor rz_h = at::linear(h, d.weight_hh.narrow(0, 0, 2 * u), rows(d.bias_hh, 0, 2 * u));
      auto gates_h = rz_h.chunk(2, 1);
      at::Tensor r = activate(gates_x[0] + gates_h[0], l.recurrent_activation, 0.0);
      at::Tensor z = activate(gates_x[1] + gates_h[1], l.recurrent_activation, 0.0);
      at::Tensor w_hn = d.weight_hh.narrow(0, 2 * u, u);
      at::Tensor b_hn = rows(d.bias_hh, 2 * u, u);
      at::Tensor recurrent_n = l.reset_after ? r * at::linear(h, w_hn, b_hn) : at::linear(r * h, w_hn, b_hn);
      at::Tensor n = activate(gates_x[2] + recurrent_n, l.activation, l.alpha);
      h = (1 - z) * n + z * h;
    } else {
      // LSTM gates i, f, g, o; the cell activation is tanh (Keras' LSTM activation is always tanh here).
      auto gates = (xi + at::linear(h, d.weight_hh, d.bias_hh)).chunk(4, 1);
      at::Tensor i = activate(gates[0], l.recurrent_activation, 0.0);
      at::Tensor f = activate(gates[1], l.recurrent_activation, 0.0);
      at::Tensor o = activate(gates[3], l.recurrent_activation, 0.0);
      c = f * c + i * at::tanh(gates[2]);
      h = o * at::tanh(c);
    }
    outputs.push_back(h);
  }
  return at::stack(outputs, 1);
}

at::Tensor run_direction(const at::Tensor& seq, const ir::Layer& l, const Direction& d, bool training) {
  return fused_kernel_computes(l) ? fused(seq, l, d, training) : stepped(seq, l, d);
}

at::Tensor merge(const at::Tensor& a, const at::Tensor& b, ir::MergeMode mode) {
  switch (mode) {
    case ir::MergeMode::kConcat: return at::cat({a, b}, -1);
    case ir::MergeMode::kSum: return a + b;
    case ir::MergeMode::kMul: return a * b;
    case ir::MergeMode::kAve: return (a + b) * 0.5;
  }
  throw InternalError("exec: unknown merge mode");
}

}  // namespace

at::Tensor recurrent(const at::Tensor& x, const ir::Layer& l, const std::function<const at::Tensor&(const std::string&)>& weight,
                     bool training) {
  at::Tensor seq = x.transpose(1, 2);  // [N,C,L] -> [N,L,C]
  at::Tensor y = run_direction(seq, l, direction_weights(l, false, weight), training);  // [N,L,U]
  if (l.bidirectional) {
    at::Tensor backward = run_direction(seq.flip({1}), l, direction_weights(l, true, weight), training);
    if (l.return_sequences) {
      return merge(y, backward.flip({1}), l.merge_mode).transpose(1, 2);
    }
    const int64_t last = seq.size(1) - 1;
    return merge(y.select(1, last), backward.select(1, last), l.merge_mode);
  }
  if (l.return_sequences) return y.transpose(1, 2);
  return y.select(1, y.size(1) - 1);
}

}  // namespace snare::exec::detail
