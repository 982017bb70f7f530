// Max pooling for float32 CPU tensors, forward and backward, with LibTorch's exact semantics. LibTorch 1.13's own
// CPU max_pool2d_with_indices takes about 10 ns per output (1.6 ms for LeNet-5's first pooling of a 128 batch, more
// than either convolution); this kernel takes a fraction of that. Results are bit-identical to LibTorch's: the same
// window scan order and tie rule (the first maximum wins, NaN propagates), the same gradient routing, and the
// backward adds in the same order, so a seed's trajectory does not change.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "exec/lowering.h"

namespace snare::exec::detail {

namespace {

struct Window {
  int64_t kh, kw, sh, sw;
};

struct Plane {
  int64_t h, w, oh, ow;
};

/// LibTorch's rule for one more value of a window: take it if it is greater or NaN (a select, not a branch: on
/// real activations the comparison is a coin flip the branch predictor loses).
inline void take_if_greater(float v, int32_t pos, float& m, int32_t& best) {
  const bool take = v > m || v != v;
  m = take ? v : m;
  best = take ? pos : best;
}

/// Max and the position of the max within the input plane, for every output of one plane, any window and stride.
/// One pass per window position over a whole output row, so the compiler vectorises the row.
void pool_plane(const float* in, float* out, int32_t* index, const Plane& p, const Window& win) {
  const int32_t w = static_cast<int32_t>(p.w), ow = static_cast<int32_t>(p.ow), sw = static_cast<int32_t>(win.sw);
  for (int64_t oy = 0; oy < p.oh; ++oy) {
    float* m = out + oy * p.ow;
    int32_t* best = index + oy * p.ow;
    const int32_t y0 = static_cast<int32_t>(oy * win.sh);
    // Start at the window's first position, as LibTorch does.
    for (int32_t ox = 0; ox < ow; ++ox) {
      m[ox] = in[y0 * w + ox * sw];
      best[ox] = y0 * w + ox * sw;
    }
    for (int32_t dy = 0; dy < win.kh; ++dy) {
      for (int32_t dx = dy == 0 ? 1 : 0; dx < win.kw; ++dx) {
        const int32_t base = (y0 + dy) * w + dx;
        for (int32_t ox = 0; ox < ow; ++ox) take_if_greater(in[base + ox * sw], base + ox * sw, m[ox], best[ox]);
      }
    }
  }
}

/// The same for 2x2 windows with stride 2 (LeNet's pools), all four values of a window in one pass.
void pool_plane_2x2(const float* in, float* out, int32_t* index, const Plane& p) {
  const int32_t w = static_cast<int32_t>(p.w), ow = static_cast<int32_t>(p.ow);
  for (int32_t oy = 0; oy < static_cast<int32_t>(p.oh); ++oy) {
    const float* r0 = in + 2 * oy * w;
    const float* r1 = r0 + w;
    float* m = out + oy * ow;
    int32_t* best = index + oy * ow;
    for (int32_t ox = 0; ox < ow; ++ox) {
      const int32_t pos = 2 * oy * w + 2 * ox;
      float mx = r0[2 * ox];
      int32_t bx = pos;
      take_if_greater(r0[2 * ox + 1], pos + 1, mx, bx);
      take_if_greater(r1[2 * ox], pos + w, mx, bx);
      take_if_greater(r1[2 * ox + 1], pos + w + 1, mx, bx);
      m[ox] = mx;
      best[ox] = bx;
    }
  }
}

/// x [N, C, H, W] contiguous float; returns [N, C, OH, OW] and, when `with_index`, the int32 argmax positions.
std::pair<at::Tensor, at::Tensor> pool_forward(const at::Tensor& x, const Window& win, bool with_index) {
  const int64_t planes = x.size(0) * x.size(1);
  const Plane p{x.size(2), x.size(3), (x.size(2) - win.kh) / win.sh + 1, (x.size(3) - win.kw) / win.sw + 1};
  at::Tensor out = at::empty({x.size(0), x.size(1), p.oh, p.ow}, x.options());
  // Without autograd the positions go to a scratch row per task instead of a tensor.
  at::Tensor index = with_index ? at::empty(out.sizes(), x.options().dtype(at::kInt)) : at::Tensor();
  const float* in_data = x.data_ptr<float>();
  float* out_data = out.data_ptr<float>();
  int32_t* index_data = with_index ? index.data_ptr<int32_t>() : nullptr;
  const bool two = win.kh == 2 && win.kw == 2 && win.sh == 2 && win.sw == 2;
  // Grain: enough planes for ~16k input values per task, so small layers do not pay for thread wake-ups.
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, p.h * p.w));
  at::parallel_for(0, planes, grain, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> scratch(index_data ? 0 : p.oh * p.ow);
    for (int64_t i = begin; i < end; ++i) {
      const float* in = in_data + i * p.h * p.w;
      float* o = out_data + i * p.oh * p.ow;
      int32_t* idx = index_data ? index_data + i * p.oh * p.ow : scratch.data();
      if (two) {
        pool_plane_2x2(in, o, idx, p);
      } else {
        pool_plane(in, o, idx, p, win);
      }
    }
  });
  return {out, index};
}

