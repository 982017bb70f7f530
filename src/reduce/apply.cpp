#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "analysis/groups.h"
#include "common/error.h"
#include "reduce/factorize.h"
#include "reduce/plan.h"

namespace snare::reduce {

using ir::LayerKind;

namespace {

using Means = std::map<std::string, at::Tensor>;

at::Tensor index_tensor(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

/// The bias that takes the mean contribution of `l`'s weight `name`, or null where none does: Dense and one-group Conv
/// weights (their input channels are the weight's dim 1), recurrent input weights, each only with a bias.
at::Tensor* compensation_bias(ir::Layer& l, const std::string& name) {
  const bool plain = l.kind == LayerKind::kDense ||
                     ((l.kind == LayerKind::kConv1D || l.kind == LayerKind::kConv2D) && l.groups == 1);
  std::string bias;
  if (plain && name == "weight") bias = "bias";
  if (ir::is_recurrent(l.kind) && name == "weight_ih") bias = "bias_ih";
  if (ir::is_recurrent(l.kind) && name == "weight_ih_reverse") bias = "bias_ih_reverse";
  auto it = bias.empty() ? l.weights.end() : l.weights.find(bias);
  return it == l.weights.end() ? nullptr : &it->second;
}

/// Bias compensation: moves the mean contribution of `dropped` (what goes of weight `name`: [O, inputs, taps...])
/// into the bias, bias[o] += sum over inputs i and taps of dropped[o, i, ...] * mean[i], so the layer's output keeps
/// its expected value.
void compensate(ir::Layer& l, const std::string& name, const at::Tensor& dropped, const at::Tensor& mean) {
  at::Tensor* bias = compensation_bias(l, name);
  if (!bias || dropped.dim() < 2 || mean.numel() != dropped.size(1)) return;
  at::Tensor per_input = dropped.reshape({dropped.size(0), dropped.size(1), -1}).sum(2).to(at::kFloat);  // [O, I]
  *bias = (*bias + at::mv(per_input, mean.to(per_input.device(), at::kFloat))).contiguous();
}

/// compensate() for the input channels `removed` of weight `name`, where the layer's input mean was measured.
void compensate_columns(ir::Layer& l, const std::string& name, const std::set<int64_t>& removed, const Means& means) {
  auto w = l.weights.find(name);
  auto m = means.find(l.name);
  if (w == l.weights.end() || m == means.end() || removed.empty() || m->second.numel() != w->second.size(1)) return;
  at::Tensor idx = index_tensor(std::vector<int64_t>(removed.begin(), removed.end()));
  compensate(l, name, w->second.index_select(1, idx), m->second.index_select(0, idx));
}

/// Slices weight `name` (and its mask) of `l` along `dim` to `index`.
void slice(ir::Layer& l, const std::string& name, int64_t dim, const at::Tensor& index) {
  auto it = l.weights.find(name);
  if (it == l.weights.end()) return;
  it->second = it->second.index_select(dim, index).contiguous();
  auto m = l.masks.find(name);
  if (m != l.masks.end()) m->second = m->second.index_select(dim, index).contiguous();
}

/// Rows of the `gates` gate blocks of a recurrent layer that belong to the kept units.
at::Tensor gate_rows(const std::vector<int64_t>& keep, int64_t units, int64_t gates) {
  std::vector<int64_t> rows;
  for (int64_t gate = 0; gate < gates; ++gate) {
    for (int64_t u : keep) rows.push_back(gate * units + u);
  }
  return index_tensor(rows);
}

void keep_output_units(ir::Layer& l, const std::vector<int64_t>& keep) {
  at::Tensor idx = index_tensor(keep);
  switch (l.kind) {
    case LayerKind::kDense:
    case LayerKind::kConv1D:
    case LayerKind::kConv2D:
    case LayerKind::kSeparableConv1D:
    case LayerKind::kSeparableConv2D:
      slice(l, "weight", 0, idx);
      slice(l, "bias", 0, idx);
      break;
    case LayerKind::kLSTM:
    case LayerKind::kGRU:
    case LayerKind::kSimpleRNN: {
      // Unit u goes from both directions of a bidirectional layer (slice() skips the _reverse weights otherwise).
      at::Tensor rows = gate_rows(keep, l.units, ir::gate_count(l.kind));
      for (const char* suffix : {"", "_reverse"}) {
        for (const char* w : {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}) slice(l, w + std::string(suffix), 0, rows);
        slice(l, "weight_hh" + std::string(suffix), 1, idx);
      }
      break;
    }
    default: throw InternalError(fmt::format("layer '{}' has no units to keep", l.name));
  }
  l.units = static_cast<int64_t>(keep.size());
}

int64_t input_width(const ir::Layer& l, analysis::UnitUse::Kind kind) {
  // running_mean: a BatchNorm with Keras scale=False has no `weight`.
  if (kind == analysis::UnitUse::Kind::kBatchNorm) return l.weights.at("running_mean").size(0);
  if (kind == analysis::UnitUse::Kind::kDepthwise) return l.weights.at("weight").size(0);
  if (kind == analysis::UnitUse::Kind::kSeparable) return l.weights.at("depthwise").size(0);
  if (kind == analysis::UnitUse::Kind::kReshapeChannels) return l.target_shape.at(0);
  if (ir::is_recurrent(l.kind)) return l.weights.at("weight_ih").size(1);
  return l.weights.at("weight").size(1);
}

void drop_inputs(ir::Layer& l, analysis::UnitUse::Kind kind, const std::set<int64_t>& removed, const Means& means) {
  int64_t width = input_width(l, kind);
  std::vector<int64_t> kept;
  for (int64_t i = 0; i < width; ++i) {
    if (!removed.count(i)) kept.push_back(i);
  }
  if (kind == analysis::UnitUse::Kind::kReshapeChannels) {
    l.target_shape.at(0) = static_cast<int64_t>(kept.size());
    return;
  }
  at::Tensor idx = index_tensor(kept);
  if (kind == analysis::UnitUse::Kind::kBatchNorm) {
    for (const char* w : {"weight", "bias", "running_mean", "running_var"}) slice(l, w, 0, idx);
  } else if (kind == analysis::UnitUse::Kind::kDepthwise) {
    slice(l, "weight", 0, idx);
    slice(l, "bias", 0, idx);
    l.units = static_cast<int64_t>(kept.size());
  } else if (kind == analysis::UnitUse::Kind::kSeparable) {
    slice(l, "depthwise", 0, idx);
    slice(l, "weight", 1, idx);
  } else if (ir::is_recurrent(l.kind)) {
    for (const char* w : {"weight_ih", "weight_ih_reverse"}) {
      compensate_columns(l, w, removed, means);
      slice(l, w, 1, idx);
    }
  } else {
    compensate_columns(l, "weight", removed, means);
    slice(l, "weight", 1, idx);
  }
}

std::string keep_problem(const UnitRemoval& r, const analysis::UnitGroup& g) {
  if (!g.prunable) return fmt::format("cannot remove units of '{}': {}", r.group, g.reason);
  if (r.keep.empty()) return fmt::format("cannot remove all {} units of '{}': a layer is never emptied", g.size, r.group);
  for (size_t i = 0; i < r.keep.size(); ++i) {
    if (r.keep[i] < 0 || r.keep[i] >= g.size) {
      return fmt::format("'{}': unit index {} out of range [0,{})", r.group, r.keep[i], g.size);
    }
    if (i > 0 && r.keep[i] <= r.keep[i - 1]) return fmt::format("'{}': kept unit indices must be sorted and unique", r.group);
  }
  return "";
}

/// The group a removal names, or null (with `problem` set).
const analysis::UnitGroup* group_named(const std::vector<analysis::UnitGroup>& groups, const ir::Graph& g,
                                       const std::string& layer, std::string& problem) {
  if (g.index_of(layer) < 0) {
    problem = fmt::format("no layer named '{}'", layer);
    return nullptr;
  }
  for (const analysis::UnitGroup& grp : groups) {
    if (std::find(grp.producers.begin(), grp.producers.end(), layer) != grp.producers.end()) return &grp;
  }
  problem = fmt::format("'{}' ({}) has no units to remove", layer, ir::kind_name(g.layer(layer).kind));
  return nullptr;
}

/// Removes the units of `removals`; returns why it cannot ("" when done). Nothing is changed on a problem.
std::string apply_units(ir::Graph& g, const std::vector<UnitRemoval>& removals, const Means& means) {
  if (removals.empty()) return "";
  std::vector<analysis::UnitGroup> groups = analysis::unit_groups(g);
  // Every index below refers to the graph before this step, so all removals are gathered first.
  std::map<std::pair<std::string, analysis::UnitUse::Kind>, std::set<int64_t>> removed_inputs;
  std::map<std::string, std::vector<int64_t>> kept_outputs;
  for (const UnitRemoval& r : removals) {
    std::string problem;
    const analysis::UnitGroup* grp = group_named(groups, g, r.group, problem);
    if (!grp) return problem;
    if (problem = keep_problem(r, *grp); !problem.empty()) return problem;
    std::set<int64_t> keep(r.keep.begin(), r.keep.end());
    for (const std::string& p : grp->producers) {
      if (kept_outputs.count(p)) return fmt::format("the plan names the group of '{}' twice", p);
      kept_outputs[p] = r.keep;
    }
    for (const analysis::UnitUse& use : grp->uses) {
      auto& removed = removed_inputs[{use.layer, use.kind}];
      for (int64_t u = 0; u < grp->size; ++u) {
        if (!keep.count(u)) removed.insert(use.positions[static_cast<size_t>(u)].begin(), use.positions[static_cast<size_t>(u)].end());
      }
    }
  }
  for (auto& [layer, keep] : kept_outputs) keep_output_units(g.layer(layer), keep);
  for (auto& [key, removed] : removed_inputs) drop_inputs(g.layer(key.first), key.second, removed, means);
  return "";
}

std::string mask_problem(const ir::Graph& g, const MaskAssignment& m) {
  if (g.index_of(m.layer) < 0) return fmt::format("no layer named '{}'", m.layer);
  const ir::Layer& l = g.layer(m.layer);
  auto w = l.weights.find(m.weight);
  if (w == l.weights.end()) return fmt::format("layer '{}' has no weight '{}'", m.layer, m.weight);
  if (!m.mask.sizes().equals(w->second.sizes())) return fmt::format("mask for '{}'.{} has the wrong shape", m.layer, m.weight);
  return "";
}

/// Sets the masks of `masks`; returns why it cannot ("" when done).
std::string apply_masks(ir::Graph& g, const std::vector<MaskAssignment>& masks, const Means& means) {
  for (const MaskAssignment& m : masks) {
    if (std::string problem = mask_problem(g, m); !problem.empty()) return problem;
    ir::Layer& l = g.layer(m.layer);
    auto w = l.weights.find(m.weight);
    at::Tensor mask = m.mask.to(at::kFloat).ne(0).to(at::kFloat);
    if (auto mean = means.find(m.layer); mean != means.end()) {
      compensate(l, m.weight, w->second * (1 - mask.to(w->second.device())), mean->second);
    }
    l.masks[m.weight] = mask;
    w->second = w->second * mask;
  }
  return "";
}

}  // namespace

std::string ReductionPlan::describe(const ir::Graph& graph) const {
  std::string out;
  for (const UnitRemoval& r : units) {
    int64_t total = graph.index_of(r.group) >= 0 ? graph.layer(r.group).units : 0;
    out += fmt::format("{}: keep {} of {} units\n", r.group, r.keep.size(), total);
  }
  for (const MaskAssignment& m : masks) {
    int64_t kept = m.mask.ne(0).sum().item<int64_t>();
    out += fmt::format("{}.{}: mask keeps {} of {} connections ({:.1f}% sparse)\n", m.layer, m.weight, kept,
                       m.mask.numel(), 100.0 * (1.0 - static_cast<double>(kept) / static_cast<double>(m.mask.numel())));
  }
  for (const Factorization& f : factorizations) out += fmt::format("{}: factorise to rank {}\n", f.layer, f.rank);
  return out;
}

Applied try_apply(const ir::Graph& graph, const ReductionPlan& plan) {
  Applied out;
  out.graph = graph;
  ir::Graph& g = out.graph;
  g.infer_shapes();
  if (out.problem = apply_units(g, plan.units, plan.input_means); !out.problem.empty()) return out;
  if (out.problem = apply_masks(g, plan.masks, plan.input_means); !out.problem.empty()) return out;
  for (const Factorization& f : plan.factorizations) {
    if (out.problem = factorize_problem(g, f.layer, f.rank); !out.problem.empty()) return out;
    g = factorize(g, f.layer, f.rank);
  }
  g.infer_shapes();
  ir::verify(g);
  return out;
}

ir::Graph apply(const ir::Graph& graph, const ReductionPlan& plan) {
  Applied a = try_apply(graph, plan);
  if (!a.ok()) throw OptionError("apply(plan)", a.problem);
  return a.graph;
}

}  // namespace snare::reduce
