#include "ir/graph.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "common/error.h"
#include "common/fingerprint.h"
#include "ir/limits.h"

namespace snare::ir {

namespace {

int64_t product(const Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

std::string where(const Layer& l) { return fmt::format("layer '{}' ({})", l.name, kind_name(l.kind)); }

std::string tensor_shape(const at::Tensor& t) {
  std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
  return fmt::format("[{}]", fmt::join(sizes, ","));
}

/// Output length of a convolution or pool along one axis (Keras/TensorFlow conventions).
int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t d, Padding p) {
  if (p == Padding::kSame) return (in + s - 1) / s;
  int64_t span = d * (k - 1) + 1;
  return in < span ? 0 : (in - span) / s + 1;
}

void expect_weight(const Layer& l, const char* name, const std::vector<int64_t>& expected) {
  auto it = l.weights.find(name);
  if (it == l.weights.end()) throw ModelError(fmt::format("{}: missing weight '{}'", where(l), name));
  std::vector<int64_t> got(it->second.sizes().begin(), it->second.sizes().end());
  if (got != expected) {
    throw ModelError(fmt::format("{}: weight '{}' has shape {} but expected [{}] from the layer's configuration",
                                 where(l), name, tensor_shape(it->second), fmt::join(expected, ",")));
  }
}

void expect_rank(const Layer& l, const Shape& in, size_t rank) {
  if (in.size() != rank) {
    throw ModelError(fmt::format("{}: expects an input of rank {} (per sample) but got {}", where(l), rank,
                                 shape_string(in)));
  }
}

/// Every window attribute within its legal range before any arithmetic on it: a stride of 0 divided by zero, and a
/// file can declare anything. The upper bound keeps d * (k - 1) + 1 far from overflowing.
void check_window(const Layer& l, size_t spatial) {
  auto check = [&](const char* what, const std::vector<int64_t>& values, bool may_be_empty) {
    if (values.empty() && may_be_empty) return;
    if (values.size() != spatial) {
      throw ModelError(fmt::format("{}: {} has {} values, expected {} (one per spatial axis)", where(l), what,
                                   values.size(), spatial));
    }
    for (int64_t v : values) {
      if (v < 1 || v > kMaxWindowExtent) {
        throw ModelError(fmt::format("{}: {} {} must be between 1 and {}", where(l), what, fmt::join(values, "x"), kMaxWindowExtent));
      }
    }
  };
  check("kernel", l.kernel, false);
  check("strides", l.strides, true);
  check("dilation", l.dilation, true);
}

/// ZeroPadding sizes: >= 0, and small enough that adding them cannot overflow.
void check_pads(const Layer& l) {
  for (int64_t p : l.pads) {
    if (p < 0 || p > kMaxWindowExtent) {
      throw ModelError(fmt::format("{}: padding ({}) must be between 0 and {}", where(l), fmt::join(l.pads, ","),
                                   kMaxWindowExtent));
    }
  }
}

Shape windowed(const Layer& l, const Shape& in, size_t spatial, int64_t channels) {
  expect_rank(l, in, spatial + 1);
  check_window(l, spatial);
  Shape out{channels};
  for (size_t i = 0; i < spatial; ++i) {
    int64_t s = l.strides.empty() ? 1 : l.strides.at(i);
    int64_t d = l.dilation.empty() ? 1 : l.dilation.at(i);
    int64_t o = window_out(in[i + 1], l.kernel[i], s, d, l.padding);
    if (o <= 0) throw ModelError(fmt::format("{}: window {} does not fit input {}", where(l), l.kernel[i], shape_string(in)));
    out.push_back(o);
  }
  return out;
}

Shape infer_conv(const Layer& l, const Shape& in, size_t spatial) {
  Shape out = windowed(l, in, spatial, l.units);
  if (l.groups < 1 || in[0] % l.groups != 0 || l.units % l.groups != 0) {
    throw ModelError(fmt::format("{}: groups {} must divide the input channels {} and the filters {}", where(l),
                                 l.groups, in[0], l.units));
  }
  std::vector<int64_t> w{l.units, in[0] / l.groups};
  w.insert(w.end(), l.kernel.begin(), l.kernel.end());
  expect_weight(l, "weight", w);
  if (l.use_bias) expect_weight(l, "bias", {l.units});
  return out;
}

Shape infer_separable(const Layer& l, const Shape& in, size_t spatial) {
  Shape out = windowed(l, in, spatial, l.units);
  if (l.multiplier < 1) throw ModelError(fmt::format("{}: depth multiplier {} must be >= 1", where(l), l.multiplier));
  const int64_t depth = in[0] * l.multiplier;
  std::vector<int64_t> dw{depth, 1}, pw{l.units, depth};
  dw.insert(dw.end(), l.kernel.begin(), l.kernel.end());
  pw.insert(pw.end(), spatial, 1);
  expect_weight(l, "depthwise", dw);
  expect_weight(l, "weight", pw);
  if (l.use_bias) expect_weight(l, "bias", {l.units});
  return out;
}

Shape infer_pool(const Layer& l, const Shape& in, size_t spatial) {
  Layer pool = l;
  if (pool.strides.empty()) pool.strides = pool.kernel;
  return windowed(pool, in, spatial, in.at(0));
}

Shape infer_reshape(const Layer& l, const Shape& in) {
  Shape target = l.target_shape;
  int64_t known = 1;
  int unknown = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (unknown >= 0) throw ModelError(fmt::format("{}: more than one -1 in target shape", where(l)));
      unknown = static_cast<int>(i);
    } else {
      known *= target[i];
    }
  }
  if (unknown >= 0 && known > 0) target[unknown] = product(in) / known;
  if (product(target) != product(in)) {
    throw ModelError(fmt::format("{}: cannot reshape {} ({} values) to {}", where(l), shape_string(in), product(in),
                                 shape_string(l.target_shape)));
  }
  return target;
}

