#include "exec/augment.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "common/error.h"

namespace snare::exec {

namespace {

/// How the CLI knows which flag a message is about (cli/flag_names.cpp).
constexpr const char* kField = "parse_augment(spec)";

double parse_number(const std::string& key, const std::string& value) {
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(v >= 0) || !std::isfinite(v)) {
    throw OptionError(kField, fmt::format("{} must be a number >= 0, got '{}'", key, value));
  }
  return v;
}

}  // namespace

Augment parse_augment(const std::string& spec) {
  if (spec == "none" || spec.empty()) return {};
  if (spec == "default") return {0.2, 0, 0};
  Augment a;
  for (size_t begin = 0; begin <= spec.size();) {
    size_t end = std::min(spec.find(',', begin), spec.size());
    const std::string item = spec.substr(begin, end - begin);
    begin = end + 1;
    auto eq = item.find('=');
    std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "scale") {
      a.scale = parse_number(key, value);
    } else if (key == "noise") {
      a.noise = parse_number(key, value);
    } else if (key == "shift") {
      double v = parse_number(key, value);
      if (v > 1e6 || v != std::floor(v)) {
        throw OptionError(kField, fmt::format("shift must be a whole number of steps up to 1000000, got '{}'", value));
      }
      a.shift = static_cast<int64_t>(v);
    } else {
      throw OptionError(kField, fmt::format("expected none, default or scale=F,noise=F,shift=N, got '{}' in '{}'", item, spec));
    }
  }
  return a;
}

std::string augment_spec(const Augment& a) {
  if (!a.enabled()) return "none";
  return fmt::format("scale={},noise={},shift={}", a.scale, a.noise, a.shift);
}

at::Tensor augment_batch(const at::Tensor& x, const Augment& a, at::Generator& generator) {
  if (!a.enabled() || x.dim() < 2) return x;
  at::TensorOptions real = x.options();
  at::Tensor out = x;
  if (a.shift > 0) {
    // One offset per sample and axis; indices clamped at the edges, so no sample wraps around.
    const int64_t b = x.size(0);
    for (int64_t d = 2; d < x.dim(); ++d) {
      const int64_t len = x.size(d);
      at::Tensor offset = at::randint(-a.shift, a.shift + 1, {b}, generator, at::TensorOptions(at::kLong));
      std::vector<int64_t> view(static_cast<size_t>(x.dim()), 1);
      view[0] = b;
      view[static_cast<size_t>(d)] = len;
      at::Tensor idx = (at::arange(len, at::TensorOptions(at::kLong)).unsqueeze(0) + offset.unsqueeze(1))
                           .clamp(0, len - 1)
                           .view(view)
                           .to(x.device())
                           .expand(out.sizes());
      out = out.gather(d, idx);
    }
  }
  if (a.scale > 0) {
    std::vector<int64_t> gain_shape(static_cast<size_t>(x.dim()), 1);
    gain_shape[0] = x.size(0);
    gain_shape[1] = x.size(1);
    at::Tensor gain = at::normal(1.0, a.scale, gain_shape, generator, at::TensorOptions(at::kFloat)).to(real);
    out = out * gain;
  }
  if (a.noise > 0) {
    out = out + at::normal(0.0, a.noise, x.sizes(), generator, at::TensorOptions(at::kFloat)).to(real);
  }
  return out;
}

}  // namespace snare::exec
