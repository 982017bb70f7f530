// snare::exec training: cross-entropy training of an ir graph with Adam or SGD+momentum, shuffled
// index batches over in-memory tensors, optional batch augmentation, optional validation with early stopping and best-weights
// restore, optional distillation from a teacher graph. Connection masks stay exactly zero.
//
//   exec::TrainOptions o; o.epochs = 3; o.seed = 1;
//   exec::TrainResult r = exec::train(graph, fit, &val, o, sink);   // r.graph holds the new weights
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "common/progress.h"
#include "data/dataset.h"
#include "exec/augment.h"
#include "ir/graph.h"

namespace snare::dist {
class Group;
}

namespace snare::exec {

enum class Optimizer { kAdam, kSgd };
/// "adam", "sgd": one table for parsing, messages and --help.
const char* optimizer_name(Optimizer o);
std::vector<std::string> optimizer_names();
/// Throws OptionError (TrainOptions::optimizer) for other names.
Optimizer optimizer_from_name(const std::string& name);

struct TrainOptions {
  Optimizer optimizer = Optimizer::kAdam;
  double lr = 1e-3;
  double momentum = 0.9;      ///< SGD only
  double weight_decay = 0.0;
  int64_t batch_size = 128;
  int64_t epochs = 10;
  /// Stop after this many epochs without a better validation accuracy (0 = never stop early).
  int64_t patience = 0;
  /// Keep the weights of the best validation epoch instead of the last.
  bool restore_best = true;
  uint64_t seed = 1;
  std::string device = "cpu";
  /// Cosine learning-rate decay from lr to 0 over the planned batches (epochs x batches per epoch, or
  /// max_batches): the last epochs settle instead of bouncing, so the final weights are better.
  bool cosine = false;
  /// Stop after this many batches in total (0 = no limit); for short retraining steps.
  int64_t max_batches = 0;
  /// Distillation: loss = (1-a)*CE(labels) + a*T^2*KL(teacher_T || student_T).
  const ir::Graph* teacher = nullptr;
  double distill_alpha = 0.5;
  double distill_temperature = 4.0;
  /// Random perturbation of each training batch (off by default).
  Augment augment;
  /// A non-finite epoch loss ends training with an OptionError (TrainOptions::lr) instead of a NaN model. A search's
  /// retraining turns this off: its steps are judged by accuracy, and a diverged one is rolled back.
  bool stop_on_divergence = true;
  /// Data-parallel training over the ranks of a distributed run (null: this process alone). Each batch of
  /// batch_size is split over the ranks and the gradients summed, so a run computes what one process would, up to
  /// the order of float sums; every rank ends with the same weights (checked). Validation is sharded and summed.
  dist::Group* group = nullptr;
  /// When set and true (a signal), training ends after the current batch with TrainResult::stopped set; its weights
  /// are then those of an unfinished run, for the caller to discard. Not read with a group: every rank must run the
  /// same batches.
  const std::atomic<bool>* stop = nullptr;
};

struct EpochRecord {
  int64_t epoch = 0;
  double train_loss = 0;
  double val_accuracy = -1;  ///< -1 when no validation split
  double seconds = 0;
};

struct TrainResult {
  ir::Graph graph;
  std::vector<EpochRecord> epochs;
  double best_val_accuracy = -1;
  int64_t best_epoch = 0;
  bool stopped = false;  ///< ended early through TrainOptions::stop
};

/// Trains a copy of `graph` on `fit`, validating on `val` when given. Throws OptionError for bad
/// options (epochs < 1, lr <= 0, batch < 1), DataError for labels beyond the model's outputs.
TrainResult train(const ir::Graph& graph, const data::Split& fit, const data::Split* val, const TrainOptions& options,
                  ProgressSink& progress = null_progress());

}  // namespace snare::exec