/// Routes each output's gradient to its argmax, adding in output order (as LibTorch does) where windows overlap.
at::Tensor pool_backward(const at::Tensor& grad_out, const at::Tensor& index, at::IntArrayRef input_sizes) {
  at::Tensor g = grad_out.contiguous();
  at::Tensor grad_in = at::zeros(input_sizes, g.options());
  const int64_t planes = input_sizes[0] * input_sizes[1];
  const int64_t in_plane = input_sizes[2] * input_sizes[3];
  const int64_t out_plane = g.size(2) * g.size(3);
  const float* g_data = g.data_ptr<float>();
  const int32_t* idx_data = index.data_ptr<int32_t>();
  float* gi_data = grad_in.data_ptr<float>();
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, in_plane));
  at::parallel_for(0, planes, grain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* go = g_data + i * out_plane;
      const int32_t* idx = idx_data + i * out_plane;
      float* gi = gi_data + i * in_plane;
      for (int64_t o = 0; o < out_plane; ++o) gi[idx[o]] += go[o];
    }
  });
  return grad_in;
}

struct MaxPoolFunction : public torch::autograd::Function<MaxPoolFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t kh, int64_t kw,
                            int64_t sh, int64_t sw) {
    auto [out, index] = pool_forward(x, Window{kh, kw, sh, sw}, true);
    ctx->save_for_backward({index});
    ctx->saved_data["sizes"] = x.sizes().vec();
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor index = ctx->get_saved_variables()[0];
    const std::vector<int64_t> sizes = ctx->saved_data["sizes"].toIntVector();
    return {pool_backward(grads[0], index, sizes), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor max_pool(const at::Tensor& x, const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides) {
  const bool one_d = kernel.size() == 1;
  const bool fast = x.device().is_cpu() && x.scalar_type() == at::kFloat && x.dim() == (one_d ? 3 : 4) &&
                    x.size(0) * x.size(1) > 0 && x.size(-1) >= kernel.back() &&
                    (one_d || x.size(-2) >= kernel.front()) && x.numel() < (int64_t{1} << 31) &&
                    std::all_of(kernel.begin(), kernel.end(), [](int64_t k) { return k > 0; }) &&
                    std::all_of(strides.begin(), strides.end(), [](int64_t s) { return s > 0; }) &&
                    strides.size() == kernel.size();
  if (!fast) return one_d ? at::max_pool1d(x, kernel, strides) : at::max_pool2d(x, kernel, strides);
  // 1-D pooling is 2-D pooling of planes of height 1.
  at::Tensor x4 = (one_d ? x.unsqueeze(2) : x).contiguous();
  const Window win = one_d ? Window{1, kernel[0], 1, strides[0]} : Window{kernel[0], kernel[1], strides[0], strides[1]};
  at::Tensor out;
  if (at::GradMode::is_enabled() && x.requires_grad()) {
    out = MaxPoolFunction::apply(x4, win.kh, win.kw, win.sh, win.sw);
  } else {
    out = pool_forward(x4, win, false).first;
  }
  return one_d ? out.squeeze(2) : out;
}

}  // namespace snare::exec::detail
