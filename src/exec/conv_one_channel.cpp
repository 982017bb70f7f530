// Convolutions that read one input channel per group: a one-channel input (grayscale images, raw 1-D signals: the
// first layer of LeNet-5 and of many microcontroller models) and depthwise convolutions (MobileNets), for float32
// CPU tensors with stride 1 and no dilation. oneDNN, behind LibTorch 1.13's conv2d, handles them poorly: for a batch
// of 128 at 2 threads, LeNet-5's first convolution takes about 0.6 ms (about 50 GFLOP/s), mobilenet-mini's (16
// filters of 3x3) about 5 ms without autograd, a 3x3 depthwise convolution of 64 channels of 14x14 7-9 ms (2
// GFLOP/s); its weight gradient of LeNet-5's first convolution takes 5 ms on one AVX2 core. Here each sample's
// zero-padded plane is walked once per block of output channels (forward) or per output channel (weight and bias
// gradients), with the sums in vector registers. The sums are the same but added in another order than oneDNN's, so
// results differ from LibTorch's by rounding; a sample's output does not depend on the batch or the thread count,
// the gradients not on the thread count. The input gradient (a depthwise layer inside a network) is LibTorch's.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "exec/lowering.h"

namespace snare::exec::detail {

namespace {

constexpr int64_t kLanes = 16;    // outputs of a row computed together (one AVX-512 vector, two AVX2 vectors)
constexpr int64_t kChannels = 4;  // output channels computed together (measured: better than 3 channels x 2 rows)

struct Geometry {
  int64_t h, w;       // input plane
  int64_t kh, kw;     // kernel
  int64_t ph, pw;     // zero padding on each side
  int64_t oh, ow;     // output plane
  int64_t ow_pad;     // ow rounded up to whole kLanes
  int64_t plane_h, plane_w;  // the padded plane: oh + kh - 1 rows, ow_pad + kw - 1 columns
  int64_t taps() const { return kh * kw; }
};

Geometry geometry(at::IntArrayRef x_sizes, at::IntArrayRef weight_sizes, int64_t ph, int64_t pw) {
  Geometry g;
  g.h = x_sizes[2], g.w = x_sizes[3], g.kh = weight_sizes[2], g.kw = weight_sizes[3], g.ph = ph, g.pw = pw;
  g.oh = g.h + 2 * ph - g.kh + 1;
  g.ow = g.w + 2 * pw - g.kw + 1;
  g.ow_pad = (g.ow + kLanes - 1) / kLanes * kLanes;
  g.plane_h = g.oh + g.kh - 1;
  g.plane_w = g.ow_pad + g.kw - 1;
  return g;
}

/// Copies one sample into the zero-padded plane (zeros also to the right, where the last row block overreaches).
void pad_plane(const float* in, float* plane, const Geometry& g) {
  std::fill(plane, plane + g.plane_h * g.plane_w, 0.f);
  for (int64_t y = 0; y < g.h; ++y) std::copy(in + y * g.w, in + (y + 1) * g.w, plane + (y + g.ph) * g.plane_w + g.pw);
}

/// Vectors of `n` floats in registers: GCC/Clang's generic vectors, loaded and stored with memcpy (unaligned).
template <int64_t n>
using Vec __attribute__((vector_size(n * sizeof(float)))) = float;

/// out[o][y][x] for kChannels output channels o of one sample; w holds their taps (kChannels x taps, zero rows past
/// the last channel), b their biases. `valid` of the kChannels channels are written. Each row block of kLanes outputs
/// is summed in kLanes / width vectors of `width` floats per channel: every output's sum runs over the taps in the same
/// order whatever the width, so all widths give the same results (with FMA where the clone has it).
template <int64_t width>
inline __attribute__((always_inline)) void forward_block_of(const float* plane, const float* w, const float* b,
                                                             float* out, int64_t valid, const Geometry& g) {
  using V = Vec<width>;
  constexpr int64_t parts = kLanes / width;
  const int64_t taps = g.taps();
  for (int64_t y = 0; y < g.oh; ++y) {
    for (int64_t x0 = 0; x0 < g.ow_pad; x0 += kLanes) {
      V acc[kChannels][parts];
      for (int64_t j = 0; j < kChannels; ++j) {
        for (int64_t q = 0; q < parts; ++q) acc[j][q] = V{} + b[j];
      }
      for (int64_t ky = 0; ky < g.kh; ++ky) {
        const float* row = plane + (y + ky) * g.plane_w + x0;
        const float* wt = w + ky * g.kw;
        for (int64_t kx = 0; kx < g.kw; ++kx) {
          V p[parts];
          for (int64_t q = 0; q < parts; ++q) __builtin_memcpy(&p[q], row + kx + q * width, sizeof(V));
          for (int64_t j = 0; j < kChannels; ++j) {
            for (int64_t q = 0; q < parts; ++q) acc[j][q] += wt[j * taps + kx] * p[q];
          }
        }
      }
      const int64_t n = std::min(kLanes, g.ow - x0);
      for (int64_t j = 0; j < valid; ++j) {
        float sums[kLanes];
        __builtin_memcpy(sums, acc[j], sizeof sums);
        __builtin_memcpy(out + (j * g.oh + y) * g.ow + x0, sums, n * sizeof(float));
      }
    }
  }
}

/// One AVX-512 register per row block.
__attribute__((target("avx512f"))) void forward_block_avx512(const float* plane, const float* w, const float* b,
                                                              float* out, int64_t valid, const Geometry& g) {
  forward_block_of<16>(plane, w, b, out, valid, g);
}

/// Two 8-float vectors per row block: AVX2 registers (with FMA on the "arch=haswell" clone) or pairs of SSE ones.
/// Sixteen-float vectors here were split through the stack by GCC 12 (the kernel ran at SSE speed on AVX2 CPUs). The
/// clones are SNARE_CPU_CLONES' (exec/cpu_clones.h: why "avx2" beside "arch=haswell") less AVX-512.
__attribute__((target_clones("arch=haswell", "avx2", "default"))) void forward_block_narrow(
    const float* plane, const float* w, const float* b, float* out, int64_t valid, const Geometry& g) {
  forward_block_of<8>(plane, w, b, out, valid, g);
}

void forward_block(const float* plane, const float* w, const float* b, float* out, int64_t valid, const Geometry& g) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) {
    forward_block_avx512(plane, w, b, out, valid, g);
  } else {
    forward_block_narrow(plane, w, b, out, valid, g);
  }
}

