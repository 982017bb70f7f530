// What the SNARE loop needs from training and data, behind one small interface, so the loop can be
// tested with a fake in milliseconds and run on LibTorch (TorchOracle) for real.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "analysis/groups.h"
#include "ir/graph.h"
#include "search/tolerance.h"

namespace snare::search {

/// A candidate retrained and assessed: one of the parallel trials of a step.
struct Trial {
  ir::Graph model;
  Hits validation, confirmation;
};

class Oracle {
 public:
  virtual ~Oracle() = default;
  /// Hits on the validation split: the basis of every accept/reject decision.
  virtual Hits validate(const ir::Graph& model) = 0;
  /// Hits on the confirmation split, which no decision sees: only the final check of the tolerance and
  /// the walk-back to the last step that holds it read it. Empty when the run has no confirmation split.
  virtual Hits confirm(const ir::Graph& model) = 0;
  /// Accuracy on a small fixed validation sample: the cheap sensitivity probe of a trial reduction.
  virtual double probe(const ir::Graph& model) = 0;
  /// Brief retraining after a reduction step; `seed` makes it reproducible.
  virtual ir::Graph retrain(const ir::Graph& model, uint64_t seed) = 0;
  /// The longer fine-tuning: at the end and at each consolidation (keeps the best-validation weights).
  virtual ir::Graph finetune(const ir::Graph& model, uint64_t seed) = 0;
  /// Importance of each unit of `group` (higher = keep).
  virtual std::vector<double> importance(const ir::Graph& model, const analysis::UnitGroup& group) = 0;
  /// The mean input of each weighted layer, per input channel (reduce::ReductionPlan::input_means), for bias
  /// compensation; empty (no compensation) unless an oracle has data to measure it on.
  virtual std::map<std::string, at::Tensor> input_means(const ir::Graph& /*model*/) { return {}; }
  /// Retrains each of `models` with its seed and assesses it (validate, confirm). This one runs them one after the
  /// other; a distributed oracle runs them at once on groups of ranks. Either way the results are the same up to the
  /// order of float sums, and every rank gets all of them.
  virtual std::vector<Trial> trials(const std::vector<const ir::Graph*>& models, const std::vector<uint64_t>& seeds) {
    std::vector<Trial> out;
    for (size_t i = 0; i < models.size(); ++i) {
      Trial t;
      t.model = retrain(*models[i], seeds[i]);
      t.validation = validate(t.model);
      t.confirmation = confirm(t.model);
      out.push_back(std::move(t));
    }
    return out;
  }
};

}  // namespace snare::search
