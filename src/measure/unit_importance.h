// snare::measure unit importance: every criterion of reduce/importance.h, the data criteria (activation, apoz,
// taylor) included, which run the network on a sample of data.
//
//   auto scores = measure::unit_importance(graph, group, reduce::Criterion::kTaylor, &sample);
#pragma once

#include <vector>

#include "analysis/groups.h"
#include "data/dataset.h"
#include "reduce/importance.h"

namespace snare::measure {

/// One score per unit of `group`. Data criteria use `sample` (a few hundred samples are enough) and throw
/// OptionError (DataOptions::spec) when it is null or empty.
std::vector<double> unit_importance(const ir::Graph& graph, const analysis::UnitGroup& group, reduce::Criterion criterion,
                                    const data::Split* sample = nullptr);

/// reduce::keep_most_important by `criterion` (on `sample` for a data criterion).
reduce::ReductionPlan keep_most_important(const ir::Graph& graph, const std::string& layer, int64_t keep,
                                          reduce::Criterion criterion, const data::Split* sample = nullptr);

}  // namespace snare::measure
