// Low-rank factorisation by truncated SVD: Dense W[out,in] becomes Dense(rank, no bias) followed by
// Dense(out) with the original bias and activation; a KxK Conv becomes a KxK Conv(rank, no bias) with
// the original strides/padding followed by a 1x1 Conv(filters). The second layer keeps the original
// name (so consumers and Keras config stay attached); the first is named "<name>_lowrank".
#pragma once

#include <string>

#include "ir/graph.h"

namespace snare::reduce {

/// Largest rank that still reduces the layer's parameters (0 when none does).
int64_t max_useful_rank(const ir::Layer& layer);

/// Throws UsageError for layers that are not Dense/Conv, carry connection masks, or a rank outside
/// [1, max_useful_rank].
/// Why `factorize(graph, name, rank)` cannot be done ("" when it can).
std::string factorize_problem(const ir::Graph& graph, const std::string& name, int64_t rank);

ir::Graph factorize(const ir::Graph& graph, const std::string& layer, int64_t rank);

}  // namespace snare::reduce
