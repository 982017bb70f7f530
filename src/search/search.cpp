#include "search/search.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

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
  double fraction = 0;  ///< the step tried (units/masks: fraction removed; low rank: fraction of rank kept)
  reduce::ReductionPlan plan;
  ir::Graph result;
  analysis::ModelStats stats;
};

/// The current step of a target and two smaller ones: a big step that costs too much accuracy
/// still leaves a cheaper one to score, without waiting for failures to shrink it.
std::vector<double> fractions_to_try(double step) { return {step, step / 2, step / 4}; }

std::string key_of(Op op, const std::string& target) { return std::string(op_name(op)) + ":" + target; }

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
    bool derived = l.name.size() > 8 && l.name.compare(l.name.size() - 8, 8, "_lowrank") == 0;
    if (derived || g.index_of(l.name + "_lowrank") >= 0) continue;
    int64_t max_rank = reduce::max_useful_rank(l);
    if (max_rank < 1) continue;
    double step = step_of(st, key, o.lowrank_step);
    Candidate c;
    c.op = Op::kLowRank;
    c.target = l.name;
    c.key = key;
    c.fraction = step;
    c.plan.factorizations.push_back(
        {l.name, std::clamp<int64_t>(std::llround(step * static_cast<double>(max_rank)), 1, max_rank)});
    out.push_back(std::move(c));
  }
}

