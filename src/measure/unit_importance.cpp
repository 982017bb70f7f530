#include "measure/unit_importance.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "common/error.h"
#include "exec/network.h"

namespace snare::measure {

using reduce::Criterion;

namespace {

/// A producer's output [N, C, positions...] as [N, U, positions'...] with all channels of unit u in row u: a
/// bidirectional layer merged by concat has the backward direction's unit u at channel U + u.
at::Tensor per_unit_view(const at::Tensor& a, const ir::Layer& l) {
  if (!ir::is_recurrent(l.kind) || ir::recurrent_output_units(l) == l.units) return a;
  return a.reshape({a.size(0), 2, l.units, -1}).transpose(1, 2).reshape({a.size(0), l.units, -1});
}

/// Per-unit statistic of the producers' outputs [N, U, positions...] over samples and positions,
/// summed over the group's producers.
std::vector<double> activation_scores(const ir::Graph& g, const analysis::UnitGroup& grp, Criterion c,
                                      const data::Split& sample) {
  exec::Network net(g);
  net.record_activations(true);
  at::Tensor total = at::zeros({grp.size}, at::kDouble);
  if (c == Criterion::kTaylor) {
    at::Tensor logits = net.forward(sample.x, false, true);
    // The loss needs a label per sample among the model's outputs; anything else is the data's problem.
    const int64_t classes = logits.dim() == 2 ? logits.size(1) : 0;
    const int64_t low = sample.y.numel() ? sample.y.min().item<int64_t>() : 0;
    const int64_t high = sample.y.numel() ? sample.y.max().item<int64_t>() : 0;
    if (logits.dim() != 2 || sample.y.dim() != 1 || low < 0 || high >= classes) {
      throw DataError(fmt::format("criterion taylor: labels {}..{} for a model with {} outputs per sample ({}); it needs "
                                  "class labels 0..{} and a classifier's [N, classes] output",
                                  low, high, classes, ir::shape_string(g.output_shape()), classes - 1));
    }
    at::cross_entropy_loss(logits, sample.y.to(logits.device())).backward();
  } else {
    at::NoGradGuard no_grad;
    net.forward(sample.x, false, false);
  }
  for (const std::string& p : grp.producers) {
    const at::Tensor& full = net.activations().at(p);
    at::Tensor a = per_unit_view(full, g.layer(p));
    at::Tensor grad = c == Criterion::kTaylor && full.grad().defined() ? per_unit_view(full.grad(), g.layer(p)) : at::Tensor();
    at::Tensor per_unit;
    switch (c) {
      case Criterion::kActivation: per_unit = a.detach().abs().transpose(0, 1).reshape({grp.size, -1}).mean(1); break;
      case Criterion::kApoz: per_unit = 1.0 - a.detach().eq(0).to(at::kFloat).transpose(0, 1).reshape({grp.size, -1}).mean(1); break;
      case Criterion::kTaylor: {
        if (!grad.defined()) throw InternalError(fmt::format("no gradient reached '{}'", p));
        at::Tensor prod = (a.detach() * grad).reshape({a.size(0), grp.size, -1}).sum(2);  // [N, U]
        per_unit = prod.abs().mean(0);
        break;
      }
      case Criterion::kL1:
      case Criterion::kL2: throw InternalError("weight criterion routed to activation scores");
    }
    total += per_unit.to(at::kCPU, at::kDouble);
  }
  return std::vector<double>(total.data_ptr<double>(), total.data_ptr<double>() + grp.size);
}

}  // namespace

std::vector<double> unit_importance(const ir::Graph& graph, const analysis::UnitGroup& group, Criterion criterion,
                                    const data::Split* sample) {
  if (!reduce::needs_data(criterion)) return reduce::weight_importance(graph, group, criterion);
  if (!sample || sample->size() == 0) {
    throw OptionError("DataOptions::spec",
                      fmt::format("criterion '{}' needs data; none was given", reduce::criterion_name(criterion)));
  }
  return activation_scores(graph, group, criterion, *sample);
}

reduce::ReductionPlan keep_most_important(const ir::Graph& graph, const std::string& layer, int64_t keep,
                                          Criterion criterion, const data::Split* sample) {
  return reduce::keep_most_important(graph, layer, keep, [&](const analysis::UnitGroup& group) {
    return unit_importance(graph, group, criterion, sample);
  });
}

}  // namespace snare::measure
