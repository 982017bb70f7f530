#include "io/keras/layout.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"

namespace snare::io::keras::layout {

ir::Shape shape_from_keras(const std::vector<int64_t>& keras_shape) {
  ir::Shape s = keras_shape;
  if (s.size() >= 2) std::rotate(s.begin(), s.end() - 1, s.end());
  return s;
}

std::vector<int64_t> shape_to_keras(const ir::Shape& shape) {
  std::vector<int64_t> s = shape;
  if (s.size() >= 2) std::rotate(s.begin(), s.begin() + 1, s.end());
  return s;
}

int64_t axis_from_keras(int64_t keras_axis, size_t rank) {
  auto r = static_cast<int64_t>(rank);
  int64_t per_sample = keras_axis < 0 ? keras_axis + r : keras_axis - 1;  // index into (spatial..., C)
  if (per_sample < 0 || per_sample >= r) return -1;
  return per_sample == r - 1 ? 0 : per_sample + 1;
}

int64_t axis_to_keras(int64_t axis, size_t rank) {
  if (axis == 0) return -1;
  if (axis < 0 || axis >= static_cast<int64_t>(rank)) throw InternalError("axis out of range");
  return axis;  // IR axis k >= 1 is spatial k-1, which Keras counts as k with the batch axis
}

namespace {

/// Keras per-sample axis (1-based, channels last) of IR axis `i` for rank n, and back.
int64_t keras_axis_of(int64_t i, int64_t n) { return i == 0 ? n : i; }
int64_t ir_axis_of(int64_t keras_axis, int64_t n) { return keras_axis == n ? 0 : keras_axis; }

bool is_permutation(const std::vector<int64_t>& v, int64_t first) {
  std::vector<bool> seen(v.size(), false);
  for (int64_t x : v) {
    int64_t k = x - first;
    if (k < 0 || k >= static_cast<int64_t>(v.size()) || seen[static_cast<size_t>(k)]) return false;
    seen[static_cast<size_t>(k)] = true;
  }
  return true;
}

}  // namespace

ir::Shape permutation_from_keras(const std::vector<int64_t>& dims) {
  if (!is_permutation(dims, 1)) {
    throw ModelError(fmt::format("Permute dims [{}] are not a permutation of 1..{}", fmt::join(dims, ","), dims.size()));
  }
  auto n = static_cast<int64_t>(dims.size());
  ir::Shape perm;
  for (int64_t i = 0; i < n; ++i) perm.push_back(ir_axis_of(dims[static_cast<size_t>(keras_axis_of(i, n) - 1)], n));
  return perm;
}

std::vector<int64_t> permutation_to_keras(const ir::Shape& permutation) {
  if (!is_permutation(permutation, 0)) {
    throw InternalError(fmt::format("permutation ({}) is not a permutation", fmt::join(permutation, ",")));
  }
  auto n = static_cast<int64_t>(permutation.size());
  std::vector<int64_t> dims(permutation.size());
  for (int64_t i = 0; i < n; ++i) {
    dims[static_cast<size_t>(keras_axis_of(i, n) - 1)] = keras_axis_of(permutation[static_cast<size_t>(i)], n);
  }
  return dims;
}

at::Tensor conv_kernel_from_keras(const at::Tensor& kernel) {
  if (kernel.dim() == 3) return kernel.permute({2, 1, 0}).contiguous();
  if (kernel.dim() == 4) return kernel.permute({3, 2, 0, 1}).contiguous();
  throw InternalError("conv_kernel_from_keras: kernel rank must be 3 or 4");
}

at::Tensor conv_kernel_to_keras(const at::Tensor& weight) {
  if (weight.dim() == 3) return weight.permute({2, 1, 0}).contiguous();
  if (weight.dim() == 4) return weight.permute({2, 3, 1, 0}).contiguous();
  throw InternalError("conv_kernel_to_keras: weight rank must be 3 or 4");
}

at::Tensor depthwise_kernel_from_keras(const at::Tensor& kernel) {
  // [H,W,C,M] -> [C,M,H,W] -> [C*M,1,H,W] (1-D: [K,C,M] -> [C*M,1,K]): channel c*M+m is row-major (c, m).
  if (kernel.dim() == 3) {
    return kernel.permute({1, 2, 0}).reshape({kernel.size(1) * kernel.size(2), 1, kernel.size(0)}).contiguous();
  }
  if (kernel.dim() != 4) throw InternalError("depthwise_kernel_from_keras: kernel rank must be 3 or 4");
  return kernel.permute({2, 3, 0, 1}).reshape({kernel.size(2) * kernel.size(3), 1, kernel.size(0), kernel.size(1)})
      .contiguous();
}

at::Tensor depthwise_kernel_to_keras(const at::Tensor& weight, int64_t multiplier) {
  if ((weight.dim() != 3 && weight.dim() != 4) || weight.size(1) != 1 || multiplier < 1 ||
      weight.size(0) % multiplier != 0) {
    throw InternalError("depthwise_kernel_to_keras: weight must be [C*M,1,k...] with M dividing its first dimension");
  }
  if (weight.dim() == 3) {
    return weight.reshape({weight.size(0) / multiplier, multiplier, weight.size(2)}).permute({2, 0, 1}).contiguous();
  }
  return weight.reshape({weight.size(0) / multiplier, multiplier, weight.size(2), weight.size(3)})
      .permute({2, 3, 0, 1})
      .contiguous();
}

at::Tensor dense_kernel_from_keras(const at::Tensor& kernel) { return kernel.t().contiguous(); }

at::Tensor dense_kernel_to_keras(const at::Tensor& weight) { return weight.t().contiguous(); }

namespace {

/// Swaps the first two of the three gate blocks along axis 0 (its own inverse: Keras z,r,h <-> LibTorch r,z,n).
at::Tensor swap_zr(const at::Tensor& t) {
  auto g = t.chunk(3, 0);
  return at::cat({g[1], g[0], g[2]}, 0).contiguous();
}

/// bias_ih + bias_hh, or bias_ih itself when bias_hh is missing or all zeros (keeps -0.0 bit-exact).
at::Tensor folded_bias(const at::Tensor& ih, const at::Tensor& hh) {
  bool zero_hh = !hh.defined() || !hh.ne(0).any().item<bool>();
  return zero_hh ? ih.contiguous() : (ih + hh).contiguous();
}

}  // namespace

TorchLstm lstm_from_keras(const KerasLstm& keras) {
  TorchLstm t;
  t.weight_ih = keras.kernel.t().contiguous();
  t.weight_hh = keras.recurrent_kernel.t().contiguous();
  if (keras.bias.defined()) {
    t.bias_ih = keras.bias.contiguous();
    t.bias_hh = at::zeros_like(keras.bias);
  }
  return t;
}

KerasLstm lstm_to_keras(const TorchLstm& torch) {
  KerasLstm k;
  k.kernel = torch.weight_ih.t().contiguous();
  k.recurrent_kernel = torch.weight_hh.t().contiguous();
  if (torch.bias_ih.defined()) k.bias = folded_bias(torch.bias_ih, torch.bias_hh);
  return k;
}

TorchLstm gru_from_keras(const KerasLstm& keras, bool reset_after) {
  TorchLstm t;
  t.weight_ih = swap_zr(keras.kernel.t());
  t.weight_hh = swap_zr(keras.recurrent_kernel.t());
  if (keras.bias.defined()) {
    if (reset_after) {
      t.bias_ih = swap_zr(keras.bias[0]);
      t.bias_hh = swap_zr(keras.bias[1]);
    } else {
      t.bias_ih = swap_zr(keras.bias);
      t.bias_hh = at::zeros_like(t.bias_ih);
    }
  }
  return t;
}

KerasLstm gru_to_keras(const TorchLstm& torch, bool reset_after) {
  KerasLstm k;
  k.kernel = swap_zr(torch.weight_ih).t().contiguous();
  k.recurrent_kernel = swap_zr(torch.weight_hh).t().contiguous();
  if (torch.bias_ih.defined()) {
    k.bias = reset_after ? at::stack({swap_zr(torch.bias_ih), swap_zr(torch.bias_hh)}).contiguous()
                         : swap_zr(folded_bias(torch.bias_ih, torch.bias_hh));
  }
  return k;
}

at::Tensor dense_columns_to_channels_last(const at::Tensor& weight, const ir::Shape& chw) {
  if (chw.size() < 2) return weight;
  std::vector<int64_t> view{weight.size(0)};
  view.insert(view.end(), chw.begin(), chw.end());  // [out, C, spatial...]
  std::vector<int64_t> perm{0};
  for (int64_t i = 2; i < static_cast<int64_t>(view.size()); ++i) perm.push_back(i);
  perm.push_back(1);  // [out, spatial..., C]
  return weight.reshape(view).permute(perm).reshape({weight.size(0), -1}).contiguous();
}

}  // namespace snare::io::keras::layout
