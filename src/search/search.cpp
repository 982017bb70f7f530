#include "search/search.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>

#include "analysis/groups.h"
#include "analysis/stats.h"
#include "common/error.h"
#include "reduce/factorize.h"
#include "reduce/magnitude.h"

namespace snare::search {

namespace {

using Clock = std::chrono::steady_clock;

/// A reduction that could be taken in this step, already applied (but not retrained).
struct Candidate {
  Op op = Op::kUnits;
  std::string target;
  std::string key;
  double fraction = 0;  ///< the step tried: the fraction removed (of a group's units, of a layer's remaining
                        ///< weights, of a layer's useful rank)
  reduce::ReductionPlan plan;
  ir::Graph result;
  analysis::ModelStats stats;
};

/// The current step of a target and two smaller ones: a big step that costs too much accuracy
/// still leaves a cheaper one to score, without waiting for failures to shrink it.
std::vector<double> fractions_to_try(double step) { return {step, step / 2, step / 4}; }

std::string key_of(Op op, const std::string& target) { return std::string(op_name(op)) + ":" + target; }

/// Adds the seconds from its construction to its destruction to `into`.
class Stopwatch {
 public:
  explicit Stopwatch(double& into) : into_(into), start_(Clock::now()) {}
  ~Stopwatch() { into_ += std::chrono::duration<double>(Clock::now() - start_).count(); }
  Stopwatch(const Stopwatch&) = delete;
  Stopwatch& operator=(const Stopwatch&) = delete;

 private:
  double& into_;
  Clock::time_point start_;
};

uint64_t step_seed(uint64_t seed, int64_t step) { return seed * 1000003ULL + static_cast<uint64_t>(step); }

double step_of(const SearchState& s, const std::string& key, double initial) {
  auto it = s.step_size.find(key);
  return it == s.step_size.end() ? initial : it->second;
}

int failures_of(const SearchState& s, const std::string& key) {
  auto it = s.failures.find(key);
  return it == s.failures.end() ? 0 : it->second;
}

bool is_conv_group(const ir::Graph& g, const analysis::UnitGroup& grp) {
  for (const std::string& p : grp.producers) {
    ir::LayerKind k = g.layer(p).kind;
    if (k == ir::LayerKind::kConv1D || k == ir::LayerKind::kConv2D || k == ir::LayerKind::kSeparableConv1D ||
        k == ir::LayerKind::kSeparableConv2D) {
      return true;
    }
  }
  return false;
}

/// Units to remove for a step of `fraction`: at least 1, never all; for conv groups under
/// --channel-multiple, so many that a whole multiple of filters stays (0 = no such step).
int64_t units_to_remove(double fraction, int64_t size, int64_t multiple) {
  int64_t remove = std::clamp<int64_t>(std::llround(fraction * static_cast<double>(size)), 1, size - 1);
  if (multiple <= 1) return remove;
  int64_t keep = std::max<int64_t>(multiple, (size - remove + multiple / 2) / multiple * multiple);
  return keep < size ? size - keep : 0;
}

void unit_candidates(const ir::Graph& g, Oracle& oracle, const SearchOptions& o, SearchState& st,
                     std::vector<Candidate>& out) {
  for (const analysis::UnitGroup& grp : analysis::unit_groups(g)) {
    std::string key = key_of(Op::kUnits, grp.id);
    if (!grp.prunable || grp.size < 2 || st.retired.count(key)) continue;
    int64_t multiple = is_conv_group(g, grp) ? o.channel_multiple : 1;
    if (grp.size <= multiple) continue;
    std::vector<double> score = oracle.importance(g, grp);
    std::vector<int64_t> order(static_cast<size_t>(grp.size));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)];
    });
    int64_t last_remove = 0;
    for (double fraction : fractions_to_try(step_of(st, key, o.unit_step))) {
      int64_t remove = units_to_remove(fraction, grp.size, multiple);
      if (remove == 0 || remove == last_remove) continue;
      last_remove = remove;
      std::vector<int64_t> keep(order.begin(), order.begin() + (grp.size - remove));
      std::sort(keep.begin(), keep.end());
      Candidate c;
      c.op = Op::kUnits;
      c.target = grp.id;
      c.key = key;
      c.fraction = fraction;
      c.plan.units.push_back({grp.id, keep});
      out.push_back(std::move(c));
    }
  }
}

