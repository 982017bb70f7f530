#include "exec/network.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>

#include <functional>
#include <limits>
#include <numeric>
#include <thread>

#include "common/error.h"
#include "common/fingerprint.h"
#include "dist/group.h"
#include "exec/activation_cache.h"
#include "exec/blas_kernels.h"
#include "exec/lowering.h"

namespace snare::exec {

using ir::LayerKind;
using detail::activate;
using detail::conv_one_channel;
using detail::conv_one_channel_applies;
using detail::max_pool;

namespace {

/// TensorFlow's "same" padding for one axis: the odd pixel goes at the end.
std::pair<int64_t, int64_t> same_pads(int64_t in, int64_t k, int64_t s, int64_t d) {
  int64_t out = (in + s - 1) / s;
  int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
  return {total / 2, total - total / 2};
}

/// constant_pad_nd pad list (last dim first) for same padding of the spatial dims of x [N,C,...].
std::vector<int64_t> same_pad_list(const at::Tensor& x, const ir::Layer& l, const std::vector<int64_t>& strides) {
  size_t spatial = l.kernel.size();
  std::vector<int64_t> pads;
  for (size_t i = spatial; i-- > 0;) {
    int64_t d = l.dilation.empty() ? 1 : l.dilation[i];
    auto [before, after] = same_pads(x.size(static_cast<int64_t>(2 + i)), l.kernel[i], strides[i], d);
    pads.push_back(before);
    pads.push_back(after);
  }
  return pads;
}

bool any_nonzero(const std::vector<int64_t>& v) {
  return std::any_of(v.begin(), v.end(), [](int64_t p) { return p != 0; });
}

/// [N,C,S...] -> [N,S...,C]
at::Tensor to_channels_last(const at::Tensor& x) {
  if (x.dim() <= 2) return x;
  std::vector<int64_t> perm{0};
  for (int64_t i = 2; i < x.dim(); ++i) perm.push_back(i);
  perm.push_back(1);
  return x.permute(perm);
}

/// [N,S...,C] -> [N,C,S...]
at::Tensor to_channels_first(const at::Tensor& x) {
  if (x.dim() <= 2) return x;
  std::vector<int64_t> perm{0, x.dim() - 1};
  for (int64_t i = 1; i < x.dim() - 1; ++i) perm.push_back(i);
  return x.permute(perm);
}

std::vector<int64_t> with_batch(const ir::Shape& s, int64_t n) {
  std::vector<int64_t> out{n};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

at::Tensor pool(const at::Tensor& x, const ir::Layer& l, bool max) {
  std::vector<int64_t> strides = l.strides.empty() ? l.kernel : l.strides;
  at::Tensor in = x;
  at::Tensor count;
  if (l.padding == ir::Padding::kSame) {
    auto pads = same_pad_list(x, l, strides);
    if (any_nonzero(pads)) {
      if (max) {
        in = at::constant_pad_nd(x, pads, -std::numeric_limits<double>::infinity());
      } else {
        // Keras averages over the real pixels only: divide by the average of a padded ones mask.
        in = at::constant_pad_nd(x, pads, 0.0);
        count = at::constant_pad_nd(at::ones_like(x.select(1, 0).unsqueeze(1)), pads, 0.0);
      }
    }
  }
  at::Tensor out;
  if (l.kernel.size() == 1) {
    out = max ? max_pool(in, l.kernel, strides) : at::avg_pool1d(in, l.kernel, strides);
    if (count.defined()) out = out / at::avg_pool1d(count, l.kernel, strides);
  } else {
    out = max ? max_pool(in, l.kernel, strides) : at::avg_pool2d(in, l.kernel, strides);
    if (count.defined()) out = out / at::avg_pool2d(count, l.kernel, strides);
  }
  return out;
}

at::Tensor conv(const at::Tensor& x, const ir::Layer& l, const at::Tensor& weight, const at::Tensor& bias) {
  std::vector<int64_t> strides = l.strides.empty() ? std::vector<int64_t>(l.kernel.size(), 1) : l.strides;
  std::vector<int64_t> dilation = l.dilation.empty() ? std::vector<int64_t>(l.kernel.size(), 1) : l.dilation;
  at::Tensor in = x;
  std::vector<int64_t> padding(l.kernel.size(), 0);
  if (l.padding == ir::Padding::kSame) {
    auto pads = same_pad_list(x, l, strides);
    bool symmetric = true;
    for (size_t i = 0; i < pads.size(); i += 2) symmetric = symmetric && pads[i] == pads[i + 1];
    if (symmetric) {
      for (size_t i = 0; i < l.kernel.size(); ++i) padding[l.kernel.size() - 1 - i] = pads[2 * i];
    } else {
      in = at::constant_pad_nd(x, pads, 0.0);
    }
  }
  // A depthwise conv is a grouped conv with one group per input channel.
  const bool depthwise = l.kind == ir::LayerKind::kDepthwiseConv2D || l.kind == ir::LayerKind::kSeparableConv1D ||
                         l.kind == ir::LayerKind::kSeparableConv2D;
  const int64_t groups = depthwise ? x.size(1) : l.groups;
  if (conv_one_channel_applies(in, weight, bias, strides, padding, dilation, groups)) {
    return conv_one_channel(in, weight, bias, padding);
  }
  if (l.kernel.size() == 1) return at::conv1d(in, weight, bias, strides, padding, dilation, groups);
  return at::conv2d(in, weight, bias, strides, padding, dilation, groups);
}

at::Tensor reshape(const at::Tensor& x, const ir::Layer& l) {
  const int64_t n = x.size(0);
  if (!l.channels_last) return x.reshape(with_batch(l.output_shape, n));
  // Keras reshapes the channels_last element order: go there, reshape to the channels_last form of
  // the target, and come back to channels-first.
  at::Tensor cl = to_channels_last(x).contiguous();
  ir::Shape target_cl = l.output_shape;
  if (target_cl.size() >= 2) std::rotate(target_cl.begin(), target_cl.begin() + 1, target_cl.end());
  return to_channels_first(cl.reshape(with_batch(target_cl, n)));
}

bool is_softmax_end(const ir::Graph& g, const ir::Layer& l) {
  return l.activation == ir::Activation::kSoftmax && (l.kind == LayerKind::kDense || l.kind == LayerKind::kConv1D ||
                                                      l.kind == LayerKind::kConv2D || l.kind == LayerKind::kActivation) &&
         g.output_names().size() == 1 && g.output_names()[0] == l.name;
}

bool trainable(const ir::Layer& l, const std::string& name) {
  return !(l.kind == LayerKind::kBatchNorm && (name == "running_mean" || name == "running_var"));
}

}  // namespace

c10::Device parse_device(const std::string& name) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  const bool cuda_index = name.size() > 5 && name.rfind("cuda:", 0) == 0 &&
                          name.find_first_not_of("0123456789", 5) == std::string::npos && name.size() <= 8;
  if (name == "cuda" || cuda_index) {
    if (!at::hasCUDA()) {
      throw OptionError("TrainOptions::device", fmt::format("{}: this snare was built against a LibTorch without CUDA, "
                                                            "or no GPU is visible", name));
    }
    return c10::Device(name);
  }
  throw OptionError("TrainOptions::device", fmt::format("expected cpu, cuda or cuda:N, got '{}'", name));
}

void set_threads(int n) {
  if (n < 0) throw OptionError("set_threads(n)", fmt::format("must be >= 0 (0: every core), got {}", n));
  select_blas_kernels();
  if (n == 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n > 0) at::set_num_threads(n);
}

Network::Network(const ir::Graph& graph, c10::Device device) : graph_(graph), device_(device) {
  graph_.infer_shapes();
  for (const ir::Layer& l : graph_.layers) {
    for (const auto& [name, t] : l.weights) {
      at::Tensor copy = t.to(device_, at::kFloat, /*non_blocking=*/false, /*copy=*/true).detach();
      if (trainable(l, name)) copy.set_requires_grad(true);
      weights_[l.name][name] = copy;
    }
    for (const auto& [name, m] : l.masks) masks_[l.name][name] = m.to(device_, at::kFloat);
  }
  auto only_reader = [&](const std::string& name) -> const ir::Layer* {
    std::vector<std::string> readers = graph_.consumers(name);
    return readers.size() == 1 && name != graph_.output().name ? &graph_.layer(readers[0]) : nullptr;
  };
  for (const ir::Layer& l : graph_.layers) {
    // The kinds whose run_layer applies l.activation to its result (an Activation layer: to its input).
    const bool activates = l.kind == LayerKind::kDense || l.kind == LayerKind::kConv1D || l.kind == LayerKind::kConv2D ||
                           l.kind == LayerKind::kDepthwiseConv2D || l.kind == LayerKind::kSeparableConv1D ||
                           l.kind == LayerKind::kSeparableConv2D || l.kind == LayerKind::kActivation;
    if (!activates || l.activation != ir::Activation::kRelu) continue;
    // Only plain ReLU: it maps distinct positive values to distinct values, so the pool picks the same position.
    // Dropout between them commutes too (it scales by 0 or a positive factor).
    const ir::Layer* reader = only_reader(l.name);
    while (reader && reader->kind == LayerKind::kDropout) reader = only_reader(reader->name);
    if (reader && (reader->kind == LayerKind::kMaxPool1D || reader->kind == LayerKind::kMaxPool2D)) {
      relu_deferred_.insert(l.name);
      relu_after_.insert(reader->name);
    }
  }
}

at::Tensor& Network::w(const ir::Layer& l, const std::string& name) {
  auto& per_layer = weights_[l.name];
  auto it = per_layer.find(name);
  if (it == per_layer.end()) throw InternalError(fmt::format("layer '{}' lost weight '{}'", l.name, name));
  return it->second;
}

std::vector<at::Tensor> Network::parameters() const {
  std::vector<at::Tensor> out;
  for (const ir::Layer& l : graph_.layers) {
    auto it = weights_.find(l.name);
    if (it == weights_.end()) continue;
    for (const auto& [name, t] : it->second) {
      if (t.requires_grad()) out.push_back(t);
    }
  }
  return out;
}

std::vector<at::Tensor> Network::parameter_masks() const {
  std::vector<at::Tensor> out;
  for (const ir::Layer& l : graph_.layers) {
    auto it = weights_.find(l.name);
    if (it == weights_.end()) continue;
    auto m = masks_.find(l.name);
    for (const auto& [name, t] : it->second) {
      if (!t.requires_grad()) continue;
      at::Tensor mask;
      if (m != masks_.end() && m->second.count(name)) mask = m->second.at(name);
      out.push_back(mask);
    }
  }
  return out;
}

std::vector<at::Tensor> Network::state() const {
  std::vector<at::Tensor> out;
  for (const auto& [layer, per_name] : weights_) {
    for (const auto& [name, t] : per_name) out.push_back(t);
  }
  return out;
}

void Network::apply_masks() {
  at::NoGradGuard no_grad;
  for (auto& [layer, per_name] : masks_) {
    for (auto& [name, mask] : per_name) weights_[layer][name].mul_(mask);
  }
}

ir::Graph Network::to_graph() const {
  ir::Graph g = graph_;
  for (ir::Layer& l : g.layers) {
    auto it = weights_.find(l.name);
    if (it == weights_.end()) continue;
    for (auto& [name, t] : l.weights) t = it->second.at(name).detach().to(at::kCPU, at::kFloat, false, true);
  }
  return g;
}

at::Tensor Network::run_layer(const ir::Layer& l, const std::vector<at::Tensor>& in, bool training, bool skip_softmax,
                              bool apply_activation) {
  auto fused = [&](const at::Tensor& y) {
    ir::Activation a = skip_softmax && l.activation == ir::Activation::kSoftmax ? ir::Activation::kLinear : l.activation;
    if (!apply_activation) a = ir::Activation::kLinear;
    return activate(y, a, l.alpha);
  };
  auto bias = [&]() { return l.use_bias ? w(l, "bias") : at::Tensor(); };
  switch (l.kind) {
    case LayerKind::kInput: return in.at(0);
    case LayerKind::kDense: return fused(at::linear(in.at(0), w(l, "weight"), bias()));
    case LayerKind::kConv1D:
    case LayerKind::kConv2D:
    case LayerKind::kDepthwiseConv2D: return fused(conv(in.at(0), l, w(l, "weight"), bias()));
    case LayerKind::kSeparableConv1D:
      return fused(at::conv1d(conv(in.at(0), l, w(l, "depthwise"), at::Tensor()), w(l, "weight"), bias()));
    case LayerKind::kSeparableConv2D:
      return fused(at::conv2d(conv(in.at(0), l, w(l, "depthwise"), at::Tensor()), w(l, "weight"), bias()));
    case LayerKind::kMaxPool1D:
    case LayerKind::kMaxPool2D: return pool(in.at(0), l, true);
    case LayerKind::kAvgPool1D:
    case LayerKind::kAvgPool2D: return pool(in.at(0), l, false);
    case LayerKind::kGlobalAvgPool1D: return in.at(0).mean({2}, l.keepdims);
    case LayerKind::kGlobalAvgPool2D: return in.at(0).mean({2, 3}, l.keepdims);
    case LayerKind::kGlobalMaxPool1D: return in.at(0).amax({2}, l.keepdims);
    case LayerKind::kGlobalMaxPool2D: return in.at(0).amax({2, 3}, l.keepdims);
    case LayerKind::kFlatten: {
      const at::Tensor& x = in.at(0);
      return (l.channels_last ? to_channels_last(x) : x).reshape({x.size(0), -1});
    }
    case LayerKind::kReshape: return reshape(in.at(0), l);
    case LayerKind::kZeroPadding1D: return at::constant_pad_nd(in.at(0), {l.pads[0], l.pads[1]}, 0.0);
    case LayerKind::kZeroPadding2D:
      return at::constant_pad_nd(in.at(0), {l.pads[2], l.pads[3], l.pads[0], l.pads[1]}, 0.0);
    case LayerKind::kDropout: return training && l.rate > 0 ? detail::dropout(in.at(0), l.rate) : in.at(0);
    case LayerKind::kBatchNorm:
      // Keras scale=False / center=False: no gamma (1) / beta (0) tensor; at::batch_norm takes undefined ones so.
      return at::batch_norm(in.at(0), l.use_scale ? w(l, "weight") : at::Tensor(), bias(), w(l, "running_mean"),
                            w(l, "running_var"), training,
                            1.0 - l.momentum, l.epsilon, /*cudnn_enabled=*/true);
    case LayerKind::kActivation: return fused(in.at(0));
    case LayerKind::kAdd:
    case LayerKind::kAverage: {
      at::Tensor sum = in.at(0);
      for (size_t i = 1; i < in.size(); ++i) sum = sum + in[i];
      return l.kind == LayerKind::kAverage ? sum / static_cast<double>(in.size()) : sum;
    }
    case LayerKind::kSubtract: return in.at(0) - in.at(1);
    case LayerKind::kMultiply: {
      at::Tensor product = in.at(0);
      for (size_t i = 1; i < in.size(); ++i) product = product * in[i];
      return product;
    }
    case LayerKind::kMaximum:
    case LayerKind::kMinimum: {
      at::Tensor m = in.at(0);
      for (size_t i = 1; i < in.size(); ++i) m = l.kind == LayerKind::kMaximum ? at::maximum(m, in[i]) : at::minimum(m, in[i]);
      return m;
    }
    case LayerKind::kCropping1D: {
      const at::Tensor& x = in.at(0);
      return x.slice(2, l.pads[0], x.size(2) - l.pads[1]);
    }
    case LayerKind::kCropping2D: {
      const at::Tensor& x = in.at(0);
      return x.slice(2, l.pads[0], x.size(2) - l.pads[1]).slice(3, l.pads[2], x.size(3) - l.pads[3]);
    }
    case LayerKind::kUpSampling1D: return in.at(0).repeat_interleave(l.scale[0], 2);
    case LayerKind::kUpSampling2D: return in.at(0).repeat_interleave(l.scale[0], 2).repeat_interleave(l.scale[1], 3);
    case LayerKind::kConcatenate: return at::cat(in, l.axis + 1);
    case LayerKind::kLSTM:
    case LayerKind::kGRU:
    case LayerKind::kSimpleRNN:
      return detail::recurrent(in.at(0), l, [&](const std::string& name) -> const at::Tensor& { return w(l, name); },
                               training);
    case LayerKind::kPermute: {
      std::vector<int64_t> dims{0};  // the batch axis stays first
      for (int64_t p : l.permutation) dims.push_back(p + 1);
      return in.at(0).permute(dims);
    }
  }
  throw InternalError("unknown layer kind");
}

at::Tensor Network::forward(const at::Tensor& x, bool training, bool logits) {
  std::map<std::string, at::Tensor> values;
  if (record_) activations_.clear();
  at::Tensor input = adapt_input(graph_, x).to(device_, at::kFloat);
  for (const ir::Layer& l : graph_.layers) {
    std::vector<at::Tensor> ins;
    if (l.kind == LayerKind::kInput) {
      ins.push_back(input);
    } else {
      for (const std::string& i : l.inputs) ins.push_back(values.at(i));
    }
    // Recording keeps every layer's own output, so it computes in the graph's order.
    const bool defer = !record_ && relu_deferred_.count(l.name);
    at::Tensor y = run_layer(l, ins, training, logits && is_softmax_end(graph_, l), !defer);
    if (!record_ && relu_after_.count(l.name)) y = at::relu(y);
    if (record_) {
      // Kept with its gradient so criteria such as first-order Taylor can read dLoss/dActivation.
      if (y.requires_grad()) y.retain_grad();
      activations_[l.name] = y;
    }
    values[l.name] = y;
  }
  return values.at(graph_.output().name);
}

at::Tensor Network::forward_cached(const at::Tensor& x, uint64_t batch_key, bool logits, ActivationCache& cache) {
  const size_t n = graph_.layers.size();
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < n; ++i) index[graph_.layers[i].name] = i;
  if (path_keys_.empty()) {
    for (const ir::Layer& l : graph_.layers) {
      uint64_t h = ir::layer_fingerprint(l);
      for (const std::string& in : l.inputs) h = snare::fnv1a(&path_keys_.at(index.at(in)), sizeof(uint64_t), h);
      path_keys_.push_back(h);
    }
  }
  // From the output back: a layer found in the cache needs none of the layers before it.
  std::vector<at::Tensor> values(n);
  std::function<at::Tensor(size_t)> value = [&](size_t i) -> at::Tensor {
    if (values[i].defined()) return values[i];
    const ir::Layer& l = graph_.layers[i];
    const bool skip_softmax = logits && is_softmax_end(graph_, l);
    uint64_t key = snare::fnv1a(&batch_key, sizeof batch_key, path_keys_[i]);
    key = snare::fnv1a(&skip_softmax, sizeof skip_softmax, key);
    at::Tensor y = cache.find(key);
    if (!y.defined()) {
      std::vector<at::Tensor> ins;
      if (l.kind == LayerKind::kInput) {
        ins.push_back(adapt_input(graph_, x).to(device_, at::kFloat));
      } else {
        for (const std::string& in : l.inputs) ins.push_back(value(index.at(in)));
      }
      y = run_layer(l, ins, false, skip_softmax);
      cache.insert(key, y);
    }
    return values[i] = y;
  };
  return value(index.at(graph_.output().name));
}

