#include "ir/layer.h"

#include "common/error.h"

namespace snare::ir {

const char* kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::kInput: return "input";
    case LayerKind::kDense: return "dense";
    case LayerKind::kConv1D: return "conv1d";
    case LayerKind::kConv2D: return "conv2d";
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
  }
  return "?";
}

Activation activation_from_name(const std::string& name) {
  static const std::pair<const char*, Activation> kTable[] = {
      {"elu", Activation::kElu},         {"leaky_relu", Activation::kLeakyRelu},
      {"linear", Activation::kLinear},   {"relu", Activation::kRelu},
      {"selu", Activation::kSelu},       {"sigmoid", Activation::kSigmoid},
      {"softmax", Activation::kSoftmax}, {"tanh", Activation::kTanh},
  };
  for (const auto& [text, value] : kTable) {
    if (name == text) return value;
  }
  throw UnsupportedError("unsupported activation '" + name +
                         "' (supported: elu, leaky_relu, linear, relu, selu, sigmoid, softmax, tanh)");
}

bool has_units(LayerKind kind) {
  return kind == LayerKind::kDense || kind == LayerKind::kConv1D || kind == LayerKind::kConv2D ||
         kind == LayerKind::kLSTM;
}

}  // namespace snare::ir