/// Element-wise merges: operands of one rank whose axes agree or are 1 (broadcast), as Keras' merge layers allow.
Shape infer_merge(const Layer& l, const std::vector<Shape>& ins) {
  if (ins.size() < 2) throw ModelError(fmt::format("{}: needs at least 2 inputs", where(l)));
  if (l.kind == LayerKind::kSubtract && ins.size() != 2) {
    throw ModelError(fmt::format("{}: takes exactly 2 inputs, got {}", where(l), ins.size()));
  }
  Shape out = ins[0];
  for (const Shape& s : ins) {
    bool fits = s.size() == out.size();
    for (size_t i = 0; fits && i < s.size(); ++i) {
      fits = s[i] == out[i] || s[i] == 1 || out[i] == 1;
      if (fits) out[i] = std::max(out[i], s[i]);
    }
    if (!fits) {
      throw ModelError(fmt::format("{}: operand shapes differ: {} vs {} (axes must agree or be 1)", where(l),
                                   shape_string(ins[0]), shape_string(s)));
    }
  }
  return out;
}

/// Cropping1D/2D: `pads` {before, after} per spatial axis are removed; something must remain.
Shape infer_cropping(const Layer& l, const Shape& in, size_t spatial) {
  expect_rank(l, in, spatial + 1);
  if (l.pads.size() != 2 * spatial) throw ModelError(fmt::format("{}: needs {} crop sizes", where(l), 2 * spatial));
  Shape out{in[0]};
  for (size_t i = 0; i < spatial; ++i) {
    int64_t o = in[i + 1] - l.pads[2 * i] - l.pads[2 * i + 1];
    if (l.pads[2 * i] < 0 || l.pads[2 * i + 1] < 0 || o <= 0) {
      throw ModelError(fmt::format("{}: cropping ({}) leaves nothing of input {}", where(l), fmt::join(l.pads, ","),
                                   shape_string(in)));
    }
    out.push_back(o);
  }
  return out;
}

