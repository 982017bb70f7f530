// Small graphs of recurrent layers with seeded random weights (non-zero biases in both LibTorch vectors, so every
// bias layout matters) for the I/O, runtime and reduction tests: GRU with reset_after both ways and hard_sigmoid
// gates, LSTM with hard_sigmoid gates, SimpleRNN with tanh and relu, and Bidirectional LSTM / GRU / SimpleRNN in every merge mode, with
// return_sequences both ways. Input (3, 7): 3 features, 7 steps (different, so a transposed feed cannot pass).
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <string>
#include <vector>

#include "ir/graph.h"

namespace snare::testing {

class RecurrentNet {
 public:
  explicit RecurrentNet(std::string name) : gen_(at::detail::createCPUGenerator(17)) {
    g_.name = std::move(name);
    ir::Layer in;
    in.name = "input";
    in.kind = ir::LayerKind::kInput;
    in.input_shape = {3, 7};
    g_.layers.push_back(in);
  }

  /// Appends a recurrent layer reading the last layer; `bidirectional` with `merge`.
  RecurrentNet& rnn(const std::string& name, ir::LayerKind kind, int64_t units, bool sequences,
                    ir::Activation activation = ir::Activation::kTanh, bool reset_after = true,
                    ir::Activation gates = ir::Activation::kSigmoid, bool bidirectional = false,
                    ir::MergeMode merge = ir::MergeMode::kConcat) {
    ir::Layer l;
    l.name = name;
    l.kind = kind;
    l.units = units;
    l.return_sequences = sequences;
    l.activation = activation;
    l.recurrent_activation = gates;
    l.reset_after = reset_after;
    l.bidirectional = bidirectional;
    l.merge_mode = merge;
    const int64_t rows = ir::gate_count(kind) * units, in = last_shape().at(0);
    for (bool reverse : {false, true}) {
      if (reverse && !bidirectional) break;
      std::vector<std::string> names = ir::recurrent_weight_names(l, reverse);
      l.weights[names[0]] = rnd({rows, in}, 0.6);
      l.weights[names[1]] = rnd({rows, units}, 0.5);
      l.weights[names[2]] = rnd({rows}, 0.3);
      l.weights[names[3]] = rnd({rows}, 0.3);
    }
    return add(l);
  }
  RecurrentNet& bi(const std::string& name, ir::LayerKind kind, int64_t units, bool sequences, ir::MergeMode merge,
                   bool reset_after = false) {
    return rnn(name, kind, units, sequences, ir::Activation::kTanh, reset_after, ir::Activation::kSigmoid, true, merge);
  }
  RecurrentNet& dense(const std::string& name, int64_t units) {
    ir::Layer l;
    l.name = name;
    l.kind = ir::LayerKind::kDense;
    l.units = units;
    l.weights["weight"] = rnd({units, last_shape().at(0)}, 0.5);
    l.weights["bias"] = rnd({units}, 0.2);
    return add(l);
  }
  ir::Graph finish() {
    g_.infer_shapes();
    ir::verify(g_);
    return g_;
  }

 private:
  at::Tensor rnd(std::vector<int64_t> shape, double scale) {
    return at::randn(shape, gen_, at::TensorOptions(at::kFloat)) * scale;
  }
  const ir::Shape& last_shape() {
    g_.infer_shapes();
    return g_.layers.back().output_shape;
  }
  RecurrentNet& add(ir::Layer l) {
    l.inputs = {g_.layers.back().name};
    g_.layers.push_back(std::move(l));
    g_.infer_shapes();
    return *this;
  }

  ir::Graph g_;
  at::Generator gen_;
};

/// True when TensorFlow.js can load the graph's Keras form: its GRU has no reset_after=True.
inline bool tfjs_can_run(const ir::Graph& g) {
  for (const ir::Layer& l : g.layers) {
    if (l.kind == ir::LayerKind::kGRU && l.reset_after) return false;
  }
  return true;
}

/// Every graph: each ends in a Dense on the last step's output, so outputs are flat in every format.
inline std::vector<ir::Graph> recurrent_graphs() {
  using ir::Activation;
  using ir::LayerKind;
  using ir::MergeMode;
  std::vector<ir::Graph> out;
  out.push_back(RecurrentNet("gru_reset_after")
                    .rnn("gru_seq", LayerKind::kGRU, 5, true, Activation::kTanh, true)
                    .rnn("gru_last", LayerKind::kGRU, 4, false, Activation::kTanh, true)
                    .dense("out", 2)
                    .finish());
  out.push_back(RecurrentNet("gru_reset_before")
                    .rnn("gru_seq", LayerKind::kGRU, 5, true, Activation::kTanh, false)
                    .rnn("gru_hard", LayerKind::kGRU, 4, false, Activation::kTanh, false, Activation::kHardSigmoid)
                    .dense("out", 2)
                    .finish());
  out.push_back(RecurrentNet("simple_rnn")
                    .rnn("rnn_seq", LayerKind::kSimpleRNN, 5, true, Activation::kTanh)
                    .rnn("rnn_relu", LayerKind::kSimpleRNN, 4, false, Activation::kRelu)
                    .dense("out", 2)
                    .finish());
  for (MergeMode m : {MergeMode::kConcat, MergeMode::kSum, MergeMode::kMul, MergeMode::kAve}) {
    std::string mode = ir::merge_mode_name(m);
    out.push_back(RecurrentNet("bi_lstm_gru_" + mode)
                      .bi("bi_lstm", LayerKind::kLSTM, 4, true, m)
                      .bi("bi_gru", LayerKind::kGRU, 3, false, m)
                      .dense("out", 2)
                      .finish());
  }
  out.push_back(RecurrentNet("bi_gru_reset_after_rnn")
                    .bi("bi_gru", LayerKind::kGRU, 4, true, MergeMode::kConcat, true)
                    .bi("bi_rnn", LayerKind::kSimpleRNN, 3, false, MergeMode::kSum)
                    .dense("out", 2)
                    .finish());
  // Keras 2.3's LSTM default: hard_sigmoid gates (a step loop; LibTorch's LSTM kernel has sigmoid gates).
  out.push_back(RecurrentNet("lstm_hard_sigmoid")
                    .rnn("lstm_hard", LayerKind::kLSTM, 4, true, Activation::kTanh, true, Activation::kHardSigmoid)
                    .rnn("bi_lstm_hard", LayerKind::kLSTM, 3, false, Activation::kTanh, true, Activation::kHardSigmoid,
                         true, MergeMode::kAve)
                    .dense("out", 2)
                    .finish());
  out.push_back(RecurrentNet("bi_lstm_last_concat")
                    .bi("bi_lstm", LayerKind::kLSTM, 3, false, MergeMode::kConcat)
                    .dense("out", 2)
                    .finish());
  return out;
}

}  // namespace snare::testing
