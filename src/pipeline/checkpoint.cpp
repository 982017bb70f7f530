#include "pipeline/checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
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

/// The flag of a report option key where it is not "--" plus the key with dashes.
std::string flag_of(const std::string& key) {
  static const std::map<std::string, std::string> kFlags = {
      {"margin_se", "--margin"},         {"confirm_margin_se", "--confirm-margin"}, {"batch_size", "--batch"},
      {"units", "--no-units"},           {"masks", "--no-masks"},                   {"lowrank", "--no-lowrank"},
      {"time_limit_min", "--time-limit"}};
  auto it = kFlags.find(key);
  if (it != kFlags.end()) return it->second;
  std::string flag = "--" + key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
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

nlohmann::json run_identity(const ReduceOptions& o, const data::Dataset& d, const std::string& baseline_file) {
  nlohmann::json id = nlohmann::json::object();
  id["snare version"] = kVersion;
  if (o.source.path.empty()) {
    id["--arch"] = o.source.arch;
    id["baseline.h5 (trained by the first run)"] = file_fingerprint(baseline_file);
  } else {
    id["input model content"] = file_fingerprint(o.source.path);
  }
  id["--data"] = data_location(d);
  id["data samples"] = fmt::format("{} training, {} test", d.train.size(), d.test.size());
  const DataOptions& data = o.data;
  id["--scale"] = data.scale;
  id["--mean"] = data.mean;
  id["--std"] = data.stddev;
  id["--layout"] = data.layout;
  id["--label-column"] = data.label_column;
  id["--group-column"] = data.group_column;
  id["--test-split"] = data.test_split;
  id["--resize"] = data.resize;
  id["--arrays"] = data.arrays;
  id["--seed"] = o.source.seed;
  const nlohmann::json options = options_json(o);
  for (const auto& item : options.items()) {
    if (may_change_on_resume(item.key())) continue;
    const std::string flag = flag_of(item.key());
    // units, masks, lowrank say what is on; their flags say what is off.
    id[flag] = flag.rfind("--no-", 0) == 0 ? nlohmann::json(!item.value().get<bool>()) : item.value();
  }
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
    throw UsageError(fmt::format("--resume: the checkpoint in {} was written by an earlier snare that did not record "
                                 "what the run was bound to; start a new run (without --resume or in another --report "
                                 "folder)", report_dir));
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
  throw UsageError(fmt::format("--resume: the checkpoint in {} belongs to another run:\n  {}\nResume with the "
                               "checkpoint's model, data and options, or start a new run (without --resume or in "
                               "another --report folder). Only --time-limit, --keep-steps and the output file may "
                               "change on resume.",
                               report_dir, fmt::join(diff, "\n  ")));
}

}  // namespace snare::pipeline