Shape infer_upsampling(const Layer& l, const Shape& in, size_t spatial) {
  expect_rank(l, in, spatial + 1);
  if (l.scale.size() != spatial) throw ModelError(fmt::format("{}: needs {} scale factors", where(l), spatial));
  Shape out{in[0]};
  for (size_t i = 0; i < spatial; ++i) {
    if (l.scale[i] < 1 || l.scale[i] > kMaxWindowExtent) {
      throw ModelError(fmt::format("{}: scale {} must be between 1 and {}", where(l), l.scale[i], kMaxWindowExtent));
    }
    out.push_back(in[i + 1] * l.scale[i]);
  }
  return out;
}

Shape infer_one(const Layer& l, const std::vector<Shape>& ins) {
  auto single = [&]() -> const Shape& {
    if (ins.size() != 1) throw ModelError(fmt::format("{}: expects 1 input, got {}", where(l), ins.size()));
    return ins[0];
  };
  switch (l.kind) {
    case LayerKind::kInput:
      if (l.input_shape.empty()) throw ModelError(fmt::format("{}: input shape not set", where(l)));
      return l.input_shape;
    case LayerKind::kDense: {
      const Shape& in = single();
      expect_rank(l, in, 1);
      expect_weight(l, "weight", {l.units, in[0]});
      if (l.use_bias) expect_weight(l, "bias", {l.units});
      return {l.units};
    }
    case LayerKind::kConv1D: return infer_conv(l, single(), 1);
    case LayerKind::kConv2D: return infer_conv(l, single(), 2);
    case LayerKind::kDepthwiseConv2D: {
      const Shape& in = single();
      expect_rank(l, in, 3);
      if (l.multiplier < 1) throw ModelError(fmt::format("{}: depth multiplier {} must be >= 1", where(l), l.multiplier));
      if (l.units != in[0] * l.multiplier) {
        throw ModelError(fmt::format("{}: {} channels but the input has {} channels x multiplier {}", where(l), l.units,
                                     in[0], l.multiplier));
      }
      Shape out = windowed(l, in, 2, l.units);
      std::vector<int64_t> w{l.units, 1};
      w.insert(w.end(), l.kernel.begin(), l.kernel.end());
      expect_weight(l, "weight", w);
      if (l.use_bias) expect_weight(l, "bias", {l.units});
      return out;
    }
    case LayerKind::kMaxPool1D:
    case LayerKind::kAvgPool1D: return infer_pool(l, single(), 1);
    case LayerKind::kMaxPool2D:
    case LayerKind::kAvgPool2D: return infer_pool(l, single(), 2);
    case LayerKind::kGlobalAvgPool1D:
    case LayerKind::kGlobalMaxPool1D:
      expect_rank(l, single(), 2);
      return l.keepdims ? Shape{ins[0][0], 1} : Shape{ins[0][0]};
    case LayerKind::kGlobalAvgPool2D:
    case LayerKind::kGlobalMaxPool2D:
      expect_rank(l, single(), 3);
      return l.keepdims ? Shape{ins[0][0], 1, 1} : Shape{ins[0][0]};
    case LayerKind::kFlatten: return {product(single())};
    case LayerKind::kReshape: return infer_reshape(l, single());
    case LayerKind::kZeroPadding1D: {
      const Shape& in = single();
      expect_rank(l, in, 2);
      if (l.pads.size() != 2) throw ModelError(fmt::format("{}: needs 2 pads", where(l)));
      check_pads(l);
      return {in[0], in[1] + l.pads[0] + l.pads[1]};
    }
    case LayerKind::kZeroPadding2D: {
      const Shape& in = single();
      expect_rank(l, in, 3);
      if (l.pads.size() != 4) throw ModelError(fmt::format("{}: needs 4 pads", where(l)));
      check_pads(l);
      return {in[0], in[1] + l.pads[0] + l.pads[1], in[2] + l.pads[2] + l.pads[3]};
    }
    case LayerKind::kDropout:
    case LayerKind::kActivation: return single();
    case LayerKind::kBatchNorm: {
      const Shape& in = single();
      if (in.empty()) throw ModelError(fmt::format("{}: needs a channel axis", where(l)));
      if (l.use_scale) expect_weight(l, "weight", {in[0]});
      if (l.use_bias) expect_weight(l, "bias", {in[0]});
      for (const char* w : {"running_mean", "running_var"}) expect_weight(l, w, {in[0]});
      return in;
    }
    case LayerKind::kAdd:
    case LayerKind::kSubtract:
    case LayerKind::kMultiply:
    case LayerKind::kAverage:
    case LayerKind::kMaximum:
    case LayerKind::kMinimum: return infer_merge(l, ins);
    case LayerKind::kConcatenate: {
      if (ins.empty()) throw ModelError(fmt::format("{}: needs inputs", where(l)));
      Shape out = ins[0];
      auto axis = static_cast<size_t>(l.axis);
      if (l.axis < 0 || axis >= out.size()) throw ModelError(fmt::format("{}: axis {} out of range", where(l), l.axis));
      for (size_t i = 1; i < ins.size(); ++i) {
        Shape a = ins[i], b = ins[0];
        if (a.size() != b.size()) throw ModelError(fmt::format("{}: operand ranks differ", where(l)));
        a[axis] = b[axis] = 0;
        if (a != b) {
          throw ModelError(fmt::format("{}: operand shapes {} and {} differ outside axis {}", where(l),
                                       shape_string(ins[0]), shape_string(ins[i]), l.axis));
        }
        out[axis] += ins[i][axis];
      }
      return out;
    }
    case LayerKind::kLSTM:
    case LayerKind::kGRU:
    case LayerKind::kSimpleRNN: {
      const Shape& in = single();
      expect_rank(l, in, 2);
      const int64_t rows = gate_count(l.kind) * l.units;
      for (bool reverse : {false, true}) {
        if (reverse && !l.bidirectional) break;
        std::vector<std::string> names = recurrent_weight_names(l, reverse);
        expect_weight(l, names[0].c_str(), {rows, in[0]});
        expect_weight(l, names[1].c_str(), {rows, l.units});
        if (l.use_bias) {
          expect_weight(l, names[2].c_str(), {rows});
          expect_weight(l, names[3].c_str(), {rows});
        }
      }
      if (!l.bidirectional) {
        for (const auto& [name, w] : l.weights) {
          if (name.size() > 8 && name.compare(name.size() - 8, 8, "_reverse") == 0) {
            throw ModelError(fmt::format("{}: has backward weight '{}' but is not bidirectional", where(l), name));
          }
        }
      }
      const int64_t out = recurrent_output_units(l);
      return l.return_sequences ? Shape{out, in[1]} : Shape{out};
    }
    case LayerKind::kPermute: {
      const Shape& in = single();
      std::vector<bool> seen(in.size(), false);
      bool valid = l.permutation.size() == in.size();
      for (size_t i = 0; valid && i < l.permutation.size(); ++i) {
        int64_t p = l.permutation[i];
        valid = p >= 0 && static_cast<size_t>(p) < in.size() && !seen[static_cast<size_t>(p)];
        if (valid) seen[static_cast<size_t>(p)] = true;
      }
      if (!valid) {
        throw ModelError(fmt::format("{}: permutation ({}) is not a permutation of the {} axes of its input {}", where(l),
                                     fmt::join(l.permutation, ", "), in.size(), shape_string(in)));
      }
      Shape out;
      for (int64_t p : l.permutation) out.push_back(in[static_cast<size_t>(p)]);
      return out;
    }
    case LayerKind::kCropping1D: return infer_cropping(l, single(), 1);
    case LayerKind::kCropping2D: return infer_cropping(l, single(), 2);
    case LayerKind::kUpSampling1D: return infer_upsampling(l, single(), 1);
    case LayerKind::kUpSampling2D: return infer_upsampling(l, single(), 2);
    case LayerKind::kSeparableConv1D: return infer_separable(l, single(), 1);
    case LayerKind::kSeparableConv2D: return infer_separable(l, single(), 2);
  }
  throw InternalError("unknown layer kind");
}