void mask_candidates(const ir::Graph& g, const SearchOptions& o, SearchState& st, std::vector<Candidate>& out) {
  std::vector<std::string> layers;
  for (const auto& [layer, weight] : reduce::maskable_weights(g)) {
    if (layers.empty() || layers.back() != layer) layers.push_back(layer);
  }
  for (const std::string& layer : layers) {
    std::string key = key_of(Op::kMask, layer);
    if (st.retired.count(key)) continue;
    const ir::Layer& l = g.layer(layer);
    int64_t total = 0, nonzero = 0;
    for (const auto& [layer_name, weight] : reduce::maskable_weights(g)) {
      if (layer_name != layer) continue;
      total += l.weights.at(weight).numel();
      nonzero += l.weights.at(weight).ne(0).sum().item<int64_t>();
    }
    for (double fraction : fractions_to_try(step_of(st, key, o.mask_step))) {
      if (fraction < o.min_mask_step) break;
      auto to_prune = static_cast<int64_t>(std::floor(fraction * static_cast<double>(nonzero)));
      if (to_prune < 1 || nonzero - to_prune < 2) continue;
      double sparsity = static_cast<double>(total - nonzero + to_prune) / static_cast<double>(total);
      Candidate c;
      c.op = Op::kMask;
      c.target = layer;
      c.key = key;
      c.fraction = fraction;
      c.plan = reduce::magnitude_plan(g, sparsity, {layer}, /*global=*/true);
      out.push_back(std::move(c));
    }
  }
}

void lowrank_candidates(const ir::Graph& g, const SearchOptions& o, SearchState& st, std::vector<Candidate>& out) {
  for (const ir::Layer& l : g.layers) {
    std::string key = key_of(Op::kLowRank, l.name);
    if (st.retired.count(key) || !l.masks.empty()) continue;
    // Neither half of a factorised pair is factorised again.
    const bool first_half = !l.factorized_from.empty();
    const bool second_half = std::any_of(g.layers.begin(), g.layers.end(),
                                         [&](const ir::Layer& other) { return other.factorized_from == l.name; });
    if (first_half || second_half) continue;
    int64_t max_rank = reduce::max_useful_rank(l);
    if (max_rank < 1) continue;
    double step = step_of(st, key, o.lowrank_step);
    Candidate c;
    c.op = Op::kLowRank;
    c.target = l.name;
    c.key = key;
    c.fraction = step;
    c.plan.factorizations.push_back(
        {l.name, std::clamp<int64_t>(std::llround((1.0 - step) * static_cast<double>(max_rank)), 1, max_rank)});
    out.push_back(std::move(c));
  }
}

/// Shrinks a rejected target's step; retires it after repeated failures or when the step is too small.
void on_reject(SearchState& st, const Candidate& c, const SearchOptions& o) {
  if (c.op == Op::kFinetune) return;
  int f = ++st.failures[c.key];
  const double step = c.fraction * 0.5;
  st.step_size[c.key] = step;
  bool too_small = c.op == Op::kMask && step < o.min_mask_step;
  if (f >= o.max_failures || too_small) st.retired.insert(c.key);
}

/// The candidates a step retrains: the `k` best probed scores (> 0), one per target (key), best first; ties go to the
/// earlier candidate.
std::vector<size_t> top_picks(const std::vector<Candidate>& cands, const std::vector<CandidateScore>& scores, int k) {
  std::vector<size_t> order;
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i].probed && scores[i].score > 0) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a].score > scores[b].score; });
  std::vector<size_t> picks;
  std::set<std::string> keys;
  for (size_t i : order) {
    if (static_cast<int>(picks.size()) == k) break;
    if (keys.insert(cands[i].key).second) picks.push_back(i);
  }
  return picks;
}

StepRecord record_of(int64_t step, const Candidate& c, const analysis::ModelStats& s) {
  StepRecord r;
  r.step = step;
  r.op = c.op;
  r.target = c.target;
  r.params = s.params;
  r.nonzero_params = s.nonzero_params;
  r.macs = s.macs;
  return r;
}

}  // namespace

