#include "analysis/stats.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <algorithm>
#include <numeric>

#include "common/error.h"
#include "ir/kind_traits.h"

namespace snare::analysis {

using ir::LayerKind;

namespace {

int64_t product(const ir::Shape& s) {
  return std::accumulate(s.begin(), s.end(), int64_t{1}, std::multiplies<int64_t>());
}

int64_t spatial(const ir::Shape& s) { return s.size() <= 1 ? 1 : product(s) / s[0]; }

/// Keras keeps one bias per gate for LSTM, SimpleRNN and GRU with reset_after=False (LibTorch's bias_ih + bias_hh,
/// summed on export), two for GRU with reset_after=True: a bias_hh of the first kind is not a parameter of its own.
bool folded_bias(const ir::Layer& l, const std::string& name) {
  bool single = l.kind == LayerKind::kLSTM || l.kind == LayerKind::kSimpleRNN || (l.kind == LayerKind::kGRU && !l.reset_after);
  return single && (name == "bias_hh" || name == "bias_hh_reverse");
}

}  // namespace

int64_t layer_macs(const ir::Layer& l, const std::vector<ir::Shape>& ins) {
  // Weightless layers count no MACs (as in the published counts); BatchNorm folds into the layer before it.
  if (!ir::traits(l.kind).weighted) return 0;
  switch (l.kind) {
    case LayerKind::kDense: return ins.at(0).at(0) * l.units;
    case LayerKind::kConv1D:
    case LayerKind::kConv2D: {
      int64_t window = ins.at(0).at(0) / std::max<int64_t>(1, l.groups) * product(l.kernel);
      return spatial(l.output_shape) * l.units * window;
    }
    case LayerKind::kDepthwiseConv2D: return spatial(l.output_shape) * l.units * product(l.kernel);
    case LayerKind::kSeparableConv1D:
    case LayerKind::kSeparableConv2D: {
      const int64_t depth = ins.at(0).at(0) * l.multiplier;  // depthwise, then pointwise
      return spatial(l.output_shape) * depth * (product(l.kernel) + l.units);
    }
    case LayerKind::kLSTM:
    case LayerKind::kGRU:
    case LayerKind::kSimpleRNN: {
      const ir::Shape& in = ins.at(0);
      return (l.bidirectional ? 2 : 1) * in.at(1) * ir::gate_count(l.kind) * l.units * (in.at(0) + l.units);
    }
    case LayerKind::kBatchNorm: return 0;
    default: throw InternalError(fmt::format("layer '{}': no MAC count for kind {}", l.name, ir::kind_name(l.kind)));
  }
  return 0;
}

int64_t layer_params(const ir::Layer& l) {
  int64_t n = 0;
  for (const auto& [name, w] : l.weights) {
    if (!folded_bias(l, name)) n += w.numel();
  }
  return n;
}

int64_t layer_nonzero_params(const ir::Layer& l) {
  int64_t n = 0;
  for (const auto& [name, w] : l.weights) {
    if (folded_bias(l, name)) continue;
    std::string hh = name == "bias_ih" ? "bias_hh" : name == "bias_ih_reverse" ? "bias_hh_reverse" : "";
    if (!hh.empty() && folded_bias(l, hh) && l.weights.count(hh)) {
      n += (w + l.weights.at(hh)).ne(0).sum().item<int64_t>();
      continue;
    }
    n += w.ne(0).sum().item<int64_t>();
  }
  return n;
}

ModelStats analyze(const ir::Graph& graph) {
  ir::Graph g = graph;
  g.infer_shapes();
  ModelStats s;
  for (const ir::Layer& l : g.layers) {
    std::vector<ir::Shape> ins;
    for (const std::string& i : l.inputs) ins.push_back(g.layer(i).output_shape);
    LayerStats ls;
    ls.name = l.name;
    ls.kind = ir::kind_name(l.kind);
    ls.output_shape = l.output_shape;
    ls.params = layer_params(l);
    ls.nonzero_params = layer_nonzero_params(l);
    ls.macs = layer_macs(l, ins);
    s.params += ls.params;
    s.nonzero_params += ls.nonzero_params;
    s.macs += ls.macs;
    s.layers.push_back(ls);
  }
  for (LayerStats& ls : s.layers) {
    ls.param_share = s.params ? static_cast<double>(ls.params) / static_cast<double>(s.params) : 0.0;
    ls.mac_share = s.macs ? static_cast<double>(ls.macs) / static_cast<double>(s.macs) : 0.0;
  }
  return s;
}

std::string stats_table(const ModelStats& s) {
  std::string out = fmt::format("{:<24} {:<16} {:<16} {:>10} {:>10} {:>12} {:>7} {:>7}\n", "layer", "kind",
                                "output shape", "params", "non-zero", "MACs", "%param", "%MAC");
  out += std::string(108, '-') + "\n";
  for (const LayerStats& l : s.layers) {
    out += fmt::format("{:<24} {:<16} {:<16} {:>10} {:>10} {:>12} {:>6.1f}% {:>6.1f}%\n", l.name, l.kind,
                       ir::shape_string(l.output_shape), l.params, l.nonzero_params, l.macs, 100 * l.param_share,
                       100 * l.mac_share);
  }
  out += std::string(108, '-') + "\n";
  out += fmt::format("total: {} params ({} non-zero), {} MACs = {} FLOPs\n", s.params, s.nonzero_params, s.macs,
                     s.flops());
  return out;
}

nlohmann::json stats_json(const ModelStats& s) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerStats& l : s.layers) {
    layers.push_back({{"name", l.name},
                      {"kind", l.kind},
                      {"output_shape", l.output_shape},
                      {"params", l.params},
                      {"nonzero_params", l.nonzero_params},
                      {"macs", l.macs},
                      {"param_share", l.param_share},
                      {"mac_share", l.mac_share}});
  }
  return {{"layers", layers},
          {"total", {{"params", s.params}, {"nonzero_params", s.nonzero_params}, {"macs", s.macs}, {"flops", s.flops()}}}};
}

}  // namespace snare::analysis
