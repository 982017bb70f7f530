// Layout conversion between Keras (channels_last, TensorFlow weight layouts) and the IR (channels
// first, LibTorch weight layouts). Every conversion is a named function with its inverse, because
// this is where silent bugs live: a transposed kernel still has a plausible shape.
//
//   Keras                              IR
//   input (H,W,C) / (L,C) / (F)        (C,H,W) / (C,L) / (F)
//   Conv2D kernel [H,W,I,O]            weight [O,I,H,W]
//   Conv1D kernel [K,I,O]              weight [O,I,K]
//   grouped Conv kernel [K..,I/G,O]    weight [O,I/G,K..]    (same permutation; groups are contiguous in both)
//   DepthwiseConv2D depthwise_kernel   weight [C*M,1,H,W]    output channel c*M+m reads input channel c:
//     [H,W,C,M] (M = depth_multiplier)                       weight[c*M+m,0,i,j] = depthwise_kernel[i,j,c,m]
//   Dense kernel [in,out]              weight [out,in]
//   LSTM kernel [in,4U]                weight_ih [4U,in]     gate order i,f,c,o = LibTorch i,f,g,o
//   LSTM recurrent_kernel [U,4U]       weight_hh [4U,U]
//   LSTM bias [4U]                     bias_ih [4U], bias_hh zeros (written back as their sum)
//   GRU kernel [in,3U]                 weight_ih [3U,in]     gate order z,r,h -> LibTorch r,z,n (first two swapped)
//   GRU recurrent_kernel [U,3U]        weight_hh [3U,U]      (same swap)
//   GRU bias [2,3U] (reset_after)      bias_ih = row 0, bias_hh = row 1 (same swap)
//   GRU bias [3U] (not reset_after)    bias_ih [3U], bias_hh zeros (written back as their sum)
//   SimpleRNN kernel [in,U], recurrent_kernel [U,U], bias [U]: as LSTM with one gate
//   Bidirectional: the forward layer's weights, then the backward layer's -> the `_reverse` tensors
//
// Flatten needs no weight change: the IR Flatten keeps Keras' (spatial..., C) element order
// (Layer::channels_last). dense_columns_to_channels_last() converts a Dense that follows a
// channels-first Flatten (graphs from other formats) so Keras' Flatten order computes the same.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "ir/layer.h"

namespace snare::io::keras::layout {

/// Keras per-sample shape (channels last) to IR (channels first): (H,W,C) -> (C,H,W), (L,C) -> (C,L).
ir::Shape shape_from_keras(const std::vector<int64_t>& keras_shape);
/// Inverse of shape_from_keras.
std::vector<int64_t> shape_to_keras(const ir::Shape& shape);

/// Keras axis (counting the batch axis, negative from the end) of a rank-`rank` per-sample tensor to
/// the IR's per-sample channels-first axis; -1 when out of range.
int64_t axis_from_keras(int64_t keras_axis, size_t rank);
/// Inverse: IR per-sample axis to Keras' batch-inclusive axis (channels -> -1).
int64_t axis_to_keras(int64_t axis, size_t rank);

/// Keras Permute `dims` (1-based over the channels_last per-sample axes (s1..sk, C); output axis j is input axis
/// dims[j-1]) -> the IR permutation over (C, s1..sk) (output axis i is input axis permutation[i]). IR axis 0 is
/// Keras axis k+1, IR axis i >= 1 is Keras axis i; e.g. (H,W,C) dims [2,1,3] -> {0,2,1}, [3,1,2] -> {2,0,1}.
/// Throws ModelError when `dims` is not a permutation of 1..n.
ir::Shape permutation_from_keras(const std::vector<int64_t>& dims);
/// Inverse of permutation_from_keras.
std::vector<int64_t> permutation_to_keras(const ir::Shape& permutation);

/// Conv kernel [K..., I, O] -> [O, I, K...] (1-D and 2-D).
at::Tensor conv_kernel_from_keras(const at::Tensor& kernel);
/// Conv weight [O, I, K...] -> [K..., I, O].
at::Tensor conv_kernel_to_keras(const at::Tensor& weight);

/// DepthwiseConv2D depthwise_kernel [H, W, C, M] -> grouped-conv weight [C*M, 1, H, W]
/// (weight[c*M+m, 0, i, j] = kernel[i, j, c, m]).
at::Tensor depthwise_kernel_from_keras(const at::Tensor& kernel);
/// Inverse: weight [C*M, 1, H, W] with `multiplier` M -> [H, W, C, M].
at::Tensor depthwise_kernel_to_keras(const at::Tensor& weight, int64_t multiplier);

/// Dense kernel [in, out] -> weight [out, in].
at::Tensor dense_kernel_from_keras(const at::Tensor& kernel);
/// Dense weight [out, in] -> kernel [in, out].
at::Tensor dense_kernel_to_keras(const at::Tensor& weight);

struct TorchLstm {
  at::Tensor weight_ih, weight_hh, bias_ih, bias_hh;  ///< biases undefined when the layer has none
};
struct KerasLstm {
  at::Tensor kernel, recurrent_kernel, bias;  ///< bias undefined when the layer has none
};
/// Keras LSTM weights to LibTorch's: transposes, and puts the single Keras bias in bias_ih with a
/// zero bias_hh. Gate order needs no change (Keras i,f,c,o is LibTorch's i,f,g,o).
TorchLstm lstm_from_keras(const KerasLstm& keras);
/// Inverse. bias = bias_ih + bias_hh; when bias_hh is all zeros bias_ih is passed through unchanged,
/// so -0.0 entries survive and a read-write-read round trip is bit-exact.
KerasLstm lstm_to_keras(const TorchLstm& torch);

/// Keras GRU weights to LibTorch's: transposes, swaps the z and r gate blocks (Keras z,r,h; LibTorch r,z,n), and
/// splits a reset_after bias [2,3U] into bias_ih (row 0) and bias_hh (row 1); a [3U] bias (reset_after=False) goes to
/// bias_ih with a zero bias_hh.
TorchLstm gru_from_keras(const KerasLstm& keras, bool reset_after);
/// Inverse. Without reset_after the bias is bias_ih + bias_hh (bias_ih unchanged when bias_hh is all zeros).
KerasLstm gru_to_keras(const TorchLstm& torch, bool reset_after);

/// A Dense weight [out, C*S] whose columns follow the channels-first flatten of per-sample shape
/// `chw` (C, spatial...) -> the same weight with columns in channels-last (spatial..., C) order.
at::Tensor dense_columns_to_channels_last(const at::Tensor& weight, const ir::Shape& chw);

}  // namespace snare::io::keras::layout
