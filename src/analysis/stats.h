// snare::analysis — read-only measurements of a graph: parameters, non-zero parameters and MACs per
// layer and in total.
//
// Conventions (docs/analysis.md, also in `snare analyze --help`):
//  * params count every stored value, as Keras' summary does (BatchNorm: 4 per channel; LSTM:
//    4*(U*(in+U)+U) with one bias per gate; snare keeps two LibTorch bias vectors but counts one; the same for
//    SimpleRNN and GRU with reset_after=False; GRU with reset_after=True has two: 3*(U*(in+U)+2U)). Bidirectional
//    layers count both directions.
//  * MACs: one per multiply-add of Dense, Conv and recurrent layers (per time step and direction: G*U*(in+U),
//    G = 4 LSTM, 3 GRU, 1 SimpleRNN); pooling,
//    activations, BatchNorm, Add and padding count 0. FLOPs = 2 x MACs. MACs are structural:
//    masked (zero) connections still count, non-zeros show what connection pruning removed.
//
//   analysis::ModelStats s = analysis::analyze(graph);
//   fmt::print("{}", analysis::stats_table(s));
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace snare::analysis {

struct LayerStats {
  std::string name;
  std::string kind;
  ir::Shape output_shape;
  int64_t params = 0;
  int64_t nonzero_params = 0;
  int64_t macs = 0;
  double param_share = 0;  ///< params / total params
  double mac_share = 0;    ///< macs / total macs
};

struct ModelStats {
  std::vector<LayerStats> layers;
  int64_t params = 0;
  int64_t nonzero_params = 0;
  int64_t macs = 0;
  int64_t flops() const { return 2 * macs; }
};

/// Stats of every layer; infers shapes on a copy, so `graph` need not have them.
ModelStats analyze(const ir::Graph& graph);

/// MACs of one layer given its input shapes and its own output shape.
int64_t layer_macs(const ir::Layer& layer, const std::vector<ir::Shape>& input_shapes);
/// Parameters of one layer (Keras counting).
int64_t layer_params(const ir::Layer& layer);
int64_t layer_nonzero_params(const ir::Layer& layer);

/// A table like Keras' model summary.
std::string stats_table(const ModelStats& stats);
/// {"layers":[{name,kind,output_shape,params,nonzero_params,macs,param_share,mac_share}...],
///  "total":{"params","nonzero_params","macs","flops"}}
nlohmann::json stats_json(const ModelStats& stats);

}  // namespace snare::analysis
