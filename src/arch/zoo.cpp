#include "arch/zoo.h"

#include <fmt/format.h>

#include "arch/builder.h"
#include "common/error.h"

namespace snare::arch {

using ir::Activation;
using ir::Padding;

const std::vector<ArchInfo>& architectures() {
  static const std::vector<ArchInfo> kArchs = {
      {"har-cnn", "Conv1D 64 k3, Conv1D 64 k3, Dropout 0.5, MaxPool 2, Dense 100, Dense 6 on 9x128 (411,650 params)", "har"},
      {"har-lstm", "LSTM 100, Dense 100, Dense 6 on 9x128 (54,706 params)", "har"},
      {"lenet-300-100", "MLP 784-300-100-10 (266,610 params)", "mnist"},
      {"lenet5", "Conv 6 5x5 same, MaxPool, Conv 16 5x5, MaxPool, Dense 120/84/10 (61,706 params)", "mnist"},
      {"lenet5-caffe", "Conv 20 5x5, MaxPool, Conv 50 5x5, MaxPool, Dense 500/10 (431,080 params)", "mnist"},
      {"mobilenet-mini",
       "MobileNet-style for 28x28: Conv 16, depthwise-separable blocks with BatchNorm and ReLU6, one inverted residual "
       "with Add, a depthwise multiplier of 2, global average pooling, Dense 10 (15,082 params)",
       "mnist"},
      {"wisdm-mlp", "MLP 43-128-64-6 on WISDM features (14,278 params)", "wisdm"},
  };
  return kArchs;
}

ir::Graph build(const std::string& name, uint64_t seed) {
  if (name == "lenet5") {
    GraphBuilder b(name, {1, 28, 28}, seed);
    b.conv2d(6, 5, Padding::kSame, Activation::kRelu).maxpool2d(2);
    b.conv2d(16, 5, Padding::kValid, Activation::kRelu).maxpool2d(2).flatten();
    b.dense(120, Activation::kRelu).dense(84, Activation::kRelu).dense(10, Activation::kSoftmax);
    return b.finish();
  }
  if (name == "lenet5-caffe") {
    GraphBuilder b(name, {1, 28, 28}, seed);
    b.conv2d(20, 5, Padding::kValid, Activation::kLinear).maxpool2d(2);
    b.conv2d(50, 5, Padding::kValid, Activation::kLinear).maxpool2d(2).flatten();
    b.dense(500, Activation::kRelu).dense(10, Activation::kSoftmax);
    return b.finish();
  }
  if (name == "lenet-300-100") {
    GraphBuilder b(name, {1, 28, 28}, seed);
    b.flatten().dense(300, Activation::kRelu).dense(100, Activation::kRelu).dense(10, Activation::kSoftmax);
    return b.finish();
  }
  if (name == "mobilenet-mini") {
    GraphBuilder b(name, {1, 28, 28}, seed);
    const Activation r6 = Activation::kRelu6;
    b.conv2d(16, 3, Padding::kSame, Activation::kLinear).batchnorm().activation(r6);
    // Depthwise-separable, stride 2: 28 -> 14.
    b.depthwise_conv2d(3, 1, 2, Padding::kSame, Activation::kLinear).batchnorm().activation(r6);
    b.conv2d(32, 1, Padding::kSame, Activation::kLinear).batchnorm();
    const std::string block_in = b.last();
    // Inverted residual (expand, depthwise, project; no activation after the projection), added to its input.
    b.conv2d(64, 1, Padding::kSame, Activation::kLinear).batchnorm().activation(r6);
    b.depthwise_conv2d(3, 1, 1, Padding::kSame, Activation::kLinear).batchnorm().activation(r6);
    b.conv2d(32, 1, Padding::kSame, Activation::kLinear).batchnorm().add_residual(block_in).activation(r6);
    // Depthwise with multiplier 2, stride 2: 14 -> 7.
    b.depthwise_conv2d(3, 2, 2, Padding::kSame, Activation::kLinear).batchnorm().activation(r6);
    b.conv2d(96, 1, Padding::kSame, Activation::kLinear).batchnorm().activation(r6);
    b.global_avgpool2d().dense(10, Activation::kSoftmax);
    return b.finish();
  }
  if (name == "har-cnn") {
    GraphBuilder b(name, {9, 128}, seed);
    b.conv1d(64, 3, Padding::kValid, Activation::kRelu).conv1d(64, 3, Padding::kValid, Activation::kRelu);
    b.dropout(0.5).maxpool1d(2).flatten();
    b.dense(100, Activation::kRelu).dense(6, Activation::kSoftmax);
    return b.finish();
  }
  if (name == "har-lstm") {
    GraphBuilder b(name, {9, 128}, seed);
    b.lstm(100, false).dense(100, Activation::kRelu).dense(6, Activation::kSoftmax);
    return b.finish();
  }
  if (name == "wisdm-mlp") {
    GraphBuilder b(name, {43}, seed);
    b.dense(128, Activation::kRelu).dense(64, Activation::kRelu).dense(6, Activation::kSoftmax);
    return b.finish();
  }
  std::string names;
  for (const ArchInfo& a : architectures()) names += std::string(names.empty() ? "" : ", ") + a.name;
  throw OptionError("ModelSource::arch", fmt::format("unknown architecture '{}' (known: {})", name, names));
}

}  // namespace snare::arch
