#include "search/state_json.h"

#include <fmt/format.h>

#include "common/error.h"

namespace snare::search {

namespace {

Op op_from_name(const std::string& s) {
  for (Op op : {Op::kUnits, Op::kMask, Op::kLowRank, Op::kFinetune}) {
    if (s == op_name(op)) return op;
  }
  throw ModelError(fmt::format("checkpoint: unknown step kind '{}'", s));
}

nlohmann::json score_json(const CandidateScore& s) {
  nlohmann::json j = {{"target", s.target},          {"op", op_name(s.op)},           {"score", s.score},
                      {"param_share", s.param_share}, {"mac_share", s.mac_share},     {"sensitivity", s.sensitivity},
                      {"failures", s.failures}};
  if (!s.probed) {  // unknown, not zero: the candidate was never probed
    j["score"] = nullptr;
    j["sensitivity"] = nullptr;
    j["score_bound"] = s.score_bound;
  }
  return j;
}

CandidateScore score_from(const nlohmann::json& j) {
  CandidateScore s;
  s.target = j.at("target");
  s.op = op_from_name(j.at("op"));
  s.param_share = j.at("param_share");
  s.mac_share = j.at("mac_share");
  s.failures = j.at("failures");
  s.probed = !j.at("score").is_null();
  if (s.probed) {
    s.score = j.at("score");
    s.sensitivity = j.at("sensitivity");
  } else {
    s.score_bound = j.at("score_bound");
  }
  return s;
}

}  // namespace

nlohmann::json to_json(const PairedLoss& l) {
  return {{"samples", l.samples},
          {"only_baseline", l.only_reference},
          {"only_model", l.only_model},
          {"baseline_accuracy", l.reference_accuracy},
          {"loss_pp", 100 * l.loss()},
          {"se_pp", 100 * l.standard_error()}};
}

namespace {

PairedLoss loss_from(const nlohmann::json& j) {
  PairedLoss l;
  l.samples = j.at("samples");
  l.only_reference = j.at("only_baseline");
  l.only_model = j.at("only_model");
  l.reference_accuracy = j.at("baseline_accuracy");
  return l;
}

StepRecord step_from(const nlohmann::json& j) {
  StepRecord r;
  r.step = j.at("step");
  r.op = op_from_name(j.at("op"));
  r.target = j.at("target");
  r.plan = j.at("plan");
  for (const auto& s : j.at("scores")) r.scores.push_back(score_from(s));
  r.params = j.at("params");
  r.nonzero_params = j.at("nonzero_params");
  r.macs = j.at("macs");
  r.val_accuracy = j.at("val_accuracy");
  r.val_loss = loss_from(j.at("val_loss"));
  r.confirm_loss = loss_from(j.at("confirm_loss"));
  r.confirm_holds = j.at("confirm_holds");
  r.seconds = j.at("seconds");
  r.accepted = j.at("accepted");
  r.reason = j.at("reason");
  return r;
}

}  // namespace

nlohmann::json to_json(const StepRecord& r) {
  nlohmann::json scores = nlohmann::json::array();
  for (const CandidateScore& s : r.scores) scores.push_back(score_json(s));
  return {{"step", r.step},       {"op", op_name(r.op)},         {"target", r.target},
          {"plan", r.plan},       {"scores", scores},             {"params", r.params},
          {"nonzero_params", r.nonzero_params}, {"macs", r.macs}, {"val_accuracy", r.val_accuracy},
          {"val_loss", to_json(r.val_loss)}, {"confirm_loss", to_json(r.confirm_loss)},
          {"confirm_holds", r.confirm_holds},
          {"seconds", r.seconds}, {"accepted", r.accepted},       {"reason", r.reason}};
}

nlohmann::json history_json(const std::vector<StepRecord>& history) {
  nlohmann::json out = nlohmann::json::array();
  for (const StepRecord& r : history) out.push_back(to_json(r));
  return out;
}

nlohmann::json timing_json(const SearchTiming& t) {
  return {{"probing", t.probing},         {"retraining", t.retraining}, {"validation", t.validation},
          {"rolled_back", t.rolled_back}, {"finetuning", t.finetuning}, {"checkpoints", t.checkpoints}};
}

nlohmann::json state_json(const SearchState& s) {
  return {{"format", "snare-search-state"},
          {"version", 3},
          {"baseline_val_accuracy", s.baseline_val_accuracy},
          {"baseline_confirm_accuracy", s.baseline_confirm_accuracy},
          {"confirmed_step", s.confirmed_step},
          {"next_step", s.next_step},
          {"step_size", s.step_size},
          {"failures", s.failures},
          {"retired", s.retired},
          {"history", history_json(s.history)},
          {"finished", s.finished},
          {"stop_reason", s.stop_reason},
          {"timing", timing_json(s.timing)}};
}

SearchState state_from_json(const nlohmann::json& j) {
  try {
    if (j.at("format") != "snare-search-state") throw ModelError("checkpoint: not a snare search state");
    // Version 3: a low-rank step size is the fraction of the rank removed (it was the fraction kept).
    if (j.at("version") != 3) {
      throw ModelError(fmt::format("checkpoint: search state of version {}, this snare reads version 3 (start the "
                                   "run again without ReduceOptions::resume)", j.at("version").dump()));
    }
    SearchState s;
    s.baseline_val_accuracy = j.at("baseline_val_accuracy");
    s.baseline_confirm_accuracy = j.at("baseline_confirm_accuracy");
    s.confirmed_step = j.at("confirmed_step");
    s.next_step = j.at("next_step");
    s.step_size = j.at("step_size").get<std::map<std::string, double>>();
    s.failures = j.at("failures").get<std::map<std::string, int>>();
    s.retired = j.at("retired").get<std::set<std::string>>();
    for (const auto& r : j.at("history")) s.history.push_back(step_from(r));
    s.finished = j.at("finished");
    s.stop_reason = j.at("stop_reason");
    const nlohmann::json& t = j.at("timing");
    s.timing = {t.at("probing"),     t.at("retraining"), t.at("validation"),
                t.at("rolled_back"), t.at("finetuning"), t.at("checkpoints")};
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(fmt::format("checkpoint: malformed search state: {}", e.what()));
  }
}

}  // namespace snare::search
