#include "ir/kind_traits.h"

#include "common/error.h"

namespace snare::ir {

namespace {

constexpr ChannelFlow kUnits = ChannelFlow::kOwnUnits;
constexpr ChannelFlow kChannel = ChannelFlow::kPerChannel;
constexpr ChannelFlow kMerge = ChannelFlow::kMerge;
constexpr ChannelFlow kOwn = ChannelFlow::kOwnRule;

/// One row per kind; no `default:`, so a new kind without a row is a -Wswitch warning (an error in CI). A value outside
/// the enum gets a row with a null name, which ends the table.
KindTraits row(LayerKind k) {
  switch (k) {
    // {kind, name, spatial rank, weighted, channel flow}
    case LayerKind::kInput: return {k, "input", 0, false, kOwn};
    case LayerKind::kDense: return {k, "dense", 0, true, kUnits};
    case LayerKind::kConv1D: return {k, "conv1d", 1, true, kUnits};
    case LayerKind::kConv2D: return {k, "conv2d", 2, true, kUnits};
    case LayerKind::kDepthwiseConv2D: return {k, "depthwiseconv2d", 2, true, kOwn};
    case LayerKind::kMaxPool1D: return {k, "maxpool1d", 1, false, kChannel};
    case LayerKind::kMaxPool2D: return {k, "maxpool2d", 2, false, kChannel};
    case LayerKind::kAvgPool1D: return {k, "avgpool1d", 1, false, kChannel};
    case LayerKind::kAvgPool2D: return {k, "avgpool2d", 2, false, kChannel};
    case LayerKind::kGlobalAvgPool1D: return {k, "globalavgpool1d", 1, false, kChannel};
    case LayerKind::kGlobalAvgPool2D: return {k, "globalavgpool2d", 2, false, kChannel};
    case LayerKind::kGlobalMaxPool1D: return {k, "globalmaxpool1d", 1, false, kChannel};
    case LayerKind::kGlobalMaxPool2D: return {k, "globalmaxpool2d", 2, false, kChannel};
    case LayerKind::kFlatten: return {k, "flatten", 0, false, kOwn};
    case LayerKind::kReshape: return {k, "reshape", 0, false, kOwn};
    case LayerKind::kZeroPadding1D: return {k, "zeropadding1d", 1, false, kChannel};
    case LayerKind::kZeroPadding2D: return {k, "zeropadding2d", 2, false, kChannel};
    case LayerKind::kDropout: return {k, "dropout", 0, false, kChannel};
    case LayerKind::kBatchNorm: return {k, "batchnorm", 0, true, kChannel};
    case LayerKind::kActivation: return {k, "activation", 0, false, kChannel};
    case LayerKind::kAdd: return {k, "add", 0, false, kMerge};
    case LayerKind::kConcatenate: return {k, "concatenate", 0, false, kOwn};
    case LayerKind::kLSTM: return {k, "lstm", 0, true, kUnits};
    case LayerKind::kGRU: return {k, "gru", 0, true, kUnits};
    case LayerKind::kSimpleRNN: return {k, "simplernn", 0, true, kUnits};
    case LayerKind::kPermute: return {k, "permute", 0, false, kOwn};
    case LayerKind::kSubtract: return {k, "subtract", 0, false, kMerge};
    case LayerKind::kMultiply: return {k, "multiply", 0, false, kMerge};
    case LayerKind::kAverage: return {k, "average", 0, false, kMerge};
    case LayerKind::kMaximum: return {k, "maximum", 0, false, kMerge};
    case LayerKind::kMinimum: return {k, "minimum", 0, false, kMerge};
    case LayerKind::kCropping1D: return {k, "cropping1d", 1, false, kChannel};
    case LayerKind::kCropping2D: return {k, "cropping2d", 2, false, kChannel};
    case LayerKind::kUpSampling1D: return {k, "upsampling1d", 1, false, kChannel};
    case LayerKind::kUpSampling2D: return {k, "upsampling2d", 2, false, kChannel};
    case LayerKind::kSeparableConv1D: return {k, "separableconv1d", 1, true, kUnits};
    case LayerKind::kSeparableConv2D: return {k, "separableconv2d", 2, true, kUnits};
  }
  return {k, nullptr, 0, false, kOwn};
}

}  // namespace

const std::vector<KindTraits>& all_kind_traits() {
  static const std::vector<KindTraits> kTable = [] {
    std::vector<KindTraits> table;
    for (int i = 0;; ++i) {
      KindTraits t = row(static_cast<LayerKind>(i));
      if (t.name == nullptr) break;
      table.push_back(t);
    }
    return table;
  }();
  return kTable;
}

const KindTraits& traits(LayerKind kind) {
  const auto& table = all_kind_traits();
  const auto i = static_cast<size_t>(kind);
  if (i >= table.size()) throw InternalError("layer kind " + std::to_string(i) + " has no row in ir/kind_traits.cpp");
  return table[i];
}

}  // namespace snare::ir
