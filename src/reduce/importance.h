// Importance criteria for the units of a coupled group; higher = more important. One table:
//
// | criterion  | needs data | score of unit u                                                        |
// |------------|------------|------------------------------------------------------------------------|
// | l1         | no         | sum of |w| over the group's weights of u (producer rows, consumer columns)|
// | l2         | no         | sqrt of the sum of w^2 over the same weights (group L2, as Torch-Pruning)|
// | activation | yes        | mean |a| of u's outputs (after the layer's activation) on a data sample  |
// | apoz       | yes        | 1 - average percentage of zeros of u's outputs (Hu et al. 2016)        |
// | taylor     | yes        | mean over samples of |sum over positions of a * dLoss/da| (Molchanov 2017)|
#pragma once

#include <string>
#include <vector>

#include "analysis/groups.h"
#include "data/dataset.h"
#include "reduce/plan.h"

namespace snare::reduce {

enum class Criterion { kL1, kL2, kActivation, kApoz, kTaylor };

/// Parses a criterion name; throws UsageError naming `flag`.
Criterion criterion_from_name(const std::string& name, const std::string& flag = "--criterion");
const char* criterion_name(Criterion c);
bool needs_data(Criterion c);

/// One score per unit of `group`. Data criteria use `sample` (a few hundred samples are enough) and
/// throw UsageError when it is null.
std::vector<double> unit_importance(const ir::Graph& graph, const analysis::UnitGroup& group, Criterion criterion,
                                    const data::Split* sample = nullptr);

/// A plan keeping the `keep` most important units of the group containing `layer`.
ReductionPlan keep_most_important(const ir::Graph& graph, const std::string& layer, int64_t keep, Criterion criterion,
                                  const data::Split* sample = nullptr);

}  // namespace snare::reduce
