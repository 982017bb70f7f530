#include "pipeline/checkpoint.h"

#include <fmt/format.h>

#include <filesystem>
#include <map>

#include "common/error.h"
#include "common/fingerprint.h"
#include "common/version.h"
#include "pipeline/run_report.h"
#include "search/run_identity.h"

namespace fs = std::filesystem;

namespace snare::pipeline {

namespace {

/// The option field a report option key comes from (the identity names fields; the CLI shows their flags).
std::string field_of(const std::string& key) {
  static const std::map<std::string, std::string> kFields = {
      {"max_loss", "SearchOptions::max_loss_pp"},
      {"margin_se", "SearchOptions::margin_se"},
      {"confirm_margin_se", "SearchOptions::confirm_margin_se"},
      {"budget_params", "SearchOptions::budget_params"},
      {"budget_macs", "SearchOptions::budget_macs"},
      {"mac_weight", "SearchOptions::mac_weight"},
      {"channel_multiple", "SearchOptions::channel_multiple"},
      {"recovery_rounds", "SearchOptions::recovery_rounds"},
      {"recovery_window", "SearchOptions::recovery_window_pp"},
      {"trials", "SearchOptions::trials"},
      {"consolidations", "SearchOptions::consolidations"},
      {"retrain_batches", "TorchOracleOptions::retrain_batches"},
      {"batch_size", "TorchOracleOptions::batch_size"},
      {"lr", "TorchOracleOptions::lr"},
      {"finetune_epochs", "TorchOracleOptions::finetune_epochs"},
      {"device", "TorchOracleOptions::device"},
      {"units", "ReduceOptions::no_units"},
      {"masks", "ReduceOptions::no_masks"},
      {"lowrank", "ReduceOptions::no_lowrank"},
      {"bias_compensation", "ReduceOptions::compensate"}};
  auto it = kFields.find(key);
  return it != kFields.end() ? it->second : "ReduceOptions::" + key;
}

/// Options a resume may change (docs/cli.md): they do not shape the result.
bool may_change_on_resume(const std::string& key) { return key == "time_limit_min" || key == "keep_steps"; }

/// A data location compared as a place, not as text: "mnist", "mnist:./data/mnist" and "mnist:/abs/data/mnist" are
/// the same files.
std::string data_location(const data::Dataset& d) {
  std::error_code ec;
  const fs::path canonical = fs::weakly_canonical(d.source, ec);
  return fmt::format("{} from {}", d.name, ec ? d.source : canonical.string());
}

}  // namespace

nlohmann::json shared_run_identity(const ReduceOptions& o, const data::Dataset& d) {
  nlohmann::json id = nlohmann::json::object();
  id["snare version"] = kVersion;
  if (o.source.path.empty()) {
    id["ModelSource::arch"] = o.source.arch;
  } else {
    id["input model content"] = file_fingerprint(o.source.path);
  }
  id["data samples"] = fmt::format("{} training, {} test", d.train.size(), d.test.size());
  const DataOptions& data = o.data;
  id["DataOptions::scale"] = data.scale;
  id["DataOptions::mean"] = data.mean;
  id["DataOptions::stddev"] = data.stddev;
  id["DataOptions::layout"] = data.layout;
  id["DataOptions::label_column"] = data.label_column;
  id["DataOptions::group_column"] = data.group_column;
  id["DataOptions::test_split"] = data.test_split;
  id["DataOptions::resize"] = data.resize;
  id["DataOptions::arrays"] = data.arrays;
  id["ModelSource::seed"] = o.source.seed;
  const nlohmann::json options = options_json(o);
  for (const auto& item : options.items()) {
    if (may_change_on_resume(item.key())) continue;
    const std::string field = field_of(item.key());
    // units, masks, lowrank say what is on; their fields say what is off.
    id[field] = field.find("::no_") != std::string::npos ? nlohmann::json(!item.value().get<bool>()) : item.value();
  }
  return id;
}

nlohmann::json run_identity(const ReduceOptions& o, const data::Dataset& d, const std::string& baseline_file) {
  nlohmann::json id = shared_run_identity(o, d);
  if (o.source.path.empty()) id["baseline.h5 (trained by the first run)"] = file_fingerprint(baseline_file);
  id["DataOptions::spec"] = data_location(d);
  return id;
}

void remove_checkpoints(const std::string& report_dir) {
  for (const auto& e : fs::directory_iterator(report_dir)) {
    const std::string name = e.path().filename().string();
    const bool model = name.rfind("checkpoint_step", 0) == 0 || name.rfind("checkpoint_confirmed_step", 0) == 0;
    if ((model && e.path().extension() == ".h5") || name == "checkpoint.json" || name == "checkpoint.h5") fs::remove(e.path());
  }
}

void check_resumable(const nlohmann::json& checkpoint, const std::string& report_dir, const nlohmann::json& identity) {
  if (!checkpoint.contains("identity")) {
    throw OptionError("ReduceOptions::resume",
                      fmt::format("the checkpoint in {} was written by an earlier snare that did not record what the run "
                                  "was bound to; start a new run (without ReduceOptions::resume or in another "
                                  "ReduceOptions::report_dir)", report_dir));
  }
  std::vector<std::string> diff = search::identity_differences(checkpoint.at("identity"), identity);
  const nlohmann::json files = checkpoint.value("files", nlohmann::json::object());
  for (const auto& [name, recorded] : files.items()) {
    const std::string path = (fs::path(report_dir) / name).string();
    const std::string now = fs::exists(path) ? file_fingerprint(path) : "missing";
    if (now != recorded) diff.push_back(fmt::format("{} in the report folder: {} when the checkpoint was written, {} now",
                                                    name, recorded.get<std::string>(), now));
  }
  if (diff.empty()) return;
  throw OptionError("ReduceOptions::resume",
                    fmt::format("the checkpoint in {} belongs to another run:\n  {}\nResume with the checkpoint's model, "
                                "data and options, or start a new run (without ReduceOptions::resume or in another "
                                "ReduceOptions::report_dir). Only ReduceOptions::time_limit_min, "
                                "ReduceOptions::keep_steps and ReduceOptions::output may change on resume.",
                                report_dir, fmt::join(diff, "\n  ")));
}

}  // namespace snare::pipeline