/// x [N, G, H, W], weight [O, 1, KH, KW] with O a multiple of G (input channel c feeds outputs c*O/G to (c+1)*O/G - 1:
/// one channel, or a depthwise convolution), bias [O] or undefined; contiguous float CPU.
at::Tensor conv_forward(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t ph, int64_t pw) {
  const Geometry g = geometry(x.sizes(), weight.sizes(), ph, pw);
  const int64_t n = x.size(0), groups = x.size(1), channels = weight.size(0), taps = g.taps();
  const int64_t per_group = channels / groups;
  // Zero rows past the last channel: a block at the end of a group reads the next rows but writes only its own.
  std::vector<float> w((channels + kChannels) * taps, 0.f), b(channels + kChannels, 0.f);
  std::copy(weight.data_ptr<float>(), weight.data_ptr<float>() + channels * taps, w.begin());
  if (bias.defined()) std::copy(bias.data_ptr<float>(), bias.data_ptr<float>() + channels, b.begin());
  at::Tensor out = at::empty({n, channels, g.oh, g.ow}, x.options());
  const float* in = x.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, n * groups, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> plane(g.plane_h * g.plane_w);
    for (int64_t i = begin; i < end; ++i) {  // i: sample i / groups, input channel i % groups
      pad_plane(in + i * g.h * g.w, plane.data(), g);
      for (int64_t j = 0; j < per_group; j += kChannels) {
        const int64_t c = (i % groups) * per_group + j;
        forward_block(plane.data(), w.data() + c * taps, b.data() + c, o + ((i / groups) * channels + c) * g.oh * g.ow,
                      std::min(kChannels, per_group - j), g);
      }
    }
  });
  return out;
}

