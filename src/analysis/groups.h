// Coupled unit groups: which weights must shrink together when output units of a layer go.
//
// A group is the set of output units of one or more producers (Dense units, Conv filters, LSTM/GRU/SimpleRNN
// hidden units, unit u of both directions of a bidirectional one together; several producers when their outputs
// meet in an element-wise merge) together with every place those
// units reach: the next layer's input columns or channels, BatchNorm channels, the filters of a DepthwiseConv2D
// (whose `multiplier` output channels per input channel then carry the unit on), the Dense columns
// behind a Flatten (each unit owns its spatial positions in the model's flatten order), through
// pass-through layers (activations, pooling, dropout, padding, cropping, upsampling), Concatenate (at an offset),
// element-wise merges (Add, Multiply, ...: they couple their operands' producers), and a Reshape that only appends
// unit axes ([C] -> [C,1,1], a squeeze-and-excitation gate). Groups that reach the network output, or pass another
// Reshape, are marked not prunable with a reason.
//
//   for (const analysis::UnitGroup& g : analysis::unit_groups(graph)) if (g.prunable) ...
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace snare::analysis {

/// One place a group's units are read.
struct UnitUse {
  enum class Kind {
    kInputColumns,  ///< Dense weight columns / Conv weight input channels / recurrent weight_ih(_reverse) columns
    kBatchNorm,     ///< BatchNorm channels (all four vectors)
    kDepthwise,     ///< DepthwiseConv2D filters (weight and bias rows): positions are output channels c*M+m
    kSeparable,     ///< SeparableConv input channels: depthwise rows and pointwise input columns c*M+m
    kReshapeChannels,  ///< a Reshape [C] -> [C,1,...] (a squeeze-and-excitation gate): its target's channel count
  };
  std::string layer;
  Kind kind = Kind::kInputColumns;
  /// positions[u] = indices in this layer's input axis that carry unit u (one per unit before a
  /// Flatten; one per spatial position after it).
  std::vector<std::vector<int64_t>> positions;
};

struct UnitGroup {
  std::string id;                      ///< name of the first producer
  std::vector<std::string> producers;  ///< layers whose output units these are (several via Add)
  int64_t size = 0;                    ///< number of units
  std::vector<UnitUse> uses;
  bool prunable = true;
  std::string reason;  ///< why not prunable
};

/// Every group of the graph, in producer order. Requires nothing of the graph but verify().
std::vector<UnitGroup> unit_groups(const ir::Graph& graph);

/// The group containing `layer` as a producer; throws ModelError naming the layer when it has none.
const UnitGroup& group_of(const std::vector<UnitGroup>& groups, const std::string& layer);

}  // namespace snare::analysis