const char* op_name(Op op) {
  switch (op) {
    case Op::kUnits: return "units";
    case Op::kMask: return "mask";
    case Op::kLowRank: return "lowrank";
    case Op::kFinetune: return "finetune";
  }
  return "?";
}

int64_t last_accepted_step(const SearchState& st) {
  int64_t step = 0;
  for (const StepRecord& r : st.history) {
    if (r.accepted) step = r.step;
  }
  return step;
}

Tolerance tolerance_of(const SearchOptions& o) { return {o.max_loss_pp, o.margin_se, o.rule}; }

Tolerance confirm_tolerance_of(const SearchOptions& o) { return {o.max_loss_pp, o.confirm_margin_se, o.rule}; }

void check_options(const SearchOptions& o) {
  auto require = [](bool ok, const char* field, const std::string& problem) {
    if (!ok) throw OptionError(field, problem);
  };
  auto finite_nonnegative = [](double v) { return std::isfinite(v) && v >= 0; };
  const char* kFinite = "must be a finite number >= 0, got {}";
  require(finite_nonnegative(o.max_loss_pp), "SearchOptions::max_loss_pp", fmt::format(kFinite, o.max_loss_pp));
  require(finite_nonnegative(o.margin_se), "SearchOptions::margin_se", fmt::format(kFinite, o.margin_se));
  require(finite_nonnegative(o.confirm_margin_se), "SearchOptions::confirm_margin_se",
          fmt::format(kFinite, o.confirm_margin_se));
  require(o.budget_params >= 0, "SearchOptions::budget_params", fmt::format("must be >= 0, got {}", o.budget_params));
  require(o.budget_macs >= 0, "SearchOptions::budget_macs", fmt::format("must be >= 0, got {}", o.budget_macs));
  // Either budget stops the run when met, so with both the first one met would silently win over the other.
  require(o.budget_params == 0 || o.budget_macs == 0, "SearchOptions::budget_macs",
          "set either it or SearchOptions::budget_params, not both (the run stops at the first budget met)");
  require(finite_nonnegative(o.mac_weight), "SearchOptions::mac_weight", fmt::format(kFinite, o.mac_weight));
  require(finite_nonnegative(o.time_limit_s), "SearchOptions::time_limit_s", fmt::format(kFinite, o.time_limit_s));
  require(o.recovery_rounds >= 0, "SearchOptions::recovery_rounds", fmt::format("must be >= 0, got {}", o.recovery_rounds));
  require(finite_nonnegative(o.recovery_window_pp), "SearchOptions::recovery_window_pp",
          fmt::format(kFinite, o.recovery_window_pp));
  require(o.channel_multiple >= 1, "SearchOptions::channel_multiple",
          fmt::format("must be >= 1, got {}", o.channel_multiple));
  require(o.consolidations >= 0, "SearchOptions::consolidations",
          fmt::format("must be >= 0, got {}", o.consolidations));
  require(o.trials >= 1 && o.trials <= 64, "SearchOptions::trials", fmt::format("must be from 1 to 64, got {}", o.trials));
}

namespace {

/// One run of the loop: the input's reference hits, the tolerances and the state, with one method per phase.
class Loop {
 public:
  Loop(const ir::Graph& model, Oracle& oracle, const SearchOptions& o, const SearchHooks& hooks)
      : model_(model),
        oracle_(oracle),
        o_(o),
        hooks_(hooks),
        progress_(hooks.progress ? *hooks.progress : null_progress()),
        tol_(tolerance_of(o)),
        confirm_tol_(confirm_tolerance_of(o)),
        // The input's hits are the reference of every loss; recomputed on resume (deterministic, one pass each).
        base_val_(oracle.validate(model)),
        base_confirm_(oracle.confirm(model)),
        reference_seconds_(std::chrono::duration<double>(Clock::now() - started_).count()) {}

