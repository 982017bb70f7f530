// Compiled with -ffp-contract=off (src/exec/CMakeLists.txt): every fused multiply-add below is written out as
// std::fma where LibTorch's kernel uses one, and nowhere else, so the rounding is LibTorch's.
#include "exec/fused_optimizer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>
#include <utility>

#include "exec/cpu_clones.h"
#include "exec/train.h"

namespace snare::exec {

namespace {

/// Adam's per-step constants, as LibTorch 1.13 converts them to float for its kernels.
struct AdamConstants {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_correction2, eps, neg_step_size, weight_decay;
};

/// PyTorch's Adam for one range of elements, in LibTorch's operation order: grad*mask (mul_), + decay*p (add with
/// alpha: an FMA), m = m*b1 then + (1-b1)*g (FMA), v = v*b2 then + ((1-b2)*g)*g (addcmul: the compiler fused its
/// last multiply and add), denominator sqrt(v) / sqrt(correction2) + eps, p += (-step*m) / denominator (addcdiv),
/// then p*mask. Which operations fuse was found by comparing each candidate rounding with LibTorch's results.
SNARE_CPU_CLONES void adam_range(
    float* p, const float* g, const float* mask, float* m, float* v, int64_t begin, int64_t end, AdamConstants c,
    bool decay) {
  for (int64_t i = begin; i < end; ++i) {
    float grad = mask ? g[i] * mask[i] : g[i];
    if (decay) grad = std::fma(p[i], c.weight_decay, grad);
    const float mi = std::fma(grad, c.one_minus_beta1, m[i] * c.beta1);
    const float vi = std::fma(c.one_minus_beta2 * grad, grad, v[i] * c.beta2);
    const float denom = std::sqrt(vi) / c.sqrt_correction2 + c.eps;
    const float pi = p[i] + c.neg_step_size * mi / denom;
    m[i] = mi;
    v[i] = vi;
    p[i] = mask ? pi * mask[i] : pi;
  }
}

/// PyTorch's SGD with momentum (no dampening) for one range: buf = g on the first step, else buf*momentum + g;
/// p += -lr * buf (add with alpha: an FMA), then p*mask.
SNARE_CPU_CLONES void sgd_range(
    float* p, const float* g, const float* mask, float* buf, int64_t begin, int64_t end, float momentum,
    float neg_lr, float weight_decay, bool decay, bool first) {
  for (int64_t i = begin; i < end; ++i) {
    float grad = mask ? g[i] * mask[i] : g[i];
    if (decay) grad = std::fma(p[i], weight_decay, grad);
    float step = grad;
    if (buf) {
      step = first ? grad : std::fma(grad, 1.0f, buf[i] * momentum);
      buf[i] = step;
    }
    const float pi = std::fma(step, neg_lr, p[i]);
    p[i] = mask ? pi * mask[i] : pi;
  }
}

/// The loops need float CPU tensors laid out alike; anything else (CUDA, other layouts) takes tensor operations.
bool loopable(const at::Tensor& param, const at::Tensor& grad, const at::Tensor& mask) {
  auto plain = [&](const at::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == at::kFloat && t.is_contiguous() && t.sizes() == param.sizes();
  };
  return plain(param) && plain(grad) && (!mask.defined() || plain(mask));
}

/// Elements per task: LibTorch's own grain for element-wise kernels.
constexpr int64_t kGrain = 32768;

}  // namespace

FusedOptimizer::FusedOptimizer(std::vector<at::Tensor> params, std::vector<at::Tensor> masks,
                               const TrainOptions& options)
    : adam_(options.optimizer == Optimizer::kAdam),
      lr_(options.lr),
      momentum_(options.momentum),
      weight_decay_(options.weight_decay) {
  for (size_t i = 0; i < params.size(); ++i) {
    Slot s;
    s.param = std::move(params[i]);
    if (i < masks.size()) s.mask = std::move(masks[i]);
    slots_.push_back(std::move(s));
  }
}

void FusedOptimizer::zero_grad() {
  for (Slot& s : slots_) s.param.mutable_grad() = at::Tensor();
}

void FusedOptimizer::step() {
  at::NoGradGuard no_grad;
  for (Slot& s : slots_) {
    const at::Tensor& grad = s.param.grad();
    if (!grad.defined()) continue;
    if (adam_) {
      adam(s, grad);
    } else {
      sgd(s, grad);
    }
  }
}

void FusedOptimizer::adam(Slot& s, const at::Tensor& grad) {
  constexpr double kBeta1 = 0.9, kBeta2 = 0.999, kEps = 1e-8;
  if (s.steps == 0) {
    s.first = at::zeros_like(s.param, at::MemoryFormat::Preserve);
    s.second = at::zeros_like(s.param, at::MemoryFormat::Preserve);
  }
  ++s.steps;
  const double correction1 = 1 - std::pow(kBeta1, static_cast<double>(s.steps));
  const double correction2 = 1 - std::pow(kBeta2, static_cast<double>(s.steps));
  const double step_size = lr_ / correction1;
  if (!loopable(s.param, grad, s.mask) || !s.first.is_contiguous() || !s.second.is_contiguous()) {
    at::Tensor g = s.mask.defined() ? grad * s.mask : grad;
    if (weight_decay_ != 0) g = g.add(s.param, weight_decay_);
    s.first.mul_(kBeta1).add_(g, 1 - kBeta1);
    s.second.mul_(kBeta2).addcmul_(g, g, 1 - kBeta2);
    at::Tensor denom = (s.second.sqrt() / std::sqrt(correction2)).add_(kEps);
    s.param.addcdiv_(s.first, denom, -step_size);
    if (s.mask.defined()) s.param.mul_(s.mask);
    return;
  }
  const AdamConstants c{static_cast<float>(kBeta1),
                        static_cast<float>(1 - kBeta1),
                        static_cast<float>(kBeta2),
                        static_cast<float>(1 - kBeta2),
                        static_cast<float>(std::sqrt(correction2)),
                        static_cast<float>(kEps),
                        static_cast<float>(-step_size),
                        static_cast<float>(weight_decay_)};
  float* p = s.param.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  const float* mask = s.mask.defined() ? s.mask.data_ptr<float>() : nullptr;
  float* m = s.first.data_ptr<float>();
  float* v = s.second.data_ptr<float>();
  const bool decay = weight_decay_ != 0;
  at::parallel_for(0, s.param.numel(), kGrain, [&](int64_t begin, int64_t end) {
    adam_range(p, g, mask, m, v, begin, end, c, decay);
  });
}

void FusedOptimizer::sgd(Slot& s, const at::Tensor& grad) {
  const bool first = s.steps == 0;
  if (first && momentum_ != 0) s.first = at::empty_like(s.param, at::MemoryFormat::Preserve);
  ++s.steps;
  if (!loopable(s.param, grad, s.mask) || (s.first.defined() && !s.first.is_contiguous())) {
    at::Tensor g = s.mask.defined() ? grad * s.mask : grad;
    if (weight_decay_ != 0) g = g.add(s.param, weight_decay_);
    if (momentum_ != 0) {
      if (first) {
        s.first.copy_(g);
      } else {
        s.first.mul_(momentum_).add_(g, 1);
      }
      g = s.first;
    }
    s.param.add_(g, -lr_);
    if (s.mask.defined()) s.param.mul_(s.mask);
    return;
  }
  float* p = s.param.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  const float* mask = s.mask.defined() ? s.mask.data_ptr<float>() : nullptr;
  float* buf = s.first.defined() ? s.first.data_ptr<float>() : nullptr;
  const float momentum = static_cast<float>(momentum_), neg_lr = static_cast<float>(-lr_);
  const float decay_f = static_cast<float>(weight_decay_);
  const bool decay = weight_decay_ != 0;
  at::parallel_for(0, s.param.numel(), kGrain, [&](int64_t begin, int64_t end) {
    sgd_range(p, g, mask, buf, begin, end, momentum, neg_lr, decay_f, decay, first);
  });
}

}  // namespace snare::exec
