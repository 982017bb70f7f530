// Low-rank factorisation by truncated SVD: Dense W[out,in] becomes Dense(rank, no bias) followed by
// Dense(out) with the original bias and activation; a KxK Conv becomes a KxK Conv(rank, no bias) with
// the original strides/padding followed by a 1x1 Conv(filters). The second layer keeps the original
// name (so consumers and Keras config stay attached); the first is named "<name>_lowrank" and records the
// original name in Layer::factorized_from.
#pragma once

#include <string>

#include "ir/graph.h"

namespace snare::reduce {

/// Largest rank that still reduces the layer's parameters (0 when none does).
int64_t max_useful_rank(const ir::Layer& layer);

/// Why `factorize(graph, name, rank)` cannot be done ("" when it can): a layer that is not Dense/Conv, carries
/// connection masks, or a rank outside [1, max_useful_rank].
std::string factorize_problem(const ir::Graph& graph, const std::string& name, int64_t rank);

/// Throws OptionError (field "factorize(layer, rank)") with factorize_problem's text when it cannot be done.
ir::Graph factorize(const ir::Graph& graph, const std::string& layer, int64_t rank);

}  // namespace snare::reduce