  SearchResult run(const SearchState* resume) {
    start(resume);
    while (!st_.finished) {
      const analysis::ModelStats now = analysis::analyze(st_.model);
      if (interrupted_ || stop_requested()) {
        interrupted_ = true;
        break;
      }
      if (std::string reason = budget_reason(now); !reason.empty()) {
        st_.stop_reason = reason;
        break;
      }
      if (!step(now)) {
        if (consolidate() || interrupted_) continue;
        st_.stop_reason = "no reducible part left";
        break;
      }
    }
    if (o_.final_finetune && !interrupted_ && !st_.finished && !finetuned_since_last_step()) {
      finetune("final fine-tuning");
    }
    if (interrupted_) {
      st_.stop_reason = "interrupted";
      checkpoint();
    } else if (!st_.finished) {
      st_.finished = true;
      checkpoint();
    }
    return result(interrupted_);
  }

 private:
  void start(const SearchState* resume) {
    if (resume) {
      st_ = *resume;
    } else {
      st_.model = model_;
      st_.baseline_val_accuracy = accuracy_of(base_val_);
      st_.baseline_confirm_accuracy = base_confirm_.empty() ? -1 : accuracy_of(base_confirm_);
    }
    if (st_.confirmed_step == 0) st_.confirmed_model = model_;
    st_.timing.validation += reference_seconds_;
    if (st_.finished) return;
    progress_.log(fmt::format("baseline validation accuracy {:.4f}{}; steps keep the loss on validation within {} pp "
                              "with a margin of {} standard error(s) ({} rule)",
                              st_.baseline_val_accuracy,
                              base_confirm_.empty() ? "" : fmt::format(", confirmation {:.4f}", st_.baseline_confirm_accuracy),
                              o_.max_loss_pp, o_.margin_se, rule_name(o_.rule)));
  }

  /// A stop request (Ctrl-C, SIGTERM), agreed by every rank of a distributed run.
  bool stop_requested() const {
    bool stop = hooks_.stop && hooks_.stop->load();
    if (hooks_.any_rank) stop = hooks_.any_rank(stop);
    return stop;
  }

  /// After a retraining or fine-tuning that a stop request may have cut short (the oracle's training reads the same
  /// flag): true when it came, and then the work of `step` is forgotten (its number too), so that --resume does
  /// it again with the same seed and the run ends as one never interrupted.
  bool cut_short(int64_t step, const std::string& what) {
    if (!stop_requested()) return false;
    interrupted_ = true;
    st_.next_step = step;
    progress_.log(fmt::format("step {}: {} stopped by a signal and discarded; --resume does it again", step, what));
    return true;
  }

  /// Why the run stops before another step (a budget met, the time limit); "" to go on.
  std::string budget_reason(const analysis::ModelStats& now) const {
    if (o_.budget_params > 0 && now.nonzero_params <= o_.budget_params) {
      return fmt::format("parameter budget met ({} <= {})", now.nonzero_params, o_.budget_params);
    }
    if (o_.budget_macs > 0 && now.macs <= o_.budget_macs) {
      return fmt::format("MAC budget met ({} <= {})", now.macs, o_.budget_macs);
    }
    bool late = o_.time_limit_s > 0 && std::chrono::duration<double>(Clock::now() - started_).count() > o_.time_limit_s;
    if (hooks_.any_rank) late = hooks_.any_rank(late);
    if (late) return "time limit reached";
    return "";
  }

  /// Every candidate of this step, applied; one that cannot be applied is retired and scored -1.
  std::vector<Candidate> candidates() {
    std::vector<Candidate> cands;
    if (o_.units) unit_candidates(st_.model, oracle_, o_, st_, cands);
    if (o_.masks) mask_candidates(st_.model, o_, st_, cands);
    if (o_.lowrank) lowrank_candidates(st_.model, o_, st_, cands);
    if (o_.compensate) {
      for (Candidate& c : cands) {
        if (!c.plan.units.empty() || !c.plan.masks.empty()) c.plan.input_means = means_now();
      }
    }
    return cands;
  }

  /// The input means of the current model's layers, measured once per model (as probe_now).
  const std::map<std::string, at::Tensor>& means_now() {
    if (!means_now_) means_now_ = oracle_.input_means(st_.model);
    return *means_now_;
  }

