// Keras recurrent layers (LSTM, GRU, SimpleRNN, and the Bidirectional wrapper around one of them): their weights
// between Keras' and the IR's layouts (layout.h has the per-direction conversions), and the Bidirectional config,
// which wraps the forward layer's config in "layer" (and, optionally, the backward one in "backward_layer").
// Internal to io/keras (config.cpp, reader.cpp, writer.cpp).
//
//   if (e.class_name == "Bidirectional") { std::string why = bidirectional_reason(e); ... }
//   l.weights = recurrent_from_keras(l, stored, in_features, "model.h5: layer 'bi' (Bidirectional)");
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "io/keras/config.h"

namespace snare::io::keras {

/// Keras class of a recurrent kind: "LSTM", "GRU", "SimpleRNN".
const char* recurrent_class(ir::LayerKind kind);
/// Keras' cell name, which Keras puts in weight paths: "lstm_cell", "gru_cell", "simple_rnn_cell".
const char* recurrent_cell(ir::LayerKind kind);

/// Names of a recurrent layer's Keras weights in file order: "kernel", "recurrent_kernel"[, "bias"]; bidirectional:
/// the same under "forward_layer/" and then "backward_layer/".
std::vector<std::string> recurrent_keras_names(const ir::Layer& layer);

/// The stored Keras weights (in recurrent_keras_names order) as IR tensors. Throws ModelError starting with `where`
/// that names the weight, its shape and the expected one.
std::map<std::string, at::Tensor> recurrent_from_keras(const ir::Layer& layer, const std::vector<at::Tensor>& stored,
                                                       int64_t in_features, const std::string& where);
/// The layer's weights in Keras layout and recurrent_keras_names order; `weight` gives an IR tensor by name (masked
/// as the writer wants it).
std::vector<at::Tensor> recurrent_to_keras(const ir::Layer& layer, const std::function<at::Tensor(const std::string&)>& weight);

/// A Bidirectional entry's wrapped (forward) layer as an entry of its own, with the wrapper's name and inputs.
LayerEntry wrapped_layer(const LayerEntry& bidirectional);
/// Why snare cannot read this Bidirectional entry ("" when it can): no wrapped layer, a wrapped class other than
/// LSTM/GRU/SimpleRNN, merge_mode None or unknown, a backward_layer that is not the forward layer run backwards,
/// or whatever makes the wrapped layer unsupported.
std::string bidirectional_reason(const LayerEntry& bidirectional);
/// The IR layer of a Bidirectional entry that passed bidirectional_reason(): the wrapped layer's, named after the
/// wrapper, with `bidirectional` and `merge_mode` set.
ir::Layer bidirectional_to_ir(const LayerEntry& bidirectional, const std::vector<ir::Shape>& input_shapes,
                              const std::string& file);

}  // namespace snare::io::keras
