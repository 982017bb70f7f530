#include "pipeline/run_report.h"

#include <ATen/Parallel.h>
#include <ATen/Context.h>
#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <thread>

#include "analysis/stats.h"
#include "search/state_json.h"
#include "search/tolerance.h"

namespace snare::pipeline {

std::string machine_description() {
  std::ifstream cpu("/proc/cpuinfo");
  std::string line, model = "unknown CPU";
  while (std::getline(cpu, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  return fmt::format("{}, {} cores, {} intra-op threads, GPU: {}", model, std::thread::hardware_concurrency(),
                     at::get_num_threads(), at::hasCUDA() ? "CUDA available" : "none");
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

nlohmann::json summary(const ir::Graph& g, double val, double confirm, const exec::EvalResult& test) {
  analysis::ModelStats s = analysis::analyze(g);
  nlohmann::json layers = nlohmann::json::array();
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const ir::Layer& l = g.layers[i];
    if (!ir::has_units(l.kind)) continue;
    layers.push_back({{"name", l.name},
                      {"kind", ir::kind_name(l.kind)},
                      {"units", l.units},
                      {"params", s.layers[i].params},
                      {"nonzero_params", s.layers[i].nonzero_params},
                      {"macs", s.layers[i].macs}});
  }
  return {{"params", s.params},
          {"nonzero_params", s.nonzero_params},
          {"macs", s.macs},
          {"val_accuracy", val},
          {"confirm_accuracy", confirm < 0 ? nlohmann::json() : nlohmann::json(confirm)},
          {"test_accuracy", test.accuracy},
          {"test_per_class_accuracy", test.per_class_accuracy},
          {"layers", layers}};
}

nlohmann::json options_json(const ReduceOptions& o) {
  return {{"max_loss", o.search.max_loss_pp},
          {"margin_se", o.search.margin_se},
          {"confirm_margin_se", o.search.confirm_margin_se},
          {"rule", o.rule},
          {"confirm_split", o.confirm_split},
          {"budget_params", o.search.budget_params},
          {"budget_macs", o.search.budget_macs},
          {"mac_weight", o.search.mac_weight},
          {"time_limit_min", o.time_limit_min},
          {"val_split", o.val_split},
          {"retrain_batches", o.oracle.retrain_batches},
          {"batch_size", o.oracle.batch_size},
          {"lr", o.oracle.lr},
          {"finetune_epochs", o.oracle.finetune_epochs},
          {"criterion", o.criterion},
          {"distill", o.distill},
          {"augment", exec::augment_spec(o.oracle.augment)},
          {"units", o.search.units},
          {"masks", o.search.masks},
          {"lowrank", o.search.lowrank},
          {"bias_compensation", o.search.compensate},
          {"channel_multiple", o.search.channel_multiple},
          {"recovery_rounds", o.search.recovery_rounds},
          {"recovery_window", o.search.recovery_window_pp},
          {"trials", o.search.trials},
          {"consolidations", o.search.consolidations},
          {"train_samples", o.train_samples},
          {"baseline_epochs", o.baseline_epochs},
          {"baseline_recipe", o.baseline_recipe},
          {"keep_steps", o.keep_steps},
          {"device", o.oracle.device}};
}

namespace {

/// "loses 0.21 points" / "gains 0.05 points" for a loss given as a fraction.
std::string loss_words(double loss) {
  return fmt::format("{} {:.2f} points", loss > 0 ? "loses" : "gains", 100 * std::abs(loss));
}

}  // namespace

nlohmann::json tolerance_json(const ReduceOptions& o, const search::SearchResult& r, const data::Holdouts& parts) {
  const bool confirmed = parts.confirmation.size() > 0;
  const search::PairedLoss& c = r.confirmation;
  std::string meaning;
  if (confirmed) {
    meaning = fmt::format(
        "On {} confirmation samples that no decision of the search saw, the reduced model {} against the input "
        "model (standard error {:.2f}); --max-loss {} asks that its loss plus {} standard "
        "error(s) stay within {} points. That estimates the loss on new data drawn like the training data; it "
        "is no guarantee for data from elsewhere, which only a test on such data can show (snare eval --against).",
        c.samples, loss_words(c.loss()), 100 * c.standard_error(), o.search.max_loss_pp, o.search.confirm_margin_se,
        o.search.max_loss_pp);
  } else {
    meaning = fmt::format(
        "No confirmation split (--confirm-split 0): that the reduced model {} was measured on the validation "
        "split that every decision of the search looked at, which flatters it; check it on your own test data "
        "(snare eval --against).",
        loss_words(r.validation.loss()));
  }
  return {{"max_loss_pp", o.search.max_loss_pp},
          {"margin_se", o.search.margin_se},
          {"confirm_margin_se", o.search.confirm_margin_se},
          {"rule", o.rule},
          {"validation", search::to_json(r.validation)},
          {"confirmation", confirmed ? search::to_json(c) : nlohmann::json()},
          {"confirmation_holds", search::holds(search::confirm_tolerance_of(o.search), c)},
          {"last_accepted_step", r.last_accepted_step},
          {"returned_step", r.returned_step},
          {"walked_back", r.returned_step != r.last_accepted_step},
          {"meaning", meaning}};
}

}  // namespace snare::pipeline
