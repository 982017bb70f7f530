// snare::reduce — reductions as data. A ReductionPlan says which units of which coupled group stay,
// which connection masks to set, and which layers to factorise; apply() turns a graph and a plan into
// a new, physically smaller graph. Plans are cheap to build, print, compare and store in reports.
//
//   reduce::ReductionPlan p;
//   p.units.push_back({"conv2d_1", {0, 2, 5}});      // keep filters 0, 2, 5 of conv2d_1's group
//   ir::Graph smaller = reduce::apply(graph, p);     // verify() passes on the result
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace snare::reduce {

/// Keep only `keep` (sorted, unique, non-empty) of the units of the group `group` (its id or any of
/// its producers' names).
struct UnitRemoval {
  std::string group;
  std::vector<int64_t> keep;
};

/// Set the connection mask of `layer`'s `weight` (float 0/1 of the weight's shape).
struct MaskAssignment {
  std::string layer;
  std::string weight;
  at::Tensor mask;
};

/// Replace Dense `layer` by Dense(rank, no bias) -> Dense(units), or a KxK Conv by KxK Conv(rank) ->
/// 1x1 Conv(filters), from a truncated SVD of its weight.
struct Factorization {
  std::string layer;
  int64_t rank = 0;
};

struct ReductionPlan {
  std::vector<UnitRemoval> units;
  std::vector<MaskAssignment> masks;
  std::vector<Factorization> factorizations;
  /// Bias compensation: the mean of a layer's input per input channel (Dense column, Conv channel, recurrent
  /// feature), measured on data. Where a layer loses inputs (a removed unit) or weights (a mask) and its mean is
  /// here, their mean contribution moves into the layer's bias, so its output keeps its expected value (Dense,
  /// Conv with one group, the input weights of recurrent layers, each with a bias). Empty: no compensation.
  std::map<std::string, at::Tensor> input_means;

  bool empty() const { return units.empty() && masks.empty() && factorizations.empty(); }
  /// One line per item, e.g. "conv2d_1: keep 10 of 16 units".
  std::string describe(const ir::Graph& graph) const;
};

/// A plan applied, or why it could not be: an unknown layer or group, a group that is not prunable (the reason is
/// named: the network output, a Reshape, ...), keeping no unit, indices out of range, a mask of the wrong shape, a
/// rank that does not reduce parameters. An infeasible plan is an outcome (the search retires such candidates), not
/// an error.
struct Applied {
  ir::Graph graph;      ///< the reduced copy (unspecified when there is a problem)
  std::string problem;  ///< "" when the plan was applied
  bool ok() const { return problem.empty(); }
};

/// Applies `plan` to a copy of `graph` (units first, then masks, then factorisations) and verifies the result.
Applied try_apply(const ir::Graph& graph, const ReductionPlan& plan);

/// try_apply for plans a user gave: OptionError (field "apply(plan)") with the problem when it cannot be applied.
ir::Graph apply(const ir::Graph& graph, const ReductionPlan& plan);

}  // namespace snare::reduce