uint64_t tensor_fnv1a(const at::Tensor& t) {
  at::Tensor c = t.to(at::kCPU).contiguous();
  return snare::fnv1a(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
}

std::string join_ints(const std::vector<int64_t>& v, const char* sep) { return fmt::format("{}", fmt::join(v, sep)); }

std::string attributes(const Layer& l) {
  std::string a;
  auto add = [&](const std::string& s) { a += (a.empty() ? "" : " ") + s; };
  switch (l.kind) {
    case LayerKind::kInput: add("shape=" + shape_string(l.input_shape)); break;
    case LayerKind::kDense:
      add(fmt::format("units={} activation={} bias={}", l.units, activation_name(l.activation), l.use_bias));
      break;
    case LayerKind::kConv1D:
    case LayerKind::kConv2D:
      add(fmt::format("filters={} kernel={} strides={} dilation={} padding={} activation={} bias={}", l.units,
                      join_ints(l.kernel, "x"), join_ints(l.strides, "x"), join_ints(l.dilation, "x"),
                      l.padding == Padding::kSame ? "same" : "valid", activation_name(l.activation), l.use_bias));
      if (l.groups != 1) add(fmt::format("groups={}", l.groups));
      break;
    case LayerKind::kSeparableConv1D:
    case LayerKind::kSeparableConv2D:
      add(fmt::format("filters={} multiplier={}", l.units, l.multiplier));
      [[fallthrough]];
    case LayerKind::kDepthwiseConv2D:
      if (l.kind == LayerKind::kDepthwiseConv2D) add(fmt::format("multiplier={}", l.multiplier));
      add(fmt::format("kernel={} strides={} dilation={} padding={} activation={} bias={}", join_ints(l.kernel, "x"),
                      join_ints(l.strides, "x"), join_ints(l.dilation, "x"), l.padding == Padding::kSame ? "same" : "valid", activation_name(l.activation), l.use_bias));
      break;
    case LayerKind::kMaxPool1D:
    case LayerKind::kMaxPool2D:
    case LayerKind::kAvgPool1D:
    case LayerKind::kAvgPool2D:
      add(fmt::format("pool={} strides={} padding={}", join_ints(l.kernel, "x"), join_ints(l.strides, "x"),
                      l.padding == Padding::kSame ? "same" : "valid"));
      break;
    case LayerKind::kGlobalAvgPool1D:
    case LayerKind::kGlobalAvgPool2D:
    case LayerKind::kGlobalMaxPool1D:
    case LayerKind::kGlobalMaxPool2D:
      if (l.keepdims) add("keepdims=true");
      break;
    case LayerKind::kFlatten: add(fmt::format("order={}", l.channels_last ? "channels_last" : "channels_first")); break;
    case LayerKind::kReshape:
      add(fmt::format("target={} order={}", shape_string(l.target_shape),
                      l.channels_last ? "channels_last" : "channels_first"));
      break;
    case LayerKind::kZeroPadding1D:
    case LayerKind::kZeroPadding2D: add("pads=" + join_ints(l.pads, ",")); break;
    case LayerKind::kCropping1D:
    case LayerKind::kCropping2D: add("crops=" + join_ints(l.pads, ",")); break;
    case LayerKind::kUpSampling1D:
    case LayerKind::kUpSampling2D: add("scale=" + join_ints(l.scale, "x")); break;
    case LayerKind::kDropout: add(fmt::format("rate={}", l.rate)); break;
    case LayerKind::kBatchNorm:
      add(fmt::format("epsilon={} momentum={}", l.epsilon, l.momentum));
      if (!l.use_scale) add("scale=false");
      if (!l.use_bias) add("center=false");
      break;
    case LayerKind::kPermute: add("permutation=" + join_ints(l.permutation, ",")); break;
    case LayerKind::kActivation: add(fmt::format("activation={}", activation_name(l.activation))); break;
    case LayerKind::kAdd:
    case LayerKind::kSubtract:
    case LayerKind::kMultiply:
    case LayerKind::kAverage:
    case LayerKind::kMaximum:
    case LayerKind::kMinimum: break;
    case LayerKind::kConcatenate: add(fmt::format("axis={}", l.axis)); break;
    case LayerKind::kLSTM:
      add(fmt::format("units={} recurrent_activation={} return_sequences={} bias={}", l.units,
                      activation_name(l.recurrent_activation), l.return_sequences, l.use_bias));
      break;
    case LayerKind::kGRU:
      add(fmt::format("units={} activation={} recurrent_activation={} reset_after={} return_sequences={} bias={}",
                      l.units, activation_name(l.activation), activation_name(l.recurrent_activation), l.reset_after,
                      l.return_sequences, l.use_bias));
      break;
    case LayerKind::kSimpleRNN:
      add(fmt::format("units={} activation={} return_sequences={} bias={}", l.units, activation_name(l.activation),
                      l.return_sequences, l.use_bias));
      break;
  }
  if (l.activation == Activation::kLeakyRelu || l.activation == Activation::kElu) add(fmt::format("alpha={}", l.alpha));
  if (is_recurrent(l.kind) && l.bidirectional) add(fmt::format("bidirectional merge_mode={}", merge_mode_name(l.merge_mode)));
  return a;
}

}  // namespace

