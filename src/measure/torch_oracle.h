// snare::measure TorchOracle: the search's Oracle for the real SNARE run — LibTorch training and evaluation on
// in-memory splits (exec), unit importance by the criteria of measure/unit_importance.h.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>

#include "data/dataset.h"
#include "exec/activation_cache.h"
#include "exec/train.h"
#include "reduce/importance.h"
#include "search/oracle.h"

namespace snare::measure {

using search::Hits;
using search::Oracle;

struct TorchOracleOptions {
  /// Batches of brief retraining after each step (cosine decay to 0; the last state is kept).
  int64_t retrain_batches = 400;
  int64_t batch_size = 128;
  double lr = 1e-3;
  int64_t finetune_epochs = 10;    ///< final fine-tuning and each consolidation (best validation weights kept)
  int64_t finetune_patience = 3;
  double finetune_lr_scale = 0.3;  ///< fine-tunings run at lr * this (settling, not relearning)
  int64_t probe_samples = 2000;    ///< validation samples of the sensitivity probe
  int64_t importance_samples = 512;
  reduce::Criterion criterion = reduce::Criterion::kL2;
  std::string device = "cpu";
  /// Distil from this model (the input) while retraining; null = plain cross-entropy.
  const ir::Graph* teacher = nullptr;
  /// Perturbation of training batches in retraining and fine-tuning (the baseline is never retrained).
  exec::Augment augment;
  /// A distributed run's ranks: retraining is data-parallel and every evaluation sharded and summed over them, so
  /// each rank's search takes the same decisions (null: this process alone).
  dist::Group* group = nullptr;
  /// When set and true (a signal), a retraining or fine-tuning ends after its current batch and the search, which
  /// sees the same flag, discards it (exec::TrainOptions::stop; not read with a group).
  const std::atomic<bool>* stop = nullptr;
};

class TorchOracle : public Oracle {
 public:
  /// `confirmation` may be empty (a run without one).
  TorchOracle(data::Split fit, data::Split validation, data::Split confirmation, TorchOracleOptions options,
              ProgressSink* progress = nullptr);
  ~TorchOracle() override;

  Hits validate(const ir::Graph& model) override;
  Hits confirm(const ir::Graph& model) override;
  double probe(const ir::Graph& model) override;
  ir::Graph retrain(const ir::Graph& model, uint64_t seed) override;
  ir::Graph finetune(const ir::Graph& model, uint64_t seed) override;
  std::vector<double> importance(const ir::Graph& model, const analysis::UnitGroup& group) override;
  /// On the importance sample (training data).
  std::map<std::string, at::Tensor> input_means(const ir::Graph& model) override;
  /// In a distributed run, the trials run at once: rank r takes trial t when t % P == r % P (P = fewer of trials and
  /// ranks), data-parallel with the other ranks of its trial group; then each trial group's first rank broadcasts
  /// its retrained weights and hits to every rank.
  std::vector<search::Trial> trials(const std::vector<const ir::Graph*>& models,
                                    const std::vector<uint64_t>& seeds) override;

 private:
  exec::TrainOptions train_options(uint64_t seed, dist::Group* group) const;
  ir::Graph retrain_on(const ir::Graph& model, uint64_t seed, dist::Group* group) const;
  Hits hits_on(const ir::Graph& model, const data::Split& split, dist::Group* group) const;
  /// This rank's trial group when the world is split in `parts` (made once per count, on every rank alike).
  dist::Group& trial_group(int parts);

  data::Split fit_, validation_, confirmation_, probe_, importance_sample_;
  TorchOracleOptions options_;
  ProgressSink* progress_;
  std::map<int, std::unique_ptr<dist::Group>> trial_groups_;
  /// Layer outputs on probe_: a candidate probe recomputes only the layers its reduction changed (and after).
  exec::ActivationCache probe_cache_{int64_t{256} << 20};
};

}  // namespace snare::measure