  /// Score: (share of non-zero params removed + mac_weight * share of MACs removed) divided by the probe accuracy
  /// drop (plus a floor), halved for every recent failure of the same target. The floor bounds every score by
  /// gain / floor * 0.5^failures before any probe, so candidates are probed in the order of that bound and the rest
  /// are left unprobed once the bound falls below the best score found: the pick is the same as if every candidate
  /// had been probed (ties go to the earlier candidate, as before), at about half the probes.
  std::vector<CandidateScore> score(std::vector<Candidate>& cands, const analysis::ModelStats& now) {
    constexpr double kFloor = 0.005;
    std::vector<CandidateScore> scores(cands.size());
    std::vector<double> gain(cands.size(), 0.0), bound(cands.size(), 0.0);
    for (size_t i = 0; i < cands.size(); ++i) {
      Candidate& c = cands[i];
      CandidateScore& s = scores[i];
      s.target = c.target;
      s.op = c.op;
      s.failures = failures_of(st_, c.key);
      reduce::Applied applied = reduce::try_apply(st_.model, c.plan);
      if (!applied.ok()) {  // e.g. a group that its neighbours' reductions made unprunable
        st_.retired.insert(c.key);
        s.score = -1;
        continue;
      }
      c.result = std::move(applied.graph);
      c.stats = analysis::analyze(c.result);
      s.param_share = static_cast<double>(now.nonzero_params - c.stats.nonzero_params) /
                      static_cast<double>(std::max<int64_t>(1, now.nonzero_params));
      s.mac_share = static_cast<double>(now.macs - c.stats.macs) / static_cast<double>(std::max<int64_t>(1, now.macs));
      gain[i] = s.param_share + o_.mac_weight * s.mac_share;
      bound[i] = gain[i] <= 0 ? 0.0 : gain[i] / kFloor * std::pow(0.5, s.failures);
      s.probed = false;
    }
    std::vector<size_t> order(cands.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return bound[a] > bound[b]; });
    // The last of the step's picks (the best, or the k-th with --trials k): a candidate must beat it to be picked.
    double last = 0;
    size_t last_index = cands.size();
    for (size_t i : order) {
      CandidateScore& s = scores[i];
      if (s.score < 0 || bound[i] <= 0) continue;
      if (bound[i] < last || (bound[i] == last && i > last_index)) break;  // no later one can be picked either
      s.sensitivity = probe_now() - oracle_.probe(cands[i].result);
      s.score = gain[i] / (std::max(0.0, s.sensitivity) + kFloor) * std::pow(0.5, s.failures);
      s.probed = true;
      const std::vector<size_t> picks = top_picks(cands, scores, o_.trials);
      if (static_cast<int>(picks.size()) == o_.trials) {
        last = scores[picks.back()].score;
        last_index = picks.back();
      }
    }
    for (size_t i = 0; i < cands.size(); ++i) {
      if (!scores[i].probed && scores[i].score >= 0) scores[i].score_bound = bound[i];
    }
    return scores;
  }

  /// The probe accuracy of the current model, measured once per model (a rolled-back step leaves the model as it was).
  double probe_now() {
    if (!probe_now_) probe_now_ = oracle_.probe(st_.model);
    return *probe_now_;
  }