at::Tensor adapt_input(const ir::Graph& graph, const at::Tensor& x) {
  const ir::Shape& want = graph.input().input_shape;
  std::vector<int64_t> got(x.sizes().begin() + 1, x.sizes().end());
  if (got == want) return x;
  auto product = [](const std::vector<int64_t>& s) {
    return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
  };
  // Same values in the same order: a flat vector vs a single-channel image, or the reverse.
  bool single_channel = (want.size() == 1 || want[0] == 1) && (got.size() == 1 || got[0] == 1);
  if (product(got) == product(want) && single_channel) return x.reshape(with_batch(want, x.size(0)));
  throw DataError(fmt::format("data samples have shape {} but model '{}' expects input {}", ir::shape_string(got),
                              graph.name, ir::shape_string(want)));
}

at::Tensor predict(const ir::Graph& graph, const at::Tensor& x, const ExecOptions& options) {
  at::NoGradGuard no_grad;
  Network net(graph, parse_device(options.device));
  std::vector<at::Tensor> outs;
  for (int64_t start = 0; start < x.size(0); start += options.batch_size) {
    int64_t len = std::min(options.batch_size, x.size(0) - start);
    outs.push_back(net.forward(x.narrow(0, start, len)).to(at::kCPU));
  }
  if (outs.empty()) throw DataError("predict: no samples");
  return at::cat(outs, 0);
}

