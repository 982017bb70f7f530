// Internal to snare::exec: the LibTorch lowering of activations and recurrent layers, shared by network.cpp and
// recurrent.cpp. Not part of the module's interface.
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

#include "ir/layer.h"

namespace snare::exec::detail {

/// `a` applied to x [N, C, ...] (softmax over the channel axis 1).
at::Tensor activate(const at::Tensor& x, ir::Activation a, double alpha);

/// Runs recurrent layer `l` (LSTM, GRU, SimpleRNN; one or two directions) on x [N, C, L]; returns [N, U', L] with
/// return_sequences, else [N, U'] (U' = recurrent_output_units). `weight` looks up the layer's tensors by ir name.
at::Tensor recurrent(const at::Tensor& x, const ir::Layer& l, const std::function<const at::Tensor&(const std::string&)>& weight,
                     bool training);

/// Max pooling of x [N, C, L] (one kernel size) or [N, C, H, W] (two), no padding, floor mode: LibTorch's results
/// bit for bit, from a faster kernel for float CPU tensors (max_pool.cpp).
at::Tensor max_pool(const at::Tensor& x, const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides);

/// Training-mode dropout (LibTorch's semantics: x * noise, noise = 1/(1-rate) with probability 1-rate, else 0),
/// its mask from a fast counter-based hash for float CPU tensors (dropout.cpp), from at::dropout otherwise. Draws
/// one number from LibTorch's default generator per call.
at::Tensor dropout(const at::Tensor& x, double rate);

/// Whether conv_one_channel computes this convolution: x [N, C, L] or [N, C, H, W] float on the CPU with one input
/// channel per group (C 1 and groups 1, or groups C: depthwise), strides and dilation 1, padding (symmetric, per
/// spatial axis) that leaves an output.
bool conv_one_channel_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              at::IntArrayRef strides, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups);

/// at::conv1d / conv2d of such a convolution (groups = x.size(1)) with its autograd: the forward and the weight and
/// bias gradients from kernels that are faster than oneDNN's for one input channel per group, equal to LibTorch's up
/// to rounding; the input gradient is LibTorch's (conv_one_channel.cpp).
at::Tensor conv_one_channel(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef padding);

}  // namespace snare::exec::detail