/// Shrinks a rejected target's step; retires it after repeated failures or when the step is too small.
void on_reject(SearchState& st, const Candidate& c, const SearchOptions& o) {
  int f = ++st.failures[c.key];
  double step = 0;
  switch (c.op) {
    case Op::kUnits:
    case Op::kMask: step = c.fraction * 0.5; break;
    // Low rank: keep more of the rank next time.
    case Op::kLowRank: step = 1.0 - (1.0 - c.fraction) * 0.5; break;
    case Op::kFinetune: return;
  }
  st.step_size[c.key] = step;
  bool too_small = c.op == Op::kMask && step < o.min_mask_step;
  if (f >= o.max_failures || too_small) st.retired.insert(c.key);
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

SearchResult run(const ir::Graph& model, Oracle& oracle, const SearchOptions& o, const SearchHooks& hooks,
                 const SearchState* resume) {
  if (!(o.max_loss_pp >= 0)) throw UsageError(fmt::format("--max-loss: must be >= 0, got {}", o.max_loss_pp));
  if (!(o.margin_se >= 0)) throw UsageError(fmt::format("--margin: must be >= 0, got {}", o.margin_se));
  if (!(o.confirm_margin_se >= 0)) {
    throw UsageError(fmt::format("--confirm-margin: must be >= 0, got {}", o.confirm_margin_se));
  }
  if (o.recovery_rounds < 0 || o.recovery_window_pp < 0) throw UsageError("--recovery-rounds/--recovery-window: must be >= 0");
  if (o.channel_multiple < 1) throw UsageError(fmt::format("--channel-multiple: must be >= 1, got {}", o.channel_multiple));
  ProgressSink& progress = hooks.progress ? *hooks.progress : null_progress();
  const auto start = Clock::now();
  const Tolerance tol = tolerance_of(o), confirm_tol = confirm_tolerance_of(o);
  // The input's hits are the reference of every loss; recomputed on resume (deterministic, one pass each).
  const Hits base_val = oracle.validate(model);
  const Hits base_confirm = oracle.confirm(model);
  SearchState st;
  if (resume) {
    st = *resume;
  } else {
    st.model = model;
    st.baseline_val_accuracy = accuracy_of(base_val);
    st.baseline_confirm_accuracy = base_confirm.empty() ? -1 : accuracy_of(base_confirm);
  }
  if (st.confirmed_step == 0) st.confirmed_model = model;
  // The decision on validation and, for the record, the same model on the confirmation split.
  auto assess = [&](const ir::Graph& m, StepRecord& rec) {
    const Hits val = oracle.validate(m);
    rec.val_accuracy = accuracy_of(val);
    rec.val_loss = paired_loss(base_val, val);
    if (!base_confirm.empty()) rec.confirm_loss = paired_loss(base_confirm, oracle.confirm(m));
    rec.confirm_holds = holds(confirm_tol, rec.confirm_loss);
  };
  // Positive = how far a step misses the tolerance (loss + margin - max_loss), as a fraction.
  auto shortfall = [&](const PairedLoss& l) { return l.loss() + margin_of(tol, l) - o.max_loss_pp / 100.0; };
  auto on_accept = [&](const ir::Graph& m, const StepRecord& rec) {
    st.model = m;
    if (rec.confirm_holds) {
      st.confirmed_model = m;
      st.confirmed_step = rec.step;
    }
  };
  SearchResult result;
  if (!st.finished) {
    progress.log(fmt::format("baseline validation accuracy {:.4f}{}; steps keep the loss on validation within {} pp "
                             "with a margin of {} standard error(s) ({} rule)",
                             st.baseline_val_accuracy,
                             base_confirm.empty() ? "" : fmt::format(", confirmation {:.4f}", st.baseline_confirm_accuracy),
                             o.max_loss_pp, o.margin_se, rule_name(o.rule)));
  }
  for (; !st.finished;) {
    analysis::ModelStats now = analysis::analyze(st.model);
    if (hooks.stop && hooks.stop->load()) {
      result.interrupted = true;
      st.stop_reason = "interrupted";
      break;
    }
    if (o.budget_params > 0 && now.nonzero_params <= o.budget_params) {
      st.stop_reason = fmt::format("parameter budget met ({} <= {})", now.nonzero_params, o.budget_params);
      break;
    }
    if (o.budget_macs > 0 && now.macs <= o.budget_macs) {
      st.stop_reason = fmt::format("MAC budget met ({} <= {})", now.macs, o.budget_macs);
      break;
    }
    if (o.time_limit_s > 0 && std::chrono::duration<double>(Clock::now() - start).count() > o.time_limit_s) {
      st.stop_reason = "time limit reached";
      break;
    }
    auto t0 = Clock::now();
    std::vector<Candidate> cands;
    if (o.units) unit_candidates(st.model, oracle, o, st, cands);
    if (o.masks) mask_candidates(st.model, o, st, cands);
    if (o.lowrank) lowrank_candidates(st.model, o, st, cands);
    // Score: (share of non-zero params removed + mac_weight * share of MACs removed) divided by the
    // probe accuracy drop (plus a floor), halved for every recent failure of the same target.
    const double probe_now = oracle.probe(st.model);
    std::vector<CandidateScore> scores;
    for (Candidate& c : cands) {
      CandidateScore s;
      s.target = c.target;
      s.op = c.op;
      s.failures = failures_of(st, c.key);
      reduce::Applied applied = reduce::try_apply(st.model, c.plan);
      if (!applied.ok()) {  // e.g. a group that its neighbours' reductions made unprunable
        st.retired.insert(c.key);
        s.score = -1;
        scores.push_back(s);
        continue;
      }
      c.result = std::move(applied.graph);
      c.stats = analysis::analyze(c.result);
      s.param_share = static_cast<double>(now.nonzero_params - c.stats.nonzero_params) /
                      static_cast<double>(std::max<int64_t>(1, now.nonzero_params));
      s.mac_share = static_cast<double>(now.macs - c.stats.macs) / static_cast<double>(std::max<int64_t>(1, now.macs));
      s.sensitivity = probe_now - oracle.probe(c.result);
      double gain = s.param_share + o.mac_weight * s.mac_share;
      s.score = gain <= 0 ? 0.0 : gain / (std::max(0.0, s.sensitivity) + 0.005) * std::pow(0.5, s.failures);
      scores.push_back(s);
    }
    size_t best = scores.size();
    for (size_t i = 0; i < scores.size(); ++i) {
      if (scores[i].score > 0 && (best == scores.size() || scores[i].score > scores[best].score)) best = i;
    }
    if (best == scores.size()) {
      st.stop_reason = "no reducible part left";
      break;
    }
    const Candidate& pick = cands[best];
    const int64_t step = st.next_step++;
    progress.log(fmt::format("step {}: {} {} (score {:.3g}, probe drop {:.4f})", step, op_name(pick.op), pick.target,
                             scores[best].score, scores[best].sensitivity));
    ir::Graph retrained = oracle.retrain(pick.result, step_seed(o.seed, step));
    StepRecord rec = record_of(step, pick, analysis::analyze(retrained));
    assess(retrained, rec);
    int rounds = 1;
    for (; shortfall(rec.val_loss) > 1e-12 && shortfall(rec.val_loss) <= o.recovery_window_pp / 100.0 &&
           rounds <= o.recovery_rounds;
         ++rounds) {
      progress.log(fmt::format("step {}: val {:.4f} just short of the tolerance: retraining once more", step,
                               rec.val_accuracy));
      retrained = oracle.retrain(retrained, step_seed(o.seed, step) + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(rounds));
      assess(retrained, rec);
    }
    rec.plan = pick.plan.describe(st.model);
    rec.scores = scores;
    rec.accepted = holds(tol, rec.val_loss);
    rec.reason = fmt::format("val accuracy {:.4f}, loss {:+.2f} pp, margin {:.2f} pp: {} {} pp{}", rec.val_accuracy,
                             100 * rec.val_loss.loss(), 100 * margin_of(tol, rec.val_loss),
                             rec.accepted ? "within" : "beyond", o.max_loss_pp,
                             rounds > 1 ? fmt::format(" after {} rounds of retraining", rounds) : "");
    rec.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    st.history.push_back(rec);
    progress.log(fmt::format("step {}: {} -> {} non-zero params, {} MACs, val {:.4f}: {}", step, rec.plan.substr(0, rec.plan.find('\n')),
                             rec.nonzero_params, rec.macs, rec.val_accuracy, rec.accepted ? "accepted" : "rolled back"));
    if (rec.accepted) {
      on_accept(retrained, rec);
      st.failures[pick.key] = 0;
      // A step that worked may grow back towards the first step size.
      if (pick.op == Op::kUnits) st.step_size[pick.key] = std::min(o.unit_step, pick.fraction * 2);
      if (pick.op == Op::kMask) st.step_size[pick.key] = std::min(o.mask_step, pick.fraction * 2);
      if (hooks.checkpoint) hooks.checkpoint(st);
    } else {
      on_reject(st, pick, o);
    }
  }
  if (o.final_finetune && !result.interrupted && !st.finished) {
    auto t0 = Clock::now();
    const int64_t step = st.next_step++;
    double current_val = st.baseline_val_accuracy;
    for (const StepRecord& r : st.history) {
      if (r.accepted) current_val = r.val_accuracy;
    }
    ir::Graph tuned = oracle.finetune(st.model, step_seed(o.seed, step));
    analysis::ModelStats s = analysis::analyze(tuned);
    StepRecord rec;
    rec.step = step;
    rec.op = Op::kFinetune;
    rec.target = "all";
    rec.plan = "fine-tune the whole network";
    rec.params = s.params;
    rec.nonzero_params = s.nonzero_params;
    rec.macs = s.macs;
    assess(tuned, rec);
    rec.accepted = rec.val_accuracy >= current_val;
    rec.reason = fmt::format("val accuracy {:.4f} {} {:.4f} before fine-tuning", rec.val_accuracy,
                             rec.accepted ? ">=" : "<", current_val);
    rec.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    st.history.push_back(rec);
    if (rec.accepted) on_accept(tuned, rec);
    progress.log(fmt::format("final fine-tuning: val {:.4f} ({})", rec.val_accuracy, rec.accepted ? "kept" : "discarded"));
  }
  if (!result.interrupted && !st.finished) {
    st.finished = true;
    if (hooks.checkpoint) hooks.checkpoint(st);
  } else if (result.interrupted && hooks.checkpoint) {
    hooks.checkpoint(st);
  }
  result.model = st.confirmed_model;
  result.returned_step = st.confirmed_step;
  result.validation = paired_loss(base_val, base_val);
  result.confirmation = base_confirm.empty() ? PairedLoss{} : paired_loss(base_confirm, base_confirm);
  result.last_accepted_step = last_accepted_step(st);
  for (const StepRecord& r : st.history) {
    if (r.accepted && r.step == st.confirmed_step) {
      result.validation = r.val_loss;
      result.confirmation = r.confirm_loss;
    }
  }
  if (result.returned_step != result.last_accepted_step) {
    progress.log(fmt::format("the model of step {} misses the tolerance on the confirmation split; returning {}, the "
                             "last accepted model that holds it", result.last_accepted_step,
                             result.returned_step == 0 ? "the input model" : fmt::format("step {}", result.returned_step)));
  }
  result.state = st;
  return result;
}

}  // namespace snare::search
