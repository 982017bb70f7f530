// snare::exec augmentation: random perturbations of training batches, so that small models learn what
// stays the same across recording conditions (sensor gain, noise, timing) instead of the training
// subjects' quirks. Applied to inputs after scaling; validation and test data are never touched.
//
//   exec::Augment a = exec::parse_augment("scale=0.1,noise=0.05,shift=8");
//   at::Tensor xb = exec::augment_batch(x, a, generator);
#pragma once

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include <string>

namespace snare::exec {

struct Augment {
  double scale = 0;   ///< per-sample, per-channel gain factor 1 + N(0, scale)
  double noise = 0;   ///< additive N(0, noise) per value
  int64_t shift = 0;  ///< per-sample shift of up to +-shift steps along each axis after the channel (edges repeated)
  bool enabled() const { return scale > 0 || noise > 0 || shift > 0; }
};

/// Parses "none" or a comma list of scale=F, noise=F, shift=N; "default" is scale=0.2 (the best of those
/// measured on HAR, docs/search.md).
/// Throws OptionError (field "parse_augment(spec)") for unknown keys or bad values.
Augment parse_augment(const std::string& spec);

/// "scale=0.1,noise=0.05,shift=8" or "none" (the form parse_augment reads).
std::string augment_spec(const Augment& a);

/// A perturbed copy of batch `x` ([B, C, ...]); `x` itself when `a` is not enabled.
at::Tensor augment_batch(const at::Tensor& x, const Augment& a, at::Generator& generator);

}  // namespace snare::exec
