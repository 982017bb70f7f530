#include "reduce/importance.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "common/error.h"

namespace snare::reduce {

using ir::LayerKind;

namespace {

/// Sum over the group's weights of f(w) per unit; f = |w| (l1) or w^2 (l2).
std::vector<double> weight_scores(const ir::Graph& g, const analysis::UnitGroup& grp, bool squared) {
  at::Tensor total = at::zeros({grp.size}, at::kDouble);
  auto f = [&](const at::Tensor& t) { return (squared ? t.pow(2) : t.abs()).to(at::kDouble); };
  for (const std::string& p : grp.producers) {
    const ir::Layer& l = g.layer(p);
    if (ir::is_recurrent(l.kind)) {
      // Unit u owns row u of every gate block, in each direction.
      for (const char* w : {"weight_ih", "weight_hh", "weight_ih_reverse", "weight_hh_reverse"}) {
        auto it = l.weights.find(w);
        if (it == l.weights.end()) continue;
        total += f(it->second).sum(1).reshape({ir::gate_count(l.kind), grp.size}).sum(0);
      }
    } else {
      total += f(l.weights.at("weight")).reshape({grp.size, -1}).sum(1);
    }
  }
  for (const analysis::UnitUse& use : grp.uses) {
    if (use.kind != analysis::UnitUse::Kind::kInputColumns) continue;
    const ir::Layer& l = g.layer(use.layer);
    at::Tensor w = f(ir::is_recurrent(l.kind) ? l.weights.at("weight_ih") : l.weights.at("weight"));
    at::Tensor per_column = w.transpose(0, 1).reshape({w.size(1), -1}).sum(1);  // [in]
    if (auto rev = l.weights.find("weight_ih_reverse"); ir::is_recurrent(l.kind) && rev != l.weights.end()) {
      per_column = per_column + f(rev->second).sum(0);
    }
    for (int64_t u = 0; u < grp.size; ++u) {
      const auto& pos = use.positions[static_cast<size_t>(u)];
      total[u] += per_column.index_select(0, at::tensor(pos, at::kLong)).sum();
    }
  }
  if (squared) total = total.sqrt();
  return std::vector<double>(total.data_ptr<double>(), total.data_ptr<double>() + grp.size);
}

}  // namespace

const std::vector<Criterion>& all_criteria() {
  static const std::vector<Criterion> kAll = {Criterion::kL1, Criterion::kL2, Criterion::kActivation, Criterion::kApoz,
                                              Criterion::kTaylor};
  return kAll;
}

std::string criterion_names(bool data_only) {
  std::string names;
  for (Criterion c : all_criteria()) {
    if (!data_only || needs_data(c)) names += std::string(names.empty() ? "" : ", ") + criterion_name(c);
  }
  return names;
}

Criterion criterion_from_name(const std::string& name) {
  for (Criterion c : all_criteria()) {
    if (name == criterion_name(c)) return c;
  }
  throw OptionError("ReduceOptions::criterion", fmt::format("expected one of {}, got '{}'", criterion_names(), name));
}

const char* criterion_name(Criterion c) {
  switch (c) {
    case Criterion::kL1: return "l1";
    case Criterion::kL2: return "l2";
    case Criterion::kActivation: return "activation";
    case Criterion::kApoz: return "apoz";
    case Criterion::kTaylor: return "taylor";
  }
  return "?";
}

bool needs_data(Criterion c) { return c != Criterion::kL1 && c != Criterion::kL2; }

std::vector<double> weight_importance(const ir::Graph& graph, const analysis::UnitGroup& group, Criterion criterion) {
  if (needs_data(criterion)) {
    throw InternalError(fmt::format("criterion '{}' needs data (measure::unit_importance)", criterion_name(criterion)));
  }
  return weight_scores(graph, group, criterion == Criterion::kL2);
}

ReductionPlan keep_most_important(const ir::Graph& graph, const std::string& layer, int64_t keep,
                                  const UnitScorer& scorer) {
  if (graph.index_of(layer) < 0) throw OptionError("keep_most_important(layer)", fmt::format("no layer named '{}'", layer));
  auto groups = analysis::unit_groups(graph);
  const analysis::UnitGroup* grp = nullptr;
  try {
    grp = &analysis::group_of(groups, layer);
  } catch (const ModelError& e) {
    throw OptionError("keep_most_important(layer)", e.what());
  }
  if (!grp->prunable) {
    throw OptionError("keep_most_important(layer)", fmt::format("cannot remove units of '{}': {}", layer, grp->reason));
  }
  if (keep < 1) {
    throw OptionError("keep_most_important(keep)",
                      fmt::format("'{}': cannot keep {} units; a layer is never emptied", layer, keep));
  }
  if (keep > grp->size) {
    throw OptionError("keep_most_important(keep)", fmt::format("'{}': cannot keep {} units, it has {}", layer, keep, grp->size));
  }
  const std::vector<double> score = scorer(*grp);
  if (score.size() != static_cast<size_t>(grp->size)) {
    throw InternalError(fmt::format("'{}': {} scores for {} units", layer, score.size(), grp->size));
  }
  std::vector<int64_t> order(static_cast<size_t>(grp->size));
  std::iota(order.begin(), order.end(), 0);
  // Stable: equal scores keep the lower index, so plans are reproducible.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)];
  });
  std::vector<int64_t> kept(order.begin(), order.begin() + keep);
  std::sort(kept.begin(), kept.end());
  ReductionPlan plan;
  plan.units.push_back({grp->id, kept});
  return plan;
}

}  // namespace snare::reduce
