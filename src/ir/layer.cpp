#include "ir/layer.h"

#include "common/error.h"

namespace snare::ir {

const char* kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::kInput: return "input";
    case LayerKind::kDense: return "dense";
    case LayerKind::kConv1D: return "conv1d";
    case LayerKind::kConv2D: return "conv2d";
    case LayerKind::kDepthwiseConv2D: return "depthwiseconv2d";
    case LayerKind::kMaxPool1D: return "maxpool1d";
    case LayerKind::kMaxPool2D: return "maxpool2d";
    case LayerKind::kAvgPool1D: return "avgpool1d";
    case LayerKind::kAvgPool2D: return "avgpool2d";
    case LayerKind::kGlobalAvgPool1D: return "globalavgpool1d";
    case LayerKind::kGlobalAvgPool2D: return "globalavgpool2d";
    case LayerKind::kGlobalMaxPool1D: return "globalmaxpool1d";
    case LayerKind::kGlobalMaxPool2D: return "globalmaxpool2d";
    case LayerKind::kFlatten: return "flatten";
    case LayerKind::kReshape: return "reshape";
    case LayerKind::kZeroPadding1D: return "zeropadding1d";
    case LayerKind::kZeroPadding2D: return "zeropadding2d";
    case LayerKind::kDropout: return "dropout";
    case LayerKind::kBatchNorm: return "batchnorm";
    case LayerKind::kActivation: return "activation";
    case LayerKind::kAdd: return "add";
    case LayerKind::kConcatenate: return "concatenate";
    case LayerKind::kLSTM: return "lstm";
    case LayerKind::kGRU: return "gru";
    case LayerKind::kSimpleRNN: return "simplernn";
    case LayerKind::kPermute: return "permute";
    case LayerKind::kSubtract: return "subtract";
    case LayerKind::kMultiply: return "multiply";
    case LayerKind::kAverage: return "average";
    case LayerKind::kMaximum: return "maximum";
    case LayerKind::kMinimum: return "minimum";
    case LayerKind::kCropping1D: return "cropping1d";
    case LayerKind::kCropping2D: return "cropping2d";
    case LayerKind::kUpSampling1D: return "upsampling1d";
    case LayerKind::kUpSampling2D: return "upsampling2d";
    case LayerKind::kSeparableConv1D: return "separableconv1d";
    case LayerKind::kSeparableConv2D: return "separableconv2d";
  }
  return "?";
}

const char* activation_name(Activation activation) {
  switch (activation) {
    case Activation::kLinear: return "linear";
    case Activation::kRelu: return "relu";
    case Activation::kTanh: return "tanh";
    case Activation::kSigmoid: return "sigmoid";
    case Activation::kSoftmax: return "softmax";
    case Activation::kElu: return "elu";
    case Activation::kSelu: return "selu";
    case Activation::kLeakyRelu: return "leaky_relu";
    case Activation::kRelu6: return "relu6";
    case Activation::kSwish: return "swish";
    case Activation::kHardSwish: return "hard_swish";
    case Activation::kGelu: return "gelu";
    case Activation::kSoftplus: return "softplus";
    case Activation::kSoftsign: return "softsign";
    case Activation::kExponential: return "exponential";
    case Activation::kHardSigmoid: return "hard_sigmoid";
  }
  return "?";
}

const char* merge_mode_name(MergeMode mode) {
  switch (mode) {
    case MergeMode::kConcat: return "concat";
    case MergeMode::kSum: return "sum";
    case MergeMode::kMul: return "mul";
    case MergeMode::kAve: return "ave";
  }
  return "?";
}

MergeMode merge_mode_from_name(const std::string& name) {
  for (MergeMode m : {MergeMode::kConcat, MergeMode::kSum, MergeMode::kMul, MergeMode::kAve}) {
    if (name == merge_mode_name(m)) return m;
  }
  throw UnsupportedError("unsupported merge_mode '" + name + "' (supported: concat, sum, mul, ave)");
}

Activation activation_from_name(const std::string& name) {
  // Keras spellings; silu is Keras 3's name for swish.
  static const std::pair<const char*, Activation> kTable[] = {
      {"elu", Activation::kElu},           {"exponential", Activation::kExponential},
      {"gelu", Activation::kGelu},         {"hard_sigmoid", Activation::kHardSigmoid},
      {"hard_swish", Activation::kHardSwish},
      {"leaky_relu", Activation::kLeakyRelu}, {"linear", Activation::kLinear},
      {"relu", Activation::kRelu},         {"relu6", Activation::kRelu6},
      {"selu", Activation::kSelu},         {"sigmoid", Activation::kSigmoid},
      {"silu", Activation::kSwish},        {"softmax", Activation::kSoftmax},
      {"softplus", Activation::kSoftplus}, {"softsign", Activation::kSoftsign},
      {"swish", Activation::kSwish},       {"tanh", Activation::kTanh},
  };
  std::string names;
  for (const auto& [text, value] : kTable) {
    if (name == text) return value;
    names += std::string(names.empty() ? "" : ", ") + text;
  }
  throw UnsupportedError("unsupported activation '" + name + "' (supported: " + names + ")");
}

bool has_units(LayerKind kind) {
  return kind == LayerKind::kDense || kind == LayerKind::kConv1D || kind == LayerKind::kConv2D ||
         kind == LayerKind::kSeparableConv1D || kind == LayerKind::kSeparableConv2D || is_recurrent(kind);
}

bool is_merge(LayerKind kind) {
  return kind == LayerKind::kAdd || kind == LayerKind::kSubtract || kind == LayerKind::kMultiply ||
         kind == LayerKind::kAverage || kind == LayerKind::kMaximum || kind == LayerKind::kMinimum;
}

bool is_recurrent(LayerKind kind) {
  return kind == LayerKind::kLSTM || kind == LayerKind::kGRU || kind == LayerKind::kSimpleRNN;
}

int64_t gate_count(LayerKind kind) {
  switch (kind) {
    case LayerKind::kLSTM: return 4;
    case LayerKind::kGRU: return 3;
    case LayerKind::kSimpleRNN: return 1;
    default: return 0;
  }
}

int64_t recurrent_output_units(const Layer& l) {
  return l.bidirectional && l.merge_mode == MergeMode::kConcat ? 2 * l.units : l.units;
}

std::vector<std::string> recurrent_weight_names(const Layer& l, bool reverse) {
  std::vector<std::string> names{"weight_ih", "weight_hh"};
  if (l.use_bias) {
    names.push_back("bias_ih");
    names.push_back("bias_hh");
  }
  if (reverse) {
    for (std::string& n : names) n += "_reverse";
  }
  return names;
}

}  // namespace snare::ir