  /// Scores the candidates, retrains the best (or the best few, --trials) and keeps it if it holds; false when
  /// nothing is left to try.
  bool step(const analysis::ModelStats& now) {
    const auto t0 = Clock::now();
    std::vector<Candidate> cands;
    std::vector<CandidateScore> scores;
    {
      Stopwatch probing(st_.timing.probing);
      cands = candidates();
      scores = score(cands, now);
    }
    const std::vector<size_t> picks = top_picks(cands, scores, o_.trials);
    if (picks.empty()) return false;
    if (o_.trials == 1) {
      const size_t best = picks.front();
      const int64_t step = st_.next_step++;
      log_pick(step, cands[best], scores[best], "");
      int rounds = 0;
      StepRecord rec;
      ir::Graph retrained = retrain_with_recovery(cands[best], step, rec, rounds);
      if (cut_short(step, "its retraining")) return true;
      decide(cands[best], scores, std::move(retrained), rec, rounds, t0, "");
      return true;
    }
    // Parallel trials: every pick is retrained (at once on groups of ranks), then decided in score order as if one
    // after the other: the first that holds is kept, those before it are rolled back, those after it are dropped.
    const int64_t first_step = st_.next_step;
    std::vector<const ir::Graph*> models;
    std::vector<uint64_t> seeds;
    for (size_t t = 0; t < picks.size(); ++t) {
      models.push_back(&cands[picks[t]].result);
      seeds.push_back(trial_seed(first_step, static_cast<int>(t)));
    }
    progress_.log(fmt::format("step {}: {} trials at once: {}", first_step, picks.size(),
                              fmt::join(trial_names(cands, picks), ", ")));
    std::vector<Trial> outcomes;
    {
      Stopwatch retraining(st_.timing.retraining);
      outcomes = oracle_.trials(models, seeds);
    }
    if (cut_short(first_step, "its trials' retraining")) return true;
    auto since = t0;
    for (size_t t = 0; t < picks.size(); ++t) {
      const Candidate& pick = cands[picks[t]];
      const std::string trial = fmt::format("trial {} of {}", t + 1, picks.size());
      const int64_t step = st_.next_step++;
      log_pick(step, pick, scores[picks[t]], trial);
      StepRecord rec = record_of(step, pick, analysis::analyze(outcomes[t].model));
      // The trials' validation passes ran inside Oracle::trials (counted as retraining); this only compares hits.
      assess_hits(outcomes[t].validation, outcomes[t].confirmation, rec);
      int rounds = 1;
      ir::Graph retrained = recover(std::move(outcomes[t].model), step, rec, rounds);
      const bool kept = decide(pick, scores, std::move(retrained), rec, rounds, since, trial);
      since = Clock::now();
      if (kept) {
        if (t + 1 < picks.size()) {
          const std::string rest = t + 2 == picks.size() ? fmt::format("trial {}", t + 2)
                                                         : fmt::format("trials {} to {}", t + 2, picks.size());
          progress_.log(fmt::format("step {}: {} dropped undecided (a better-scored trial holds)", step, rest));
        }
        break;
      }
    }
    return true;
  }

  /// The seed of a step's trial `t`: trial 0 retrains with the seed a step of one candidate would have.
  uint64_t trial_seed(int64_t step, int t) const {
    return step_seed(o_.seed, step) + 0xD1B54A32D192ED03ULL * static_cast<uint64_t>(t);
  }

  static std::vector<std::string> trial_names(const std::vector<Candidate>& cands, const std::vector<size_t>& picks) {
    std::vector<std::string> names;
    for (size_t i : picks) names.push_back(fmt::format("{} {}", op_name(cands[i].op), cands[i].target));
    return names;
  }

  void log_pick(int64_t step, const Candidate& pick, const CandidateScore& score, const std::string& trial) {
    progress_.log(fmt::format("step {}: {} {} (score {:.3g}, probe drop {:.4f}){}", step, op_name(pick.op),
                              pick.target, score.score, score.sensitivity, trial.empty() ? "" : ", " + trial));
  }

  /// Records the step of `pick`, retrained to `retrained` and assessed in `rec`, and keeps or rolls it back; true when
  /// kept. `since`: when the step's time began.
  bool decide(const Candidate& pick, const std::vector<CandidateScore>& scores, ir::Graph retrained, StepRecord& rec,
              int rounds, Clock::time_point since, const std::string& trial) {
    rec.plan = pick.plan.describe(st_.model);
    rec.scores = scores;
    rec.accepted = holds(tol_, rec.val_loss);
    rec.reason = fmt::format("val accuracy {:.4f}, loss {:+.2f} pp, margin {:.2f} pp: {} {} pp{}{}", rec.val_accuracy,
                             100 * rec.val_loss.loss(), 100 * margin_of(tol_, rec.val_loss),
                             rec.accepted ? "within" : "beyond", o_.max_loss_pp,
                             rounds > 1 ? fmt::format(" after {} rounds of retraining", rounds) : "",
                             trial.empty() ? "" : " (" + trial + ")");
    rec.seconds = std::chrono::duration<double>(Clock::now() - since).count();
    st_.history.push_back(rec);
    progress_.log(fmt::format("step {}: {} -> {} non-zero params, {} MACs, val {:.4f}: {}", rec.step,
                              rec.plan.substr(0, rec.plan.find('\n')), rec.nonzero_params, rec.macs, rec.val_accuracy,
                              rec.accepted ? "accepted" : "rolled back"));
    if (rec.accepted) {
      accept(retrained, rec);
      st_.failures[pick.key] = 0;
      // A step that worked may grow back towards the first step size.
      if (pick.op == Op::kUnits) st_.step_size[pick.key] = std::min(o_.unit_step, pick.fraction * 2);
      if (pick.op == Op::kMask) st_.step_size[pick.key] = std::min(o_.mask_step, pick.fraction * 2);
      checkpoint();
    } else {
      st_.timing.rolled_back += rec.seconds;
      on_reject(st_, pick, o_);
    }
    return rec.accepted;
  }

