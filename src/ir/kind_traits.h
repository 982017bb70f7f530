// snare::ir kind traits: one row per LayerKind with the facts in which kinds differ only in data (name, spatial
// rank, whether it has weights, how its channels relate to its input's), so that readers, writers, statistics and
// the unit-group analysis ask the table instead of each listing the weightless and pass-through kinds again.
// Behaviour that really differs per kind (shape rules, lowering, file formats) stays in `switch` statements.
//
//   if (!ir::traits(layer.kind).weighted) return {};       // no weights to read or write
//   if (ir::traits(l.kind).flow == ir::ChannelFlow::kPerChannel) ...  // channel c out comes from channel c in
#pragma once

#include "ir/layer.h"

#include <vector>

namespace snare::ir {

/// How a kind's output channels relate to its input's (what analysis/groups follows).
enum class ChannelFlow {
  kOwnUnits,    ///< computes its own output units from all input channels (Dense, Conv, SeparableConv, recurrent)
  kPerChannel,  ///< output channel c depends on input channel c alone (pools, padding, cropping, upsampling, Dropout,
                ///< BatchNorm, Activation; a softmax Activation mixes channels: the group analysis checks that)
  kMerge,       ///< element-wise merge: channel c of every operand meets channel c of the others
  kOwnRule,     ///< needs its own rule (Input, Flatten, Reshape, Concatenate, Permute, DepthwiseConv2D)
};

struct KindTraits {
  LayerKind kind;
  const char* name;   ///< stable lower-case name (dumps, reports, messages)
  int spatial_rank;   ///< spatial axes of its window, padding or scale attributes (1 or 2); 0 without them
  bool weighted;      ///< carries weight tensors
  ChannelFlow flow;
};

/// The row of `kind`.
const KindTraits& traits(LayerKind kind);
/// Every row, in LayerKind order.
const std::vector<KindTraits>& all_kind_traits();

}  // namespace snare::ir