std::string shape_string(const Shape& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

int Graph::index_of(const std::string& n) const {
  for (size_t i = layers.size(); i-- > 0;) {
    if (layers[i].name == n) return static_cast<int>(i);
  }
  return -1;
}

const Layer& Graph::layer(const std::string& n) const {
  int i = index_of(n);
  if (i < 0) throw ModelError(fmt::format("model '{}' has no layer named '{}'", name, n));
  return layers[static_cast<size_t>(i)];
}

Layer& Graph::layer(const std::string& n) {
  return const_cast<Layer&>(static_cast<const Graph&>(*this).layer(n));
}

const Layer& Graph::input() const {
  if (layers.empty() || layers[0].kind != LayerKind::kInput) {
    throw ModelError(fmt::format("model '{}' does not start with an Input layer", name));
  }
  return layers[0];
}

std::vector<std::string> Graph::output_names() const {
  if (!outputs.empty()) return outputs;
  if (layers.empty()) return {};
  return {layers.back().name};
}

const Layer& Graph::output() const {
  auto names = output_names();
  if (names.size() != 1) throw UnsupportedError(fmt::format("model '{}' has {} outputs; snare supports one", name, names.size()));
  return layer(names[0]);
}

const Shape& Graph::input_shape() const { return input().output_shape; }
const Shape& Graph::output_shape() const { return output().output_shape; }

std::vector<std::string> Graph::consumers(const std::string& n) const {
  std::vector<std::string> out;
  for (const Layer& l : layers) {
    for (const std::string& i : l.inputs) {
      if (i == n) {
        out.push_back(l.name);
        break;
      }
    }
  }
  return out;
}

void Graph::infer_shapes() {
  std::map<std::string, const Shape*> known;
  for (Layer& l : layers) {
    std::vector<Shape> ins;
    for (const std::string& i : l.inputs) {
      auto it = known.find(i);
      if (it == known.end()) {
        throw ModelError(fmt::format("{}: input '{}' is not defined before it", where(l), i));
      }
      ins.push_back(*it->second);
    }
    l.output_shape = infer_one(l, ins);
    known[l.name] = &l.output_shape;
  }
}

void Graph::infer_shape_of_last() {
  if (layers.empty()) return;
  Layer& l = layers.back();
  std::vector<Shape> ins;
  for (const std::string& i : l.inputs) {
    const int k = index_of(i);
    if (k < 0 || k + 1 == static_cast<int>(layers.size())) {
      throw ModelError(fmt::format("{}: input '{}' is not defined before it", where(l), i));
    }
    ins.push_back(layers[static_cast<size_t>(k)].output_shape);
  }
  l.output_shape = infer_one(l, ins);
}

void verify(const Graph& graph) {
  if (graph.layers.empty()) throw ModelError(fmt::format("model '{}' has no layers", graph.name));
  std::set<std::string> names;
  int inputs = 0;
  for (const Layer& l : graph.layers) {
    if (l.name.empty()) throw ModelError("a layer has an empty name");
    if (!names.insert(l.name).second) throw ModelError(fmt::format("duplicate layer name '{}'", l.name));
    if (l.kind == LayerKind::kInput) ++inputs;
    if (has_units(l.kind) && l.units <= 0) throw ModelError(fmt::format("{}: has {} units", where(l), l.units));
    for (const auto& [mask_name, mask] : l.masks) {
      auto w = l.weights.find(mask_name);
      if (w == l.weights.end()) throw ModelError(fmt::format("{}: mask '{}' has no weight", where(l), mask_name));
      if (!mask.sizes().equals(w->second.sizes())) {
        throw ModelError(fmt::format("{}: mask '{}' has shape {} but weight has {}", where(l), mask_name,
                                     tensor_shape(mask), tensor_shape(w->second)));
      }
    }
  }
  if (inputs != 1 || graph.layers[0].kind != LayerKind::kInput) {
    throw UnsupportedError(fmt::format("model '{}' has {} Input layers; snare needs exactly one, first", graph.name, inputs));
  }
  for (const std::string& o : graph.output_names()) {
    if (!names.count(o)) throw ModelError(fmt::format("model '{}': output '{}' is not a layer", graph.name, o));
  }
  for (const Layer& l : graph.layers) {
    if (!l.factorized_from.empty() && !names.count(l.factorized_from)) {
      throw ModelError(fmt::format("{}: factorized from '{}', which is not a layer", where(l), l.factorized_from));
    }
  }
  Graph copy = graph;
  copy.infer_shapes();
}

uint64_t layer_fingerprint(const Layer& l) {
  uint64_t h = snare::fnv1a(fmt::format("{} {} {} -> {}", kind_name(l.kind), attributes(l), l.factorized_from,
                                        shape_string(l.output_shape)));
  for (const auto& [wname, w] : l.weights) {
    h = snare::fnv1a(fmt::format(" {} {} {:016x}", wname, tensor_shape(w), tensor_fnv1a(w)), h);
  }
  for (const auto& [mname, m] : l.masks) h = snare::fnv1a(fmt::format(" mask {} {:016x}", mname, tensor_fnv1a(m)), h);
  return h;
}

std::string dump(const Graph& graph) {
  std::string out = fmt::format("graph {}\n", graph.name.empty() ? "<unnamed>" : graph.name);
  for (const Layer& l : graph.layers) {
    out += fmt::format("{} = {}({})", l.name, kind_name(l.kind), fmt::join(l.inputs, ", "));
    std::string a = attributes(l);
    if (!a.empty()) out += " " + a;
    if (!l.factorized_from.empty()) out += " factorized_from=" + l.factorized_from;
    if (!l.output_shape.empty()) out += " -> " + shape_string(l.output_shape);
    out += "\n";
    for (const auto& [wname, w] : l.weights) {
      out += fmt::format("    {} {} {} fnv={:016x}", wname, w.scalar_type() == at::kFloat ? "f32" : "other",
                         tensor_shape(w), tensor_fnv1a(w));
      auto m = l.masks.find(wname);
      if (m != l.masks.end()) out += fmt::format(" mask_kept={}", m->second.ne(0).sum().item<int64_t>());
      out += "\n";
    }
  }
  out += fmt::format("outputs {}\n", fmt::join(graph.output_names(), ", "));
  return out;
}

}  // namespace snare::ir