  void checkpoint() {
    if (!hooks_.checkpoint) return;
    // The state written carries the time of the writes before it; this write counts from the next one on.
    Stopwatch writing(st_.timing.checkpoints);
    hooks_.checkpoint(st_);
  }

  /// Retrains the picked candidate, and again (up to recovery_rounds) while it is just short of the tolerance.
  /// Fills `rec` with the sizes and the assessment of the model it returns; `rounds` = retrainings done.
  ir::Graph retrain_with_recovery(const Candidate& pick, int64_t step, StepRecord& rec, int& rounds) {
    ir::Graph retrained;
    {
      Stopwatch retraining(st_.timing.retraining);
      retrained = oracle_.retrain(pick.result, step_seed(o_.seed, step));
    }
    rec = record_of(step, pick, analysis::analyze(retrained));
    assess(retrained, rec);
    rounds = 1;
    return recover(std::move(retrained), step, rec, rounds);
  }

  /// Retrains `retrained` again while it misses the tolerance by less than the recovery window, up to
  /// recovery_rounds times, reassessing into `rec`; `rounds` counts the retrainings.
  ir::Graph recover(ir::Graph retrained, int64_t step, StepRecord& rec, int& rounds) {
    // Positive = how far a step misses the tolerance (loss + margin - max_loss), as a fraction.
    auto shortfall = [&](const PairedLoss& l) { return l.loss() + margin_of(tol_, l) - o_.max_loss_pp / 100.0; };
    for (; shortfall(rec.val_loss) > 1e-12 && shortfall(rec.val_loss) <= o_.recovery_window_pp / 100.0 &&
           rounds <= o_.recovery_rounds;
         ++rounds) {
      progress_.log(fmt::format("step {}: val {:.4f} just short of the tolerance: retraining once more", step,
                                rec.val_accuracy));
      {
        Stopwatch retraining(st_.timing.retraining);
        retrained = oracle_.retrain(retrained,
                                    step_seed(o_.seed, step) + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(rounds));
      }
      assess(retrained, rec);
    }
    return retrained;
  }

  /// The decision on validation and, for the record, the same model on the confirmation split.
  void assess(const ir::Graph& m, StepRecord& rec) {
    Stopwatch validating(st_.timing.validation);
    const Hits val = oracle_.validate(m);
    assess_hits(val, base_confirm_.empty() ? Hits{} : oracle_.confirm(m), rec);
  }

  void assess_hits(const Hits& val, const Hits& confirm, StepRecord& rec) const {
    rec.val_accuracy = accuracy_of(val);
    rec.val_loss = paired_loss(base_val_, val);
    if (!base_confirm_.empty()) rec.confirm_loss = paired_loss(base_confirm_, confirm);
    rec.confirm_holds = holds(confirm_tol_, rec.confirm_loss);
  }

  void accept(const ir::Graph& m, const StepRecord& rec) {
    st_.model = m;
    probe_now_.reset();
    means_now_.reset();
    if (rec.confirm_holds) {
      st_.confirmed_model = m;
      st_.confirmed_step = rec.step;
    }
  }

  /// True when a fine-tuning record follows the last accepted reduction: the model has not changed since.
  bool finetuned_since_last_step() const {
    for (auto it = st_.history.rbegin(); it != st_.history.rend(); ++it) {
      if (it->op == Op::kFinetune) return true;
      if (it->accepted) return false;
    }
    return false;
  }

