// Connection pruning by weight magnitude: plans masks that zero the smallest weights, per layer or
// with one global threshold. Biases and BatchNorm parameters are never masked.
#pragma once

#include <string>
#include <vector>

#include "reduce/plan.h"

namespace snare::reduce {

/// The maskable weights of a graph as (layer, weight) pairs: Dense/Conv "weight", LSTM/GRU/SimpleRNN
/// "weight_ih"/"weight_hh" (and their "_reverse" twins when bidirectional).
std::vector<std::pair<std::string, std::string>> maskable_weights(const ir::Graph& graph);

/// Masks so that each selected weight (or, with `global`, all of them together) is `sparsity` zero.
/// Already-masked weights count as pruned. `layers` empty = every maskable layer. Throws OptionError
/// for sparsity outside [0,1) or unknown / unmaskable layers.
ReductionPlan magnitude_plan(const ir::Graph& graph, double sparsity, const std::vector<std::string>& layers = {},
                             bool global = false);

}  // namespace snare::reduce