// The weight and bias gradients. dW[c][ky][kx] sums grad[n][c][y][x] * plane[n][y + ky][x + kx] over samples and
// outputs: for each (channel, kernel row, block of kernel columns) the products of a row block of kLanes outputs
// with the plane shifted by each column are summed in vector registers, lane by lane, over the rows and the samples
// of a chunk; the lanes are then added in order, and the chunks' sums in order, so the gradients depend neither on
// the thread count nor on the vector width (only on FMA, as the forward). oneDNN (LibTorch 1.13) spends 5 ms on
// LeNet-5's first convolution's weight gradient for a batch of 128 on one AVX2 core, a third of the epoch.

constexpr int64_t kSampleChunk = 16;  // samples summed in the same registers before their chunk's lanes add up
constexpr int64_t kMaxColumns = 6;    // kernel columns summed together (one accumulator each per row block)

/// The kernel's columns in blocks of `columns(g)`; the last block may reach past kw (those sums are dropped).
int64_t columns(const Geometry& g) { return g.kw <= kMaxColumns ? g.kw : 4; }
int64_t column_blocks(const Geometry& g) { return (g.kw + columns(g) - 1) / columns(g); }

/// acc[ky][block][b][lane] += sum over rows y and row blocks x0 of grad[y][x0 + lane] * plane[y + ky][x0 + lane +
/// block * B + b], for one sample and one output channel. grad is the channel's output gradient with rows of ow_pad
/// floats (zeros past ow); plane is the sample's padded input plane, readable B - 1 floats past its end.
template <int64_t width, int64_t B>
inline __attribute__((always_inline)) void weight_grad_of(const float* plane, const float* grad, float* acc,
                                                           const Geometry& g) {
  using V = Vec<width>;
  constexpr int64_t parts = kLanes / width;
  const int64_t blocks = (g.kw + B - 1) / B;
  for (int64_t ky = 0; ky < g.kh; ++ky) {
    for (int64_t block = 0; block < blocks; ++block) {
      float* out = acc + (ky * blocks + block) * B * kLanes;
      V a[B][parts];
      __builtin_memcpy(a, out, sizeof a);
      for (int64_t y = 0; y < g.oh; ++y) {
        const float* row = plane + (y + ky) * g.plane_w + block * B;
        const float* grow = grad + y * g.ow_pad;
        for (int64_t x0 = 0; x0 < g.ow_pad; x0 += kLanes) {
          V gv[parts];
          for (int64_t q = 0; q < parts; ++q) __builtin_memcpy(&gv[q], grow + x0 + q * width, sizeof(V));
          for (int64_t b = 0; b < B; ++b) {
            for (int64_t q = 0; q < parts; ++q) {
              V p;
              __builtin_memcpy(&p, row + x0 + b + q * width, sizeof(V));
              a[b][q] += gv[q] * p;
            }
          }
        }
      }
      __builtin_memcpy(out, a, sizeof a);
    }
  }
}

template <int64_t width>
inline __attribute__((always_inline)) void weight_grad_dispatch(const float* plane, const float* grad, float* acc,
                                                                 const Geometry& g) {
  switch (columns(g)) {
    case 1: return weight_grad_of<width, 1>(plane, grad, acc, g);
    case 2: return weight_grad_of<width, 2>(plane, grad, acc, g);
    case 3: return weight_grad_of<width, 3>(plane, grad, acc, g);
    case 4: return weight_grad_of<width, 4>(plane, grad, acc, g);
    case 5: return weight_grad_of<width, 5>(plane, grad, acc, g);
    default: return weight_grad_of<width, 6>(plane, grad, acc, g);
  }
}

__attribute__((target("avx512f"))) void weight_grad_avx512(const float* plane, const float* grad, float* acc,
                                                            const Geometry& g) {
  weight_grad_dispatch<16>(plane, grad, acc, g);
}

/// Eight-float vectors off AVX-512, for the reason of forward_block_narrow.
__attribute__((target_clones("arch=haswell", "avx2", "default"))) void weight_grad_narrow(
    const float* plane, const float* grad, float* acc, const Geometry& g) {
  weight_grad_dispatch<8>(plane, grad, acc, g);
}

