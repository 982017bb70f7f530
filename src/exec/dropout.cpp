// Training-mode dropout for float CPU tensors. LibTorch 1.13 without MKL draws its Bernoulli mask one element at a
// time from the Mersenne Twister, serially: 15-17 ms for har-cnn's 1M activations of a 128 batch, most of a training
// step. Here the mask comes from a counter-based hash of (element index, one 64-bit key drawn from LibTorch's default
// generator per call), computed in parallel and vectorised: the same seed gives the same masks at any thread count.
// The output is x * noise with noise = 1/(1-rate) or 0, as LibTorch computes it, and the gradient grad * noise. The
// backward recomputes the mask from the key, so nothing but the key is saved and no noise tensor is allocated.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>
#include <mutex>

#include "exec/cpu_clones.h"
#include "exec/lowering.h"

namespace snare::exec::detail {

namespace {

/// A 32-bit integer hash with full avalanche (two multiply-xorshift rounds).
inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

/// out[i] = in[i] * noise[i], noise[i] = scale where the hash's top 24 bits fall below `threshold` (keep probability
/// threshold / 2^24), else 0.
SNARE_CPU_CLONES void times_noise(
    const float* in, float* out, int64_t begin, int64_t end, uint32_t key_lo, uint32_t key_hi, uint32_t threshold,
    float scale) {
  for (int64_t i = begin; i < end; ++i) {
    const uint32_t bits = mix32(mix32(static_cast<uint32_t>(i) + key_lo) ^ key_hi);
    out[i] = in[i] * ((bits >> 8) < threshold ? scale : 0.0f);
  }
}

/// t * noise(rate, key), t float on the CPU.
at::Tensor apply_noise(const at::Tensor& t, double rate, uint64_t key) {
  // LibTorch's noise: 1.0f divided by the keep probability as a float.
  const float scale = 1.0f / static_cast<float>(1 - rate);
  const auto threshold = static_cast<uint32_t>((1 - rate) * double(1 << 24) + 0.5);
  at::Tensor in = t.contiguous();
  at::Tensor out = at::empty(in.sizes(), in.options());
  const float* in_data = in.data_ptr<float>();
  float* out_data = out.data_ptr<float>();
  at::parallel_for(0, in.numel(), 65536, [&](int64_t begin, int64_t end) {
    times_noise(in_data, out_data, begin, end, static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32), threshold,
                scale);
  });
  return out;
}

struct DropoutFunction : public torch::autograd::Function<DropoutFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, double rate, int64_t key) {
    ctx->saved_data["rate"] = rate;
    ctx->saved_data["key"] = key;
    return apply_noise(x, rate, static_cast<uint64_t>(key));
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const double rate = ctx->saved_data["rate"].toDouble();
    const auto key = static_cast<uint64_t>(ctx->saved_data["key"].toInt());
    return {apply_noise(grads[0], rate, key), at::Tensor(), at::Tensor()};
  }
};

uint64_t draw_key() {
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return at::check_generator<at::CPUGeneratorImpl>(gen)->random64();
}

}  // namespace

at::Tensor dropout(const at::Tensor& x, double rate) {
  const bool fast = x.device().is_cpu() && x.scalar_type() == at::kFloat && x.numel() < (int64_t{1} << 32) &&
                    rate > 0 && rate < 1;
  if (!fast) return at::dropout(x, rate, /*train=*/true);
  const uint64_t key = draw_key();
  if (at::GradMode::is_enabled() && x.requires_grad()) {
    return DropoutFunction::apply(x, rate, static_cast<int64_t>(key));
  }
  return apply_noise(x, rate, key);
}

}  // namespace snare::exec::detail
