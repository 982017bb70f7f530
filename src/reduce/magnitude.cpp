#include "reduce/magnitude.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "common/error.h"

namespace snare::reduce {

using ir::LayerKind;

std::vector<std::pair<std::string, std::string>> maskable_weights(const ir::Graph& graph) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const ir::Layer& l : graph.layers) {
    switch (l.kind) {
      case LayerKind::kDense:
      case LayerKind::kConv1D:
      case LayerKind::kConv2D: out.emplace_back(l.name, "weight"); break;
      case LayerKind::kSeparableConv1D:
      case LayerKind::kSeparableConv2D:
        out.emplace_back(l.name, "depthwise");
        out.emplace_back(l.name, "weight");
        break;
      case LayerKind::kLSTM:
      case LayerKind::kGRU:
      case LayerKind::kSimpleRNN:
        for (bool reverse : {false, true}) {
          if (reverse && !l.bidirectional) break;
          std::vector<std::string> names = ir::recurrent_weight_names(l, reverse);
          out.emplace_back(l.name, names[0]);
          out.emplace_back(l.name, names[1]);
        }
        break;
      default: break;
    }
  }
  return out;
}

namespace {

/// Magnitude of each weight, with masked weights at -1 so they are always pruned first.
at::Tensor scores(const ir::Layer& l, const std::string& weight) {
  at::Tensor s = l.weights.at(weight).abs();
  auto m = l.masks.find(weight);
  if (m != l.masks.end()) s = at::where(m->second.ne(0), s, at::full_like(s, -1.0));
  return s;
}

at::Tensor mask_below(const at::Tensor& s, int64_t prune) {
  if (prune <= 0) return at::ones_like(s);
  // The k-th smallest score; ties at the threshold are broken by position so the count is exact.
  at::Tensor flat = s.reshape(-1);
  at::Tensor order = std::get<1>(flat.sort(/*stable=*/true, 0, false));
  at::Tensor mask = at::ones_like(flat);
  mask.index_fill_(0, order.narrow(0, 0, prune), 0.0);
  return mask.reshape(s.sizes());
}

}  // namespace

ReductionPlan magnitude_plan(const ir::Graph& graph, double sparsity, const std::vector<std::string>& layers, bool global) {
  if (!(sparsity >= 0.0 && sparsity < 1.0)) {
    throw OptionError("magnitude_plan(sparsity)", fmt::format("must be in [0,1), got {}", sparsity));
  }
  std::vector<std::pair<std::string, std::string>> targets;
  auto all = maskable_weights(graph);
  if (layers.empty()) {
    targets = all;
  } else {
    for (const std::string& name : layers) {
      if (graph.index_of(name) < 0) throw OptionError("magnitude_plan(layers)", fmt::format("no layer named '{}'", name));
      size_t before = targets.size();
      for (const auto& t : all) {
        if (t.first == name) targets.push_back(t);
      }
      if (targets.size() == before) {
        throw OptionError("magnitude_plan(layers)", fmt::format("'{}' ({}) has no prunable connections", name,
                                                                ir::kind_name(graph.layer(name).kind)));
      }
    }
  }
  ReductionPlan plan;
  if (global) {
    std::vector<at::Tensor> all_scores;
    for (const auto& [layer, weight] : targets) all_scores.push_back(scores(graph.layer(layer), weight).reshape(-1));
    at::Tensor joined = at::cat(all_scores);
    auto prune = static_cast<int64_t>(sparsity * static_cast<double>(joined.numel()));
    at::Tensor mask = mask_below(joined, prune);
    int64_t offset = 0;
    for (const auto& [layer, weight] : targets) {
      const at::Tensor& w = graph.layer(layer).weights.at(weight);
      plan.masks.push_back({layer, weight, mask.narrow(0, offset, w.numel()).reshape(w.sizes())});
      offset += w.numel();
    }
    return plan;
  }
  for (const auto& [layer, weight] : targets) {
    at::Tensor s = scores(graph.layer(layer), weight);
    auto prune = static_cast<int64_t>(sparsity * static_cast<double>(s.numel()));
    plan.masks.push_back({layer, weight, mask_below(s, prune)});
  }
  return plan;
}

}  // namespace snare::reduce