void weight_grad(const float* plane, const float* grad, float* acc, const Geometry& g) {
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  if (avx512) {
    weight_grad_avx512(plane, grad, acc, g);
  } else {
    weight_grad_narrow(plane, grad, acc, g);
  }
}

/// {dW, db} of the convolution conv_forward computes, from x [N, G, H, W], its output gradient `grad` [N, O, OH, OW]
/// and the weight's sizes [O, 1, KH, KW]; db undefined without `with_bias`.
std::pair<at::Tensor, at::Tensor> conv_weight_backward(const at::Tensor& x, const at::Tensor& grad,
                                                      at::IntArrayRef weight_sizes, int64_t ph, int64_t pw,
                                                      bool with_bias) {
  const Geometry g = geometry(x.sizes(), weight_sizes, ph, pw);
  const int64_t n = x.size(0), groups = x.size(1), channels = weight_sizes[0], taps = g.taps();
  const int64_t per_group = channels / groups;
  const int64_t chunks = (n + kSampleChunk - 1) / kSampleChunk;
  const int64_t acc_per_channel = g.kh * column_blocks(g) * columns(g) * kLanes;
  // Per chunk and channel: the taps' sums, then the bias's.
  std::vector<float> partial(chunks * channels * (taps + 1));
  const float* in = x.data_ptr<float>();
  const float* gr = grad.data_ptr<float>();
  at::parallel_for(0, chunks * groups, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> plane(g.plane_h * g.plane_w + kMaxColumns);  // read up to B - 1 floats past the plane
    std::vector<float> gpad(g.oh * g.ow_pad, 0.f);                  // zeros past ow stay: they cancel those lanes
    std::vector<float> acc(per_group * acc_per_channel), bias_acc(per_group * kLanes);
    for (int64_t item = begin; item < end; ++item) {  // item: chunk item / groups, input channel item % groups
      const int64_t chunk = item / groups, group = item % groups;
      std::fill(acc.begin(), acc.end(), 0.f);
      std::fill(bias_acc.begin(), bias_acc.end(), 0.f);
      for (int64_t s = chunk * kSampleChunk; s < std::min(n, (chunk + 1) * kSampleChunk); ++s) {
        pad_plane(in + (s * groups + group) * g.h * g.w, plane.data(), g);
        for (int64_t j = 0; j < per_group; ++j) {
          const float* src = gr + (s * channels + group * per_group + j) * g.oh * g.ow;
          for (int64_t y = 0; y < g.oh; ++y) {
            std::copy(src + y * g.ow, src + (y + 1) * g.ow, gpad.data() + y * g.ow_pad);
          }
          weight_grad(plane.data(), gpad.data(), acc.data() + j * acc_per_channel, g);
          float* bias_lanes = bias_acc.data() + j * kLanes;
          for (int64_t y = 0; y < g.oh; ++y) {
            for (int64_t x0 = 0; x0 < g.ow_pad; x0 += kLanes) {
              for (int64_t lane = 0; lane < kLanes; ++lane) bias_lanes[lane] += gpad[y * g.ow_pad + x0 + lane];
            }
          }
        }
      }
      for (int64_t j = 0; j < per_group; ++j) {
        float* out = partial.data() + (chunk * channels + group * per_group + j) * (taps + 1);
        const float* a = acc.data() + j * acc_per_channel;
        for (int64_t ky = 0; ky < g.kh; ++ky) {
          for (int64_t kx = 0; kx < g.kw; ++kx) {
            const float* lanes = a + (ky * column_blocks(g) * columns(g) + kx) * kLanes;
            float sum = 0.f;
            for (int64_t lane = 0; lane < kLanes; ++lane) sum += lanes[lane];
            out[ky * g.kw + kx] = sum;
          }
        }
        float sum = 0.f;
        for (int64_t lane = 0; lane < kLanes; ++lane) sum += bias_acc[j * kLanes + lane];
        out[taps] = sum;
      }
    }
  });
  at::Tensor dw = at::zeros(weight_sizes, x.options());
  at::Tensor db = with_bias ? at::zeros({channels}, x.options()) : at::Tensor();
  float* w = dw.data_ptr<float>();
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = partial.data() + (chunk * channels + c) * (taps + 1);
      for (int64_t t = 0; t < taps; ++t) w[c * taps + t] += p[t];
      if (with_bias) db.data_ptr<float>()[c] += p[taps];
    }
  }
  return {dw, db};
}

