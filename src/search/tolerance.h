// What `--max-loss` promises and how each decision checks it. The loss of a model is measured against
// the input model on the same samples (paired): the samples only the input gets right minus those only
// the model gets right, over all samples. Every decision adds a margin of standard errors, so that a
// model passes only when its loss is inside the tolerance with some confidence, not just on average.
//
//   search::Tolerance t{0.39, 1.0, search::Rule::kPaired};
//   search::PairedLoss l = search::paired_loss(baseline_hits, model_hits);
//   bool ok = search::holds(t, l);   // l.loss() + 1 * l.standard_error() <= 0.0039
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace snare::search {

/// Per-sample hits of a model on one split, in the split's fixed order: 1 = predicted right.
using Hits = std::vector<uint8_t>;

/// Fraction of hits (0 for none).
double accuracy_of(const Hits& hits);

/// How the margin is sized (docs/search.md compares the two by measurement).
enum class Rule {
  /// Standard error of the paired loss estimate: grows as the model drifts away from the input (more
  /// samples where the two disagree), and is near 0 while the two still agree almost everywhere.
  kPaired,
  /// Standard error of the input's accuracy alone, sqrt(p(1-p)/n): the rule before confirmation existed.
  kAccuracySe,
};
const char* rule_name(Rule rule);
/// Parses "paired" | "accuracy-se"; throws OptionError (ReduceOptions::rule).
Rule rule_from_name(const std::string& name);
/// Every rule's name, for parsing and --help.
std::vector<std::string> rule_names();

/// The accuracy a model loses against a reference (the input model) on the same samples.
struct PairedLoss {
  int64_t samples = 0;         ///< 0 = not measured (e.g. a run without a confirmation split)
  int64_t only_reference = 0;  ///< samples the reference gets right and the model wrong
  int64_t only_model = 0;      ///< samples the model gets right and the reference wrong
  double reference_accuracy = 0;
  double loss() const;            ///< (only_reference - only_model) / samples: accuracy lost, as a fraction
  double standard_error() const;  ///< of loss(): the spread of the per-sample differences / sqrt(samples)
};

/// Compares two hit vectors of one split. Throws InternalError when their lengths differ.
PairedLoss paired_loss(const Hits& reference, const Hits& model);

struct Tolerance {
  double max_loss_pp = 0.39;  ///< percentage points
  double margin_se = 1.0;     ///< standard errors (of the rule) the loss must stay inside max_loss
  Rule rule = Rule::kPaired;
};

/// The margin in accuracy (a fraction) a model with `loss` must keep inside the tolerance.
double margin_of(const Tolerance& t, const PairedLoss& loss);

/// loss + margin <= max_loss (equal passes despite rounding). A loss never measured holds.
bool holds(const Tolerance& t, const PairedLoss& loss);

}  // namespace snare::search