EvalResult evaluate(const ir::Graph& graph, const data::Split& split, const ExecOptions& options) {
  if (split.size() == 0) throw DataError("evaluate: the data split is empty");
  at::NoGradGuard no_grad;
  Network net(graph, parse_device(options.device));
  const int64_t classes = graph.output_shape().empty() ? 0 : graph.output_shape()[0];
  int64_t max_label = split.y.max().item<int64_t>();
  if (max_label >= classes) {
    throw DataError(fmt::format("labels go up to {} but model '{}' has {} outputs", max_label, graph.name, classes));
  }
  // In a distributed run this rank evaluates rows [begin, end) and the sums below are summed over the ranks
  // (doubles hold the counts exactly), so every rank gets the same result.
  const int64_t n = split.size();
  const auto [begin, end] = options.group ? dist::shard_of(n, options.group->rank(), options.group->size())
                                          : std::pair<int64_t, int64_t>{0, n};
  at::Tensor per_class = at::zeros({2, classes}, at::kDouble);  // hits, totals
  at::Tensor hits = at::zeros({n}, at::kDouble);
  at::Tensor loss_sum = at::zeros({1}, at::kDouble);
  for (int64_t start = begin; start < end; start += options.batch_size) {
    int64_t len = std::min(options.batch_size, end - start);
    at::Tensor x = split.x.narrow(0, start, len);
    const uint64_t rows[2] = {static_cast<uint64_t>(start), static_cast<uint64_t>(len)};
    at::Tensor logits = (options.cache ? net.forward_cached(x, snare::fnv1a(rows, sizeof rows), true, *options.cache)
                                       : net.forward(x, false, true))
                            .to(at::kCPU);
    at::Tensor y = split.y.narrow(0, start, len);
    loss_sum += at::cross_entropy_loss(logits, y, {}, at::Reduction::Sum).to(at::kDouble);
    at::Tensor hit = logits.argmax(1).eq(y).to(at::kDouble);
    hits.narrow(0, start, len).copy_(hit);
    per_class[0].index_add_(0, y, hit);
    per_class[1].index_add_(0, y, at::ones_like(hit));
  }
  if (options.group) options.group->sum({hits, per_class, loss_sum});
  EvalResult r;
  r.samples = n;
  at::Tensor hit_bytes = hits.to(at::kByte).contiguous();
  r.correct.assign(hit_bytes.data_ptr<uint8_t>(), hit_bytes.data_ptr<uint8_t>() + n);
  r.accuracy = hits.sum().item<double>() / static_cast<double>(n);
  r.loss = loss_sum.item<double>() / static_cast<double>(n);
  for (int64_t c = 0; c < classes; ++c) {
    const double t = per_class[1][c].item<double>();
    r.per_class_accuracy.push_back(t > 0 ? per_class[0][c].item<double>() / t : 0.0);
  }
  return r;
}

}  // namespace snare::exec
