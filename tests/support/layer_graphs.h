// Small graphs with the element-wise merges, Cropping, UpSampling and keepdims global pools, shared by the Keras,
// ONNX and reduction tests: a squeeze-and-excitation block in both forms Keras models use (keepdims pool -> 1x1
// convs, and pool -> Dense -> Reshape), every merge kind, and a 1-D chain.
#pragma once

#include "arch/builder.h"
#include "ir/graph.h"

namespace snare::test {

/// [4,10,12] -> conv -> SE gate by 1x1 convs (keepdims pool) and by Dense + Reshape, Multiply both, Add,
/// Average, Maximum, Minimum, Cropping2D, UpSampling2D -> Dense. With `keepdims_pool` false the 1x1-conv gate reads
/// a pool + Reshape [8] -> [8,1,1] instead (TensorFlow.js 4.22 ignores keepdims=True).
inline ir::Graph merge_graph_2d(bool keepdims_pool = true, uint64_t seed = 3) {
  using ir::Activation;
  using ir::LayerKind;
  using ir::Padding;
  arch::GraphBuilder b(keepdims_pool ? "merges_2d" : "merges_2d_reshape", {4, 10, 12}, seed);
  b.conv2d(8, 3, Padding::kSame, Activation::kRelu);
  const std::string trunk = b.last();
  if (keepdims_pool) {
    b.global_avgpool2d(true);
  } else {
    b.global_avgpool2d().reshape({8, 1, 1});
  }
  b.conv2d(2, 1, Padding::kValid, Activation::kRelu).conv2d(8, 1, Padding::kValid, Activation::kSigmoid);
  const std::string gate_conv = b.last();
  b.merge(LayerKind::kMultiply, {trunk, gate_conv});
  const std::string se1 = b.last();
  b.from(trunk).global_avgpool2d().dense(8, Activation::kSigmoid).reshape({8, 1, 1});
  const std::string gate_dense = b.last();
  b.merge(LayerKind::kMultiply, {gate_dense, trunk});
  const std::string se2 = b.last();
  b.merge(LayerKind::kAdd, {se1, se2});
  const std::string diff = b.last();
  b.merge(LayerKind::kAverage, {se1, se2, diff});
  const std::string avg = b.last();
  b.merge(LayerKind::kMaximum, {avg, se1});
  const std::string mx = b.last();
  b.merge(LayerKind::kMinimum, {mx, diff, trunk});
  b.cropping({1, 2, 0, 3}).upsampling({2, 1}).conv2d(3, 3, Padding::kValid, Activation::kLinear);
  b.flatten().dense(5, Activation::kSoftmax);
  return b.finish();
}

/// [3,16] -> Conv1D -> Cropping1D -> UpSampling1D, minus a Conv1D of it (Subtract) -> keepdims global max pool
/// -> 1x1 Conv1D -> Flatten -> Dense. (TensorFlow.js has none of Subtract, Cropping1D, UpSampling1D.)
inline ir::Graph merge_graph_1d(uint64_t seed = 4) {
  using ir::Activation;
  arch::GraphBuilder b("crop_upsample_1d", {3, 16}, seed);
  b.conv1d(6, 3, ir::Padding::kSame, Activation::kRelu).cropping({2, 1}).upsampling({3});
  const std::string up = b.last();
  b.conv1d(6, 3, ir::Padding::kSame, Activation::kTanh);
  b.merge(ir::LayerKind::kSubtract, {up, b.last()});
  b.global_maxpool1d(true).conv1d(4, 1, ir::Padding::kValid, Activation::kLinear).flatten().dense(4, Activation::kLinear);
  return b.finish();
}

/// An inception-style block: two convs of the input concatenated on the channel axis, BatchNorm over the
/// concatenation, a conv, a residual Add of the concatenation's BatchNorm with a 1x1 conv of it, then pooling and a
/// Dense. Units of either branch sit at an offset in the concatenation and its BatchNorm.
inline ir::Graph concat_graph_2d(uint64_t seed = 8) {
  using ir::Activation;
  arch::GraphBuilder b("concat_2d", {3, 10, 10}, seed);
  b.conv2d(6, 3, ir::Padding::kSame, Activation::kRelu);
  const std::string left = b.last();
  b.from("input").conv2d(4, 1, ir::Padding::kSame, Activation::kRelu);
  b.merge(ir::LayerKind::kConcatenate, {left, b.last()}).batchnorm();
  const std::string normed = b.last();
  b.conv2d(10, 1, ir::Padding::kSame, Activation::kLinear).add_residual(normed);
  return b.conv2d(5, 3, ir::Padding::kValid, Activation::kRelu).global_avgpool2d().dense(3, Activation::kSoftmax).finish();
}

/// SeparableConv2D (multiplier 2, same; then stride 2, valid, no bias) and SeparableConv1D (dilation 2).
inline ir::Graph separable_graph_2d(uint64_t seed = 5) {
  using ir::Activation;
  arch::GraphBuilder b("separable_2d", {3, 12, 11}, seed);
  b.separable_conv(8, 3, 2, 1, ir::Padding::kSame, Activation::kRelu);
  b.separable_conv(6, 3, 1, 2, ir::Padding::kValid, Activation::kLinear);
  ir::Graph g = b.global_avgpool2d().dense(4, Activation::kSoftmax).finish();
  ir::Layer& second = g.layer("separable_conv2d_1");
  second.use_bias = false;
  second.weights.erase("bias");
  g.infer_shapes();
  return g;
}

inline ir::Graph separable_graph_1d(uint64_t seed = 6) {
  using ir::Activation;
  arch::GraphBuilder b("separable_1d", {4, 20}, seed);
  b.separable_conv(6, 3, 1, 1, ir::Padding::kSame, Activation::kRelu6);
  ir::Graph g = b.flatten().dense(3, Activation::kLinear).finish();
  g.layer("separable_conv1d").dilation = {2};
  g.infer_shapes();
  return g;
}

/// The graphs TensorFlow.js 4.22's Keras layers can load (it lacks Subtract and the 1-D Cropping, UpSampling
/// and SeparableConv, and ignores keepdims on global pools).
inline std::vector<ir::Graph> tfjs_layer_graphs() { return {merge_graph_2d(false), separable_graph_2d()}; }

/// Every graph above.
inline std::vector<ir::Graph> new_layer_graphs() {
  return {merge_graph_2d(), merge_graph_2d(false), merge_graph_1d(), separable_graph_2d(), separable_graph_1d()};
}

}  // namespace snare::test
