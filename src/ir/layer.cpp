#include "ir/layer.h"

#include "common/error.h"
#include "ir/kind_traits.h"

namespace snare::ir {

const char* kind_name(LayerKind kind) { return traits(kind).name; }

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

bool has_units(LayerKind kind) { return traits(kind).flow == ChannelFlow::kOwnUnits; }

bool is_merge(LayerKind kind) { return traits(kind).flow == ChannelFlow::kMerge; }

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
