// snare::measure input means: what bias compensation (reduce::ReductionPlan::input_means) needs, the mean of every
// weighted layer's input per input channel, measured on a sample of training data.
//
//   plan.input_means = measure::input_means(graph, sample);   // then reduce::apply(graph, plan)
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>

#include "data/dataset.h"
#include "ir/graph.h"

namespace snare::measure {

/// For every Dense, Conv1D/2D and recurrent layer: its input's mean over samples and positions (all axes but the
/// channel axis), a float [channels] tensor on the CPU. Empty for an empty sample.
std::map<std::string, at::Tensor> input_means(const ir::Graph& graph, const data::Split& sample);

}  // namespace snare::measure
