#include "measure/torch_oracle.h"

#include <ATen/ATen.h>

#include "dist/group.h"
#include "exec/network.h"
#include "measure/input_means.h"
#include "measure/unit_importance.h"

namespace snare::measure {

namespace {

/// The first `n` rows of a split (validation splits are already shuffled or subject-grouped).
data::Split head(const data::Split& s, int64_t n) {
  return data::subset(s, at::arange(std::min(n, s.size()), at::TensorOptions(at::kLong)));
}

}  // namespace

TorchOracle::TorchOracle(data::Split fit, data::Split validation, data::Split confirmation, TorchOracleOptions options,
                         ProgressSink* progress)
    : fit_(std::move(fit)),
      validation_(std::move(validation)),
      confirmation_(std::move(confirmation)),
      options_(options),
      progress_(progress) {
  // A stride through the validation split keeps every class (and subject) in the probe.
  int64_t step = std::max<int64_t>(1, validation_.size() / std::max<int64_t>(1, options_.probe_samples));
  probe_ = data::subset(validation_, at::arange(0, validation_.size(), step, at::TensorOptions(at::kLong)));
  importance_sample_ = head(fit_, options_.importance_samples);
}

TorchOracle::~TorchOracle() = default;

Hits TorchOracle::hits_on(const ir::Graph& model, const data::Split& split, dist::Group* group) const {
  if (split.size() == 0) return {};
  exec::ExecOptions eo;
  eo.device = options_.device;
  eo.group = group;
  return exec::evaluate(model, split, eo).correct;
}

Hits TorchOracle::validate(const ir::Graph& model) { return hits_on(model, validation_, options_.group); }

Hits TorchOracle::confirm(const ir::Graph& model) { return hits_on(model, confirmation_, options_.group); }

double TorchOracle::probe(const ir::Graph& model) {
  exec::ExecOptions eo;
  eo.device = options_.device;
  eo.group = options_.group;
  eo.cache = &probe_cache_;
  return exec::evaluate(model, probe_, eo).accuracy;
}

exec::TrainOptions TorchOracle::train_options(uint64_t seed, dist::Group* group) const {
  exec::TrainOptions o;
  o.stop_on_divergence = false;  // a diverged step is rolled back, not the end of the run
  o.lr = options_.lr;
  o.batch_size = options_.batch_size;
  o.seed = seed;
  o.device = options_.device;
  o.teacher = options_.teacher;
  o.augment = options_.augment;
  o.group = group;
  o.stop = options_.stop;
  return o;
}

ir::Graph TorchOracle::retrain(const ir::Graph& model, uint64_t seed) { return retrain_on(model, seed, options_.group); }

ir::Graph TorchOracle::retrain_on(const ir::Graph& model, uint64_t seed, dist::Group* group) const {
  if (options_.retrain_batches <= 0) return model;
  exec::TrainOptions o = train_options(seed, group);
  int64_t per_epoch = (fit_.size() + o.batch_size - 1) / o.batch_size;
  o.max_batches = options_.retrain_batches;
  o.epochs = std::max<int64_t>(1, (options_.retrain_batches + per_epoch - 1) / per_epoch);
  // Decayed to 0 like the baseline's training, so every step ends settled, not mid-kick at full lr (a
  // constant 1e-3 cost a converged LeNet-5 0.3-0.4 points per step); the last state is kept, so
  // retraining takes no extra look at the validation split.
  o.cosine = true;
  o.restore_best = false;
  return exec::train(model, fit_, nullptr, o).graph;
}

ir::Graph TorchOracle::finetune(const ir::Graph& model, uint64_t seed) {
  exec::TrainOptions o = train_options(seed, options_.group);
  o.epochs = options_.finetune_epochs;
  o.lr = options_.lr * options_.finetune_lr_scale;
  o.patience = options_.finetune_patience;
  o.restore_best = true;
  return exec::train(model, fit_, &validation_, o, progress_ ? *progress_ : null_progress()).graph;
}

std::vector<double> TorchOracle::importance(const ir::Graph& model, const analysis::UnitGroup& group) {
  std::vector<double> scores = unit_importance(model, group, options_.criterion, &importance_sample_);
  if (options_.group && !scores.empty()) {
    // Rank 0's scores everywhere: a criterion run on data may round differently on another machine's CPU.
    at::Tensor t = at::tensor(scores, at::kDouble);
    options_.group->broadcast({t});
    scores.assign(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  }
  return scores;
}

std::map<std::string, at::Tensor> TorchOracle::input_means(const ir::Graph& model) {
  std::map<std::string, at::Tensor> means = measure::input_means(model, importance_sample_);
  if (options_.group) {
    // Rank 0's means everywhere (as for importance): every rank must apply the same plans.
    std::vector<at::Tensor> all;
    for (auto& [name, mean] : means) all.push_back(mean);
    if (!all.empty()) options_.group->broadcast(all);
  }
  return means;
}

dist::Group& TorchOracle::trial_group(int parts) {
  std::unique_ptr<dist::Group>& g = trial_groups_[parts];
  if (!g) g = options_.group->split(parts);
  return *g;
}

std::vector<search::Trial> TorchOracle::trials(const std::vector<const ir::Graph*>& models,
                                               const std::vector<uint64_t>& seeds) {
  dist::Group* world = options_.group;
  if (world == nullptr || world->size() == 1 || models.size() <= 1) return Oracle::trials(models, seeds);
  const int parts = std::min(static_cast<int>(models.size()), world->size());
  dist::Group& mine = trial_group(parts);
  // A trial group of one rank trains alone: the same computation as a run without ranks.
  dist::Group* within = mine.size() > 1 ? &mine : nullptr;
  const int part = world->rank() % parts;
  std::vector<search::Trial> out(models.size());
  for (size_t t = 0; t < models.size(); ++t) {
    search::Trial& trial = out[t];
    if (static_cast<int>(t % static_cast<size_t>(parts)) == part) {
      trial.model = retrain_on(*models[t], seeds[t], within);
      trial.validation = hits_on(trial.model, validation_, within);
      trial.confirmation = hits_on(trial.model, confirmation_, within);
    } else {  // the structure is the candidate's on every rank; the weights and hits come from the trial's group
      trial.model = *models[t];
      for (ir::Layer& l : trial.model.layers) {
        for (auto& [name, w] : l.weights) w = w.clone();
      }
      trial.validation.assign(static_cast<size_t>(validation_.size()), 0);
      trial.confirmation.assign(static_cast<size_t>(confirmation_.size()), 0);
    }
  }
  for (size_t t = 0; t < models.size(); ++t) {
    search::Trial& trial = out[t];
    std::vector<at::Tensor> weights;
    for (ir::Layer& l : trial.model.layers) {
      for (auto& [name, w] : l.weights) weights.push_back(w);
    }
    const int root = static_cast<int>(t % static_cast<size_t>(parts));  // the trial group's rank 0
    world->broadcast(weights, root);
    for (Hits* hits : {&trial.validation, &trial.confirmation}) {
      if (hits->empty()) continue;
      at::Tensor h = at::from_blob(hits->data(), {static_cast<int64_t>(hits->size())}, at::kByte);
      world->broadcast({h}, root);  // unflattened into `h`, which is the hits' own memory
    }
  }
  return out;
}

}  // namespace snare::measure
