// GraphBuilder: builds a sequential ir::Graph in code, Keras-style, with Glorot-uniform weights and
// zero biases (Keras' defaults), named as Keras names layers (conv2d, conv2d_1, ...).
//
//   arch::GraphBuilder b("lenet5", {1, 28, 28}, /*seed=*/1);
//   b.conv2d(6, 5, ir::Padding::kSame, ir::Activation::kRelu).maxpool2d(2).flatten().dense(10, ir::Activation::kSoftmax);
//   ir::Graph g = b.finish();
#pragma once

#include <ATen/core/Generator.h>

#include <map>
#include <string>

#include "ir/graph.h"

namespace snare::arch {

class GraphBuilder {
 public:
  GraphBuilder(std::string name, ir::Shape input_shape, uint64_t seed);

  GraphBuilder& dense(int64_t units, ir::Activation activation);
  GraphBuilder& conv1d(int64_t filters, int64_t kernel, ir::Padding padding, ir::Activation activation);
  GraphBuilder& conv2d(int64_t filters, int64_t kernel, ir::Padding padding, ir::Activation activation);
  GraphBuilder& maxpool1d(int64_t pool);
  GraphBuilder& maxpool2d(int64_t pool);
  GraphBuilder& avgpool2d(int64_t pool);
  GraphBuilder& dropout(double rate);
  /// Flatten in Keras' channels_last element order.
  GraphBuilder& flatten();
  GraphBuilder& lstm(int64_t units, bool return_sequences);
  GraphBuilder& batchnorm();
  /// DepthwiseConv2D: one kernel x kernel filter per input channel, `multiplier` of them, with stride `stride`.
  GraphBuilder& depthwise_conv2d(int64_t kernel, int64_t multiplier, int64_t stride, ir::Padding padding,
                                 ir::Activation activation);
  /// SeparableConv1D/2D (by the input's rank): depthwise kernel x kernel (x `multiplier`), stride `stride`, then
  /// pointwise to `filters`.
  GraphBuilder& separable_conv(int64_t filters, int64_t kernel, int64_t multiplier, int64_t stride,
                               ir::Padding padding, ir::Activation activation);
  GraphBuilder& activation(ir::Activation activation);
  GraphBuilder& global_avgpool2d(bool keepdims = false);
  GraphBuilder& global_maxpool1d(bool keepdims = false);
  /// Reshape to `target` (channels-first) in Keras' channels_last element order.
  GraphBuilder& reshape(ir::Shape target);
  /// Cropping / UpSampling: `pads` {before, after} per spatial axis; `scale` one repeat factor per spatial axis.
  GraphBuilder& cropping(std::vector<int64_t> pads);
  GraphBuilder& upsampling(std::vector<int64_t> scale);
  /// The next layer reads `layer` instead of the last one (a branch of a functional graph).
  GraphBuilder& from(const std::string& layer);
  /// An element-wise merge (kAdd, kSubtract, kMultiply, ...) of `operands`, in that order.
  GraphBuilder& merge(ir::LayerKind kind, std::vector<std::string> operands);
  /// The name of the last layer added (to join it later with add_residual).
  const std::string& last() const { return graph_.layers.back().name; }
  /// Add of the last layer and `other` (a residual connection).
  GraphBuilder& add_residual(const std::string& other);

  /// Infers shapes, verifies and returns the graph.
  ir::Graph finish();

 private:
  ir::Layer& add(ir::LayerKind kind, const std::string& keras_base);
  const ir::Shape& current_shape();
  at::Tensor glorot(std::vector<int64_t> shape, int64_t fan_in, int64_t fan_out);

  ir::Graph graph_;
  std::map<std::string, int> name_counts_;
  at::Generator generator_;
  std::string next_input_;  ///< set by from(): what the next layer reads
};

}  // namespace snare::arch