  /// A consolidation when the search has run out of candidates (SearchOptions::consolidations): the whole network
  /// fine-tuned and, when kept, every target's failures, retirement and step size forgotten. False when none is
  /// left to do, the model has not changed since the last one, or the fine-tuning was not kept.
  bool consolidate() {
    const auto done = std::count_if(st_.history.begin(), st_.history.end(),
                                    [](const StepRecord& r) { return r.op == Op::kFinetune; });
    if (done >= o_.consolidations || finetuned_since_last_step()) return false;
    if (!finetune(fmt::format("consolidation {} of {}", done + 1, o_.consolidations))) return false;
    st_.failures.clear();
    st_.retired.clear();
    st_.step_size.clear();
    checkpoint();
    return true;
  }

  /// Fine-tunes the whole network (`what`: for the log); kept, and true, when validation does not get worse; false,
  /// with interrupted_ set, when a stop request cut it short.
  bool finetune(const std::string& what) {
    const auto t0 = Clock::now();
    const int64_t step = st_.next_step++;
    double current_val = st_.baseline_val_accuracy;
    for (const StepRecord& r : st_.history) {
      if (r.accepted) current_val = r.val_accuracy;
    }
    progress_.log(fmt::format("step {}: {}", step, what));
    ir::Graph tuned;
    {
      Stopwatch finetuning(st_.timing.finetuning);
      tuned = oracle_.finetune(st_.model, step_seed(o_.seed, step));
    }
    if (cut_short(step, what)) return false;
    analysis::ModelStats s = analysis::analyze(tuned);
    StepRecord rec;
    rec.step = step;
    rec.op = Op::kFinetune;
    rec.target = "all";
    rec.plan = "fine-tune the whole network (" + what + ")";
    rec.params = s.params;
    rec.nonzero_params = s.nonzero_params;
    rec.macs = s.macs;
    assess(tuned, rec);
    rec.accepted = rec.val_accuracy >= current_val;
    rec.reason = fmt::format("val accuracy {:.4f} {} {:.4f} before fine-tuning", rec.val_accuracy,
                             rec.accepted ? ">=" : "<", current_val);
    rec.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    st_.history.push_back(rec);
    if (rec.accepted) accept(tuned, rec);
    progress_.log(fmt::format("{}: val {:.4f} ({})", what, rec.val_accuracy, rec.accepted ? "kept" : "discarded"));
    return rec.accepted;
  }

  /// The returned model is the last accepted one that holds on confirmation (the walk-back).
  SearchResult result(bool interrupted) {
    SearchResult r;
    r.interrupted = interrupted;
    r.model = st_.confirmed_model;
    r.returned_step = st_.confirmed_step;
    r.validation = paired_loss(base_val_, base_val_);
    r.confirmation = base_confirm_.empty() ? PairedLoss{} : paired_loss(base_confirm_, base_confirm_);
    r.last_accepted_step = last_accepted_step(st_);
    for (const StepRecord& rec : st_.history) {
      if (rec.accepted && rec.step == st_.confirmed_step) {
        r.validation = rec.val_loss;
        r.confirmation = rec.confirm_loss;
      }
    }
    if (r.returned_step != r.last_accepted_step) {
      progress_.log(fmt::format("the model of step {} misses the tolerance on the confirmation split; returning {}, the "
                                "last accepted model that holds it", r.last_accepted_step,
                                r.returned_step == 0 ? "the input model" : fmt::format("step {}", r.returned_step)));
    }
    r.state = st_;
    return r;
  }

  const ir::Graph& model_;
  Oracle& oracle_;
  const SearchOptions& o_;
  const SearchHooks& hooks_;
  ProgressSink& progress_;
  const Clock::time_point started_ = Clock::now();  // before the reference passes, which the time limit counts
  const Tolerance tol_, confirm_tol_;
  const Hits base_val_, base_confirm_;
  const double reference_seconds_;  ///< the two reference passes above
  SearchState st_;
  bool interrupted_ = false;  ///< a stop request came: the run saves its state and returns
  std::optional<double> probe_now_;  ///< probe accuracy of st_.model; reset when it changes
  std::optional<std::map<std::string, at::Tensor>> means_now_;  ///< input means of st_.model; reset with probe_now_
};

}  // namespace

SearchResult run(const ir::Graph& model, Oracle& oracle, const SearchOptions& o, const SearchHooks& hooks,
                 const SearchState* resume) {
  check_options(o);
  return Loop(model, oracle, o, hooks).run(resume);
}

}  // namespace snare::search
