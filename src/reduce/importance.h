// Importance criteria for the units of a coupled group; higher = more important. The weight criteria are computed
// here (graph only); the data criteria run the network (measure/unit_importance.h). One table:
//
// | criterion  | needs data | score of unit u                                                        |
// |------------|------------|------------------------------------------------------------------------|
// | l1         | no         | sum of |w| over the group's weights of u (producer rows, consumer columns)|
// | l2         | no         | sqrt of the sum of w^2 over the same weights (group L2, as Torch-Pruning)|
// | activation | yes        | mean |a| of u's outputs (after the layer's activation) on a data sample  |
// | apoz       | yes        | 1 - average percentage of zeros of u's outputs (Hu et al. 2016)        |
// | taylor     | yes        | mean over samples of |sum over positions of a * dLoss/da| (Molchanov 2017)|
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "analysis/groups.h"
#include "reduce/plan.h"

namespace snare::reduce {

enum class Criterion { kL1, kL2, kActivation, kApoz, kTaylor };

/// Every criterion, in the order of the table above (parsing, --help and docs list them from here).
const std::vector<Criterion>& all_criteria();
/// "l1, l2, activation, apoz, taylor"; with `data_only` the criteria that need data.
std::string criterion_names(bool data_only = false);
/// Parses a criterion name; throws OptionError (ReduceOptions::criterion).
Criterion criterion_from_name(const std::string& name);
const char* criterion_name(Criterion c);
bool needs_data(Criterion c);

/// One score per unit of `group` by a weight criterion (l1, l2); InternalError for the data criteria.
std::vector<double> weight_importance(const ir::Graph& graph, const analysis::UnitGroup& group, Criterion criterion);

/// Scores the units of a group (one per unit; higher = more important).
using UnitScorer = std::function<std::vector<double>(const analysis::UnitGroup&)>;

/// A plan keeping the `keep` most important units of the group containing `layer`, by `scorer`; equal scores keep
/// the lower index. OptionError (keep_most_important(layer) / (keep)) for an unknown or unprunable layer and a
/// `keep` outside [1, units].
ReductionPlan keep_most_important(const ir::Graph& graph, const std::string& layer, int64_t keep,
                                  const UnitScorer& scorer);

}  // namespace snare::reduce
