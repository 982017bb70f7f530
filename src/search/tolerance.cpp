#include "search/tolerance.h"

#include <fmt/format.h>

#include <cmath>

#include "common/error.h"

namespace snare::search {

double accuracy_of(const Hits& hits) {
  if (hits.empty()) return 0;
  int64_t right = 0;
  for (uint8_t h : hits) right += h ? 1 : 0;
  return static_cast<double>(right) / static_cast<double>(hits.size());
}

const char* rule_name(Rule rule) { return rule == Rule::kPaired ? "paired" : "accuracy-se"; }

std::vector<std::string> rule_names() {
  std::vector<std::string> names;
  for (Rule r : {Rule::kPaired, Rule::kAccuracySe}) names.push_back(rule_name(r));
  return names;
}

Rule rule_from_name(const std::string& name) {
  for (Rule r : {Rule::kPaired, Rule::kAccuracySe}) {
    if (name == rule_name(r)) return r;
  }
  throw OptionError("ReduceOptions::rule",
                    fmt::format("unknown tolerance rule '{}' (expected {})", name, fmt::join(rule_names(), " or ")));
}

double PairedLoss::loss() const {
  if (samples == 0) return 0;
  return static_cast<double>(only_reference - only_model) / static_cast<double>(samples);
}

double PairedLoss::standard_error() const {
  if (samples == 0) return 0;
  // Per-sample difference d_i in {-1, 0, 1}: E[d^2] = discordant / n, variance = E[d^2] - loss^2.
  const auto n = static_cast<double>(samples);
  const double d = loss();
  const double variance = std::max(0.0, static_cast<double>(only_reference + only_model) / n - d * d);
  return std::sqrt(variance / n);
}

PairedLoss paired_loss(const Hits& reference, const Hits& model) {
  if (reference.size() != model.size()) {
    throw InternalError(fmt::format("paired loss: {} reference hits against {} model hits", reference.size(),
                                    model.size()));
  }
  PairedLoss l;
  l.samples = static_cast<int64_t>(reference.size());
  for (size_t i = 0; i < reference.size(); ++i) {
    if (reference[i] && !model[i]) ++l.only_reference;
    if (!reference[i] && model[i]) ++l.only_model;
  }
  l.reference_accuracy = accuracy_of(reference);
  return l;
}

double margin_of(const Tolerance& t, const PairedLoss& loss) {
  if (loss.samples == 0 || t.margin_se <= 0) return 0;
  if (t.rule == Rule::kPaired) return t.margin_se * loss.standard_error();
  const double p = loss.reference_accuracy;
  return t.margin_se * std::sqrt(p * (1 - p) / static_cast<double>(loss.samples));
}

bool holds(const Tolerance& t, const PairedLoss& loss) {
  if (loss.samples == 0) return true;
  return loss.loss() + margin_of(t, loss) <= t.max_loss_pp / 100.0 + 1e-12;
}

}  // namespace snare::search
