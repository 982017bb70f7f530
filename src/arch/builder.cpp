#include "arch/builder.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

namespace snare::arch {

using ir::LayerKind;

GraphBuilder::GraphBuilder(std::string name, ir::Shape input_shape, uint64_t seed)
    : generator_(at::detail::createCPUGenerator(seed)) {
  graph_.name = std::move(name);
  ir::Layer in;
  in.name = "input";
  in.kind = LayerKind::kInput;
  in.input_shape = std::move(input_shape);
  graph_.layers.push_back(in);
}

ir::Layer& GraphBuilder::add(LayerKind kind, const std::string& keras_base) {
  // Keras 2 naming: the first layer of a kind has the bare name, later ones _1, _2, ...
  int n = name_counts_[keras_base]++;
  ir::Layer l;
  l.kind = kind;
  l.name = n == 0 ? keras_base : keras_base + "_" + std::to_string(n);
  l.inputs = {next_input_.empty() ? graph_.layers.back().name : next_input_};
  next_input_.clear();
  graph_.layers.push_back(l);
  return graph_.layers.back();
}

const ir::Shape& GraphBuilder::current_shape() {
  graph_.infer_shapes();
  return next_input_.empty() ? graph_.layers.back().output_shape : graph_.layer(next_input_).output_shape;
}

at::Tensor GraphBuilder::glorot(std::vector<int64_t> shape, int64_t fan_in, int64_t fan_out) {
  double limit = std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return at::rand(shape, generator_, at::TensorOptions(at::kFloat)) * (2 * limit) - limit;
}

GraphBuilder& GraphBuilder::dense(int64_t units, ir::Activation activation) {
  int64_t in = current_shape().at(0);
  ir::Layer& l = add(LayerKind::kDense, "dense");
  l.units = units;
  l.activation = activation;
  l.weights["weight"] = glorot({units, in}, in, units);
  l.weights["bias"] = at::zeros({units}, at::kFloat);
  return *this;
}

GraphBuilder& GraphBuilder::conv1d(int64_t filters, int64_t kernel, ir::Padding padding, ir::Activation activation) {
  int64_t in = current_shape().at(0);
  ir::Layer& l = add(LayerKind::kConv1D, "conv1d");
  l.units = filters;
  l.kernel = {kernel};
  l.strides = {1};
  l.dilation = {1};
  l.padding = padding;
  l.activation = activation;
  l.weights["weight"] = glorot({filters, in, kernel}, in * kernel, filters * kernel);
  l.weights["bias"] = at::zeros({filters}, at::kFloat);
  return *this;
}

GraphBuilder& GraphBuilder::conv2d(int64_t filters, int64_t kernel, ir::Padding padding, ir::Activation activation) {
  int64_t in = current_shape().at(0);
  ir::Layer& l = add(LayerKind::kConv2D, "conv2d");
  l.units = filters;
  l.kernel = {kernel, kernel};
  l.strides = {1, 1};
  l.dilation = {1, 1};
  l.padding = padding;
  l.activation = activation;
  l.weights["weight"] = glorot({filters, in, kernel, kernel}, in * kernel * kernel, filters * kernel * kernel);
  l.weights["bias"] = at::zeros({filters}, at::kFloat);
  return *this;
}

GraphBuilder& GraphBuilder::maxpool1d(int64_t pool) {
  ir::Layer& l = add(LayerKind::kMaxPool1D, "max_pooling1d");
  l.kernel = l.strides = {pool};
  return *this;
}

GraphBuilder& GraphBuilder::maxpool2d(int64_t pool) {
  ir::Layer& l = add(LayerKind::kMaxPool2D, "max_pooling2d");
  l.kernel = l.strides = {pool, pool};
  return *this;
}

GraphBuilder& GraphBuilder::avgpool2d(int64_t pool) {
  ir::Layer& l = add(LayerKind::kAvgPool2D, "average_pooling2d");
  l.kernel = l.strides = {pool, pool};
  return *this;
}

GraphBuilder& GraphBuilder::dropout(double rate) {
  add(LayerKind::kDropout, "dropout").rate = rate;
  return *this;
}

GraphBuilder& GraphBuilder::flatten() {
  add(LayerKind::kFlatten, "flatten").channels_last = true;
  return *this;
}

GraphBuilder& GraphBuilder::lstm(int64_t units, bool return_sequences) {
  int64_t in = current_shape().at(0);
  ir::Layer& l = add(LayerKind::kLSTM, "lstm");
  l.units = units;
  l.return_sequences = return_sequences;
  l.activation = ir::Activation::kTanh;
  l.weights["weight_ih"] = glorot({4 * units, in}, in, 4 * units);
  l.weights["weight_hh"] = glorot({4 * units, units}, units, 4 * units);
  // Keras' unit_forget_bias: the forget gate (second quarter) starts at 1.
  at::Tensor b = at::zeros({4 * units}, at::kFloat);
  b.narrow(0, units, units).fill_(1.0);
  l.weights["bias_ih"] = b;
  l.weights["bias_hh"] = at::zeros({4 * units}, at::kFloat);
  return *this;
}

GraphBuilder& GraphBuilder::batchnorm() {
  int64_t c = current_shape().at(0);
  ir::Layer& l = add(LayerKind::kBatchNorm, "batch_normalization");
  l.weights["weight"] = at::ones({c}, at::kFloat);
  l.weights["bias"] = at::zeros({c}, at::kFloat);
  l.weights["running_mean"] = at::zeros({c}, at::kFloat);
  l.weights["running_var"] = at::ones({c}, at::kFloat);
  return *this;
}

GraphBuilder& GraphBuilder::depthwise_conv2d(int64_t kernel, int64_t multiplier, int64_t stride, ir::Padding padding,
                                             ir::Activation activation) {
  int64_t in = current_shape().at(0);
  ir::Layer& l = add(LayerKind::kDepthwiseConv2D, "depthwise_conv2d");
  l.units = in * multiplier;
  l.multiplier = multiplier;
  l.kernel = {kernel, kernel};
  l.strides = {stride, stride};
  l.dilation = {1, 1};
  l.padding = padding;
  l.activation = activation;
  // Keras' glorot_uniform for a depthwise kernel [k, k, C, M]: fan_in = k*k*M... as Keras computes it.
  l.weights["weight"] = glorot({in * multiplier, 1, kernel, kernel}, kernel * kernel * in, kernel * kernel * multiplier);
  l.weights["bias"] = at::zeros({in * multiplier}, at::kFloat);
  return *this;
}

GraphBuilder& GraphBuilder::separable_conv(int64_t filters, int64_t kernel, int64_t multiplier, int64_t stride,
                                           ir::Padding padding, ir::Activation activation) {
  const ir::Shape in_shape = current_shape();
  const size_t dims = in_shape.size() - 1;
  const int64_t in = in_shape.at(0), depth = in * multiplier, window = dims == 1 ? kernel : kernel * kernel;
  ir::Layer& l = add(dims == 1 ? LayerKind::kSeparableConv1D : LayerKind::kSeparableConv2D,
                     dims == 1 ? "separable_conv1d" : "separable_conv2d");
  l.units = filters;
  l.multiplier = multiplier;
  l.kernel = std::vector<int64_t>(dims, kernel);
  l.strides = std::vector<int64_t>(dims, stride);
  l.dilation = std::vector<int64_t>(dims, 1);
  l.padding = padding;
  l.activation = activation;
  std::vector<int64_t> dw{depth, 1}, pw{filters, depth};
  dw.insert(dw.end(), dims, kernel);
  pw.insert(pw.end(), dims, 1);
  l.weights["depthwise"] = glorot(dw, window * in, window * multiplier);
  l.weights["weight"] = glorot(pw, depth, filters);
  l.weights["bias"] = at::zeros({filters}, at::kFloat);
  return *this;
}

GraphBuilder& GraphBuilder::activation(ir::Activation activation) {
  ir::Layer& l = add(LayerKind::kActivation, "activation");
  l.activation = activation;
  return *this;
}

GraphBuilder& GraphBuilder::global_avgpool2d(bool keepdims) {
  add(LayerKind::kGlobalAvgPool2D, "global_average_pooling2d").keepdims = keepdims;
  return *this;
}

GraphBuilder& GraphBuilder::global_maxpool1d(bool keepdims) {
  add(LayerKind::kGlobalMaxPool1D, "global_max_pooling1d").keepdims = keepdims;
  return *this;
}

GraphBuilder& GraphBuilder::reshape(ir::Shape target) {
  ir::Layer& l = add(LayerKind::kReshape, "reshape");
  l.target_shape = std::move(target);
  l.channels_last = true;
  return *this;
}

GraphBuilder& GraphBuilder::cropping(std::vector<int64_t> pads) {
  const bool one_d = pads.size() == 2;
  add(one_d ? LayerKind::kCropping1D : LayerKind::kCropping2D, one_d ? "cropping1d" : "cropping2d").pads =
      std::move(pads);
  return *this;
}

GraphBuilder& GraphBuilder::upsampling(std::vector<int64_t> scale) {
  const bool one_d = scale.size() == 1;
  add(one_d ? LayerKind::kUpSampling1D : LayerKind::kUpSampling2D, one_d ? "up_sampling1d" : "up_sampling2d").scale =
      std::move(scale);
  return *this;
}

GraphBuilder& GraphBuilder::from(const std::string& layer) {
  graph_.layer(layer);  // throws ModelError when there is no such layer
  next_input_ = layer;
  return *this;
}

GraphBuilder& GraphBuilder::merge(LayerKind kind, std::vector<std::string> operands) {
  std::string base = ir::kind_name(kind);
  ir::Layer& l = add(kind, base);
  l.inputs = std::move(operands);
  return *this;
}

GraphBuilder& GraphBuilder::add_residual(const std::string& other) {
  const std::string from = last();
  ir::Layer& l = add(LayerKind::kAdd, "add");
  l.inputs = {other, from};
  return *this;
}

ir::Graph GraphBuilder::finish() {
  graph_.infer_shapes();
  ir::verify(graph_);
  return graph_;
}

}  // namespace snare::arch