struct ConvOneChannelFunction : public torch::autograd::Function<ConvOneChannelFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias, int64_t ph, int64_t pw) {
    ctx->save_for_backward({x, weight});
    ctx->saved_data["ph"] = ph;
    ctx->saved_data["pw"] = pw;
    ctx->saved_data["has_bias"] = bias.requires_grad();
    return conv_forward(x, weight.contiguous(), bias.contiguous(), ph, pw);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0], weight = ctx->get_saved_variables()[1];
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    const int64_t ph = ctx->saved_data["ph"].toInt(), pw = ctx->saved_data["pw"].toInt();
    const at::Tensor grad = grads[0].contiguous();
    auto [dw, db] = conv_weight_backward(x, grad, weight.sizes(), ph, pw, has_bias);
    at::Tensor dx;
    if (ctx->needs_input_grad(0)) {
      // A depthwise layer inside a network: LibTorch's input gradient. This step as a whole then runs about as fast
      // as LibTorch's (bench/conv_one_channel), and faster than with all three gradients from LibTorch.
      dx = std::get<0>(at::convolution_backward(grad, x, weight, at::IntArrayRef(weight.size(0)), {1, 1}, {ph, pw},
                                                {1, 1}, false, {0, 0}, /*groups=*/x.size(1), {true, false, false}));
    }
    return {dx, dw, db, at::Tensor(), at::Tensor()};
  }
};

/// Every spatial axis has padding >= 0 and an output of at least one value.
bool fits(const at::Tensor& x, const at::Tensor& weight, at::IntArrayRef padding) {
  const int64_t spatial = x.dim() - 2;
  if (static_cast<int64_t>(padding.size()) != spatial) return false;
  for (int64_t i = 0; i < spatial; ++i) {
    if (padding[i] < 0 || x.size(2 + i) + 2 * padding[i] < weight.size(2 + i)) return false;
  }
  return true;
}

}  // namespace

bool conv_one_channel_applies(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                              at::IntArrayRef strides, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups) {
  const bool ones = std::all_of(strides.begin(), strides.end(), [](int64_t s) { return s == 1; }) &&
                    std::all_of(dilation.begin(), dilation.end(), [](int64_t d) { return d == 1; });
  const auto cpu_float = [](const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; };
  if (!ones || (x.dim() != 3 && x.dim() != 4) || weight.dim() != x.dim() || weight.size(1) != 1) return false;
  // One input channel, or one per group (depthwise, with any multiplier).
  const bool per_channel = groups == x.size(1) && groups > 0 && weight.size(0) % groups == 0;
  return per_channel && x.size(0) > 0 && weight.size(0) > 0 && cpu_float(x) && cpu_float(weight) &&
         (!bias.defined() || cpu_float(bias)) && x.numel() < (int64_t{1} << 31) && fits(x, weight, padding);
}

at::Tensor conv_one_channel(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::IntArrayRef padding) {
  // 1-D is 2-D with planes of height 1.
  const bool one_d = x.dim() == 3;
  at::Tensor x4 = (one_d ? x.unsqueeze(2) : x).contiguous();
  at::Tensor w4 = one_d ? weight.unsqueeze(2) : weight;
  const int64_t ph = one_d ? 0 : padding[0], pw = padding.back();
  at::Tensor out;
  if (at::GradMode::is_enabled() &&
      (x.requires_grad() || weight.requires_grad() || (bias.defined() && bias.requires_grad()))) {
    // A custom Function takes no undefined tensors: no bias is a zero bias that wants no gradient.
    const at::Tensor b = bias.defined() ? bias : at::zeros({weight.size(0)}, weight.options().requires_grad(false));
    out = ConvOneChannelFunction::apply(x4, w4, b, ph, pw);
  } else {
    out = conv_forward(x4, w4.contiguous(), bias.defined() ? bias.contiguous() : bias, ph, pw);
  }
  return one_d ? out.squeeze(2) : out;
}

}  // namespace snare::exec::detail
