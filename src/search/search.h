// snare::search — the SNARE loop: score every reducible part of the network, apply the best-scored
// reduction, retrain briefly, keep it if validation accuracy stays within the tolerance, roll back
// and shrink the step otherwise; stop when nothing is left to reduce or a budget is met; fine-tune.
// Last, the confirmation split (which no decision saw) checks the result: the model returned is the
// last accepted one that holds the tolerance there. docs/search.md states the score formula, the
// step-size rules and the tolerance rules.
//
//   search::SearchOptions o; o.max_loss_pp = 0.39;
//   search::SearchResult r = search::run(model, oracle, o);   // r.model, r.state.history
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/progress.h"
#include "ir/graph.h"
#include "reduce/plan.h"
#include "search/oracle.h"

namespace snare::search {

enum class Op { kUnits, kMask, kLowRank, kFinetune };
const char* op_name(Op op);

struct SearchOptions {
  double max_loss_pp = 0.39;      ///< tolerated accuracy loss against the input model, percentage points
  /// Safety margin in standard errors (of `rule`): a step must keep its validation loss this far inside the
  /// tolerance, so the loss on unseen data stays within it more often.
  double margin_se = 1.0;
  /// The same for the confirmation split: the returned model's confirmation loss plus this many standard
  /// errors stays within the tolerance. Half of the decisions' margin: the confirmation takes one look per step,
  /// not dozens, and 0.5 held the tolerance on unseen data as often as 1 at more reduction (docs/search.md).
  double confirm_margin_se = 0.5;
  Rule rule = Rule::kPaired;
  int64_t budget_params = 0;      ///< stop once non-zero params <= this (0 = none)
  int64_t budget_macs = 0;        ///< stop once MACs <= this (0 = none)
  double time_limit_s = 0;        ///< stop starting new steps after this (0 = none)
  uint64_t seed = 1;
  double unit_step = 0.5;         ///< first attempt removes this fraction of a group's units
  double mask_step = 0.5;         ///< first attempt masks this fraction of a layer's remaining weights
  double lowrank_step = 0.75;     ///< first attempt removes this fraction of a layer's useful rank
  /// Convolution filters are kept in multiples of this (1 = any count). Runtimes with blocked conv
  /// kernels (ONNX Runtime's NCHWc: 16 channels on AVX-512, 8 on AVX2) compute whole blocks, so a
  /// cut inside a block saves MACs on paper only. Groups of at most this many filters are left whole.
  int64_t channel_multiple = 1;
  /// A step that misses the threshold by less than recovery_window_pp gets up to this many more rounds
  /// of retraining before it is rolled back: short retraining often leaves a good step just short.
  /// Off by default: every extra look at the validation split also lets noise pass (docs/search.md).
  int recovery_rounds = 0;
  double recovery_window_pp = 0.5;
  int max_failures = 3;           ///< a target is retired after this many rejected steps in a row
  double min_mask_step = 0.05;    ///< smaller mask steps are not tried
  bool units = true, masks = true, lowrank = true;
  /// Bias compensation: a removed unit's or masked weight's mean contribution (Oracle::input_means) moves into the
  /// next layer's bias, so a step starts from a model whose outputs keep their expected values (docs/search.md).
  bool compensate = false;
  double mac_weight = 0.5;        ///< weight of the MAC gain against the non-zero-parameter gain
  bool final_finetune = true;
  /// When no candidate is left, fine-tune the whole network (as the final fine-tuning) and, when validation does
  /// not get worse, give every target a fresh start (no failures, first step sizes) and go on; at most this many
  /// times. The fine-tuning wins back accuracy that step after step of short retraining left behind.
  int consolidations = 0;
  /// Candidates retrained per step (the top-scored ones, one per target; Oracle::trials, at once on groups of
  /// ranks in a distributed run): the best-scored one that holds is kept, the ones scored above it are rolled back
  /// and the ones below it are dropped undecided (docs/search.md).
  int trials = 1;
};

/// One scored candidate of a step.
struct CandidateScore {
  std::string target;
  Op op = Op::kUnits;
  double score = 0;
  double param_share = 0;  ///< non-zero params it removes / current non-zero params
  double mac_share = 0;    ///< MACs it removes / current MACs
  double sensitivity = 0;  ///< probe accuracy drop without retraining
  int failures = 0;
  /// False when the candidate was not probed: its score could not beat the pick's even with no accuracy drop
  /// (score and sensitivity are then unknown, and score_bound is that upper bound).
  bool probed = true;
  double score_bound = 0;
};

struct StepRecord {
  int64_t step = 0;
  Op op = Op::kUnits;
  std::string target;
  std::string plan;
  std::vector<CandidateScore> scores;
  int64_t params = 0, nonzero_params = 0, macs = 0;
  double val_accuracy = 0;
  PairedLoss val_loss;      ///< against the input model on the validation split (the decision)
  PairedLoss confirm_loss;  ///< the same on the confirmation split: recorded, never decided on
  bool confirm_holds = true;
  double seconds = 0;
  bool accepted = false;
  std::string reason;
};

/// Seconds per phase of the loop, summed over the run (a resumed run adds to what its checkpoint had).
struct SearchTiming {
  double probing = 0;      ///< building and scoring candidates: importance, applying plans, sensitivity probes
  double retraining = 0;   ///< retraining after each step (recovery rounds included)
  double validation = 0;   ///< validation and confirmation passes, the input model's reference passes included
  double rolled_back = 0;  ///< wall time of the steps that were rolled back (spent within the three above)
  double finetuning = 0;   ///< the consolidations and the final fine-tuning (their validation counts under `validation`)
  double checkpoints = 0;  ///< the checkpoint hook: writing models and the state
};

/// Everything needed to continue a run: the model after the last accepted step and the loop's memory.
struct SearchState {
  ir::Graph model;  ///< after the last accepted step: where the search goes on from
  double baseline_val_accuracy = -1;
  double baseline_confirm_accuracy = -1;  ///< -1 = no confirmation split
  /// The last accepted model that holds the tolerance on the confirmation split (step 0 = the input
  /// model): what the run returns.
  ir::Graph confirmed_model;
  int64_t confirmed_step = 0;
  int64_t next_step = 1;
  std::map<std::string, double> step_size;  ///< "units:conv2d_1" -> the fraction the next step removes
  std::map<std::string, int> failures;
  std::set<std::string> retired;
  std::vector<StepRecord> history;
  bool finished = false;
  std::string stop_reason;
  SearchTiming timing;
};

struct SearchHooks {
  /// Called after every accepted step (and at the end) with the state to checkpoint.
  std::function<void(const SearchState&)> checkpoint;
  /// When set and true (Ctrl-C), the loop stops before the next step; checked again after each retraining and
  /// fine-tuning, which is then discarded (an oracle whose training reads the same flag ends it early).
  const std::atomic<bool>* stop = nullptr;
  ProgressSink* progress = nullptr;
  /// A distributed run's agreement on the decisions that rest on this process alone (a stop request, the time
  /// limit): true on every rank when true on any. Unset: this process decides alone.
  std::function<bool(bool)> any_rank;
};

struct SearchResult {
  ir::Graph model;  ///< = state.confirmed_model
  SearchState state;
  bool interrupted = false;
  int64_t last_accepted_step = 0;  ///< the final fine-tuning counts when it was kept; 0 = none
  int64_t returned_step = 0;       ///< state.confirmed_step; < last_accepted_step when it walked back
  PairedLoss validation, confirmation;  ///< of the returned model against the input model
};

/// The step of the last accepted record in `state.history` (0 = none).
int64_t last_accepted_step(const SearchState& state);

/// The tolerance of decisions (validation) and of the final check (confirmation).
Tolerance tolerance_of(const SearchOptions& options);
Tolerance confirm_tolerance_of(const SearchOptions& options);

/// Throws OptionError naming the first field of `options` outside its legal range (NaN and infinity included).
void check_options(const SearchOptions& options);

/// Runs the loop from the input `model`, or continues `resume` when given (its model is the start; its
/// confirmed_model must be set when confirmed_step > 0). Either way `model` is the input, the reference
/// every loss is measured against. Checks `options` first (check_options).
SearchResult run(const ir::Graph& model, Oracle& oracle, const SearchOptions& options, const SearchHooks& hooks = {},
                 const SearchState* resume = nullptr);

}  // namespace snare::search
