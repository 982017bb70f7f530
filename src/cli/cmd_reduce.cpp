// snare reduce (MODEL | --arch NAME) --data D -o OUT [--max-loss PP] [--budget-params N | --budget-macs N]
//              [--time-limit MIN] [--seed S] [--device D] [--report DIR] [--resume] ...
//
// The whole SNARE run: (train a baseline when given --arch), carve a validation split, run the
// search with checkpoints after every accepted step, fine-tune, evaluate baseline and result on the
// test split, write the reduced model (+ .onnx beside it) and the report. Ctrl-C stops cleanly after
// saving; --resume continues from the report folder's checkpoint.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "analysis/stats.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "cli/console_progress.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/fingerprint.h"
#include "common/version.h"
#include "exec/network.h"
#include "exec/paired_test.h"
#include "exec/train.h"
#include "io/model_file.h"
#include "report/report.h"
#include "search/run_identity.h"
#include "search/search.h"
#include "search/state_json.h"
#include "search/torch_oracle.h"

namespace fs = std::filesystem;

namespace snare::cli {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop.store(true); }

struct ReduceOptions {
  ModelSource source;
  DataOptions data;
  std::string output;
  std::string report_dir;
  search::SearchOptions search;
  search::TorchOracleOptions oracle;
  double time_limit_min = 0;
  double val_split = 0.1;
  double confirm_split = 0.1;
  std::string rule = "paired";
  int64_t baseline_epochs = 8;
  std::string baseline_recipe = "converged";
  int64_t train_samples = 0;
  std::string criterion = "l2";
  std::string augment = "none";
  bool distill = false;
  bool resume = false;
  bool keep_steps = false;
  bool no_units = false, no_masks = false, no_lowrank = false;
};

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
          {"channel_multiple", o.search.channel_multiple},
          {"recovery_rounds", o.search.recovery_rounds},
          {"recovery_window", o.search.recovery_window_pp},
          {"train_samples", o.train_samples},
          {"baseline_epochs", o.baseline_epochs},
          {"baseline_recipe", o.baseline_recipe},
          {"keep_steps", o.keep_steps},
          {"device", o.oracle.device}};
}

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

/// What this run is bound to (search/run_identity.h): snare's version, the input model's content (the baseline
/// file's for a built-in trained here), the data and every option that shapes the run, keyed by flag.
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

void check(const ReduceOptions& o) {
  if (o.search.max_loss_pp < 0) throw UsageError(fmt::format("--max-loss: must be >= 0, got {}", o.search.max_loss_pp));
  if (o.search.budget_params < 0 || o.search.budget_macs < 0) throw UsageError("--budget-params/--budget-macs: must be >= 0");
  if (!(o.search.mac_weight >= 0 && std::isfinite(o.search.mac_weight))) {
    throw UsageError(fmt::format("--mac-weight: must be a finite number >= 0, got {}", o.search.mac_weight));
  }
  if (o.time_limit_min < 0) throw UsageError(fmt::format("--time-limit: must be >= 0, got {}", o.time_limit_min));
  if (!(o.val_split > 0 && o.val_split < 1)) throw UsageError(fmt::format("--val-split: must be in (0,1), got {}", o.val_split));
  if (!(o.confirm_split >= 0 && o.val_split + o.confirm_split < 1)) {
    throw UsageError(fmt::format("--confirm-split: must be >= 0 and leave training data beside --val-split {}, got {}",
                                 o.val_split, o.confirm_split));
  }
  if (!(o.search.margin_se >= 0)) throw UsageError(fmt::format("--margin: must be >= 0, got {}", o.search.margin_se));
  if (!(o.search.confirm_margin_se >= 0)) {
    throw UsageError(fmt::format("--confirm-margin: must be >= 0, got {}", o.search.confirm_margin_se));
  }
  if (o.oracle.retrain_batches < 0) throw UsageError("--retrain-batches: must be >= 0");
  if (o.baseline_epochs < 1) throw UsageError("--baseline-epochs: must be >= 1");
  if (o.oracle.finetune_epochs < 1) throw UsageError("--finetune-epochs: must be >= 1");
  require_positive(o.oracle.lr, "--lr");
  if (o.oracle.batch_size < 1) throw UsageError("--batch: must be >= 1");
  if (o.train_samples < 0) throw UsageError("--train-samples: must be >= 0");
  if (o.no_units && o.no_masks && o.no_lowrank) throw UsageError("--no-units, --no-masks and --no-lowrank leave nothing to do");
}

void print_table(const nlohmann::json& b, const nlohmann::json& f) {
  auto factor = [](double a, double z) { return z > 0 ? a / z : 0.0; };
  fmt::print("\n{:<22}{:>14}{:>14}{:>10}\n", "", "baseline", "reduced", "factor");
  for (const char* k : {"params", "nonzero_params", "macs"}) {
    double a = b[k].get<double>(), z = f[k].get<double>();
    fmt::print("{:<22}{:>14}{:>14}{:>9.2f}x\n", k, b[k].get<int64_t>(), f[k].get<int64_t>(), factor(a, z));
  }
  fmt::print("{:<22}{:>14}{:>14}\n", "non-zero reduction", "",
             fmt::format("{:.2f}x", factor(b["params"].get<double>(), f["nonzero_params"].get<double>())));
  for (const auto& [label, key] : {std::pair{"validation accuracy", "val_accuracy"},
                                   std::pair{"confirmation accuracy", "confirm_accuracy"}}) {
    if (b[key].is_null()) continue;
    fmt::print("{:<22}{:>14.4f}{:>14.4f}{:>+9.2f}pp\n", label, b[key].get<double>(), f[key].get<double>(),
               100 * (f[key].get<double>() - b[key].get<double>()));
  }
  fmt::print("{:<22}{:>14.4f}{:>14.4f}{:>+9.2f}pp\n", "test accuracy", b["test_accuracy"].get<double>(),
             f["test_accuracy"].get<double>(), 100 * (f["test_accuracy"].get<double>() - b["test_accuracy"].get<double>()));
}

/// "loses 0.21 points" / "gains 0.05 points" for a loss given as a fraction.
std::string loss_words(double loss) {
  return fmt::format("{} {:.2f} points", loss > 0 ? "loses" : "gains", 100 * std::abs(loss));
}

/// What --max-loss promised and what the confirmation split says of the returned model, with the one
/// sentence a user needs to read it right.
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

/// A run that starts afresh in a report folder drops an earlier run's checkpoint files (names snare gives them), so
/// that a later --resume cannot mix the two.
void remove_checkpoints(const std::string& report_dir) {
  for (const auto& e : fs::directory_iterator(report_dir)) {
    const std::string name = e.path().filename().string();
    const bool model = name.rfind("checkpoint_step", 0) == 0 || name.rfind("checkpoint_confirmed_step", 0) == 0;
    if ((model && e.path().extension() == ".h5") || name == "checkpoint.json" || name == "checkpoint.h5") fs::remove(e.path());
  }
}

/// Refuses (exit 2) a checkpoint that another run made (a different identity: each difference is listed), or whose
/// model files were replaced since it was written.
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

void run_reduce(ReduceOptions& o) {
  check(o);
  o.oracle.augment = exec::parse_augment(o.augment);
  check_output_path(o.output);
  if (o.report_dir.empty()) o.report_dir = (fs::path(o.output).parent_path() / (fs::path(o.output).stem().string() + "_report")).string();
  fs::create_directories(o.report_dir);
  const std::string ckpt_state = (fs::path(o.report_dir) / "checkpoint.json").string();
  const std::string baseline_file = (fs::path(o.report_dir) / "baseline.h5").string();
  // The model the run returns (the last accepted one that holds on confirmation) needs a file of its own
  // only once the search has gone past it; one file per step, so that a kill between writes never pairs a
  // state with another step's model.
  auto confirmed_file = [&](int64_t step) {
    return (fs::path(o.report_dir) / fmt::format("checkpoint_confirmed_step{}.h5", step)).string();
  };
  auto checkpoint_file = [&](int64_t step) {
    return (fs::path(o.report_dir) / fmt::format("checkpoint_step{}.h5", step)).string();
  };
  auto own_confirmed_step = [](const search::SearchState& st) {
    return st.confirmed_step > 0 && st.confirmed_step != search::last_accepted_step(st) ? st.confirmed_step : 0;
  };
  o.search.time_limit_s = o.time_limit_min * 60.0;
  o.search.rule = search::rule_from_name(o.rule);
  o.search.units = !o.no_units;
  o.search.masks = !o.no_masks;
  o.search.lowrank = !o.no_lowrank;
  o.oracle.criterion = reduce::criterion_from_name(o.criterion);
  ConsoleProgress progress;
  const auto start = std::chrono::steady_clock::now();

  // The model to reduce: a file, or a built-in trained here first (kept for --resume).
  ir::Graph model;
  bool trained_here = false;
  if (!o.source.arch.empty() && o.resume && fs::exists(baseline_file)) {
    model = io::load_model(baseline_file);
  } else {
    model = load_source(o.source);
    trained_here = !o.source.arch.empty();
  }
  data::Dataset d = load_data(o.data, model, &model);
  if (o.train_samples > 0 && o.train_samples < d.train.size()) {
    d.train = data::subset(d.train, at::arange(o.train_samples, at::TensorOptions(at::kLong)));
  }
  data::Holdouts parts = data::holdouts_of(d, o.val_split, o.confirm_split, o.source.seed);
  const data::Split& fit = parts.fit;
  const data::Split& val = parts.validation;
  if (trained_here) {
    // "converged": trained like `snare train` (Adam 3e-3, cosine decay to 0). "keras": what Keras' model.fit
    // does by default (Adam 1e-3, constant, batch 32), the kind of model the reference SNARE and the published
    // peers reduced. The last epoch is kept either way: picking the best validation epoch would pick on noise
    // (HAR: epoch 1 of 20 once) and bias the threshold.
    const bool keras = o.baseline_recipe == "keras";
    exec::TrainOptions t;
    t.epochs = o.baseline_epochs;
    t.seed = o.source.seed;
    t.device = o.oracle.device;
    t.batch_size = keras ? kKerasBatch : o.oracle.batch_size;
    t.lr = keras ? kKerasLr : kFromScratchLr;
    t.cosine = !keras;
    progress.log(fmt::format("training the baseline {} on {} ({} recipe: {} epochs, Adam {} {}, batch {}, last epoch "
                             "kept)", model.name, d.name, o.baseline_recipe, o.baseline_epochs, t.lr,
                             t.cosine ? "with cosine decay" : "constant", t.batch_size));
    t.restore_best = false;
    model = exec::train(model, fit, &val, t, progress).graph;
    io::save_model(model, baseline_file);
  }
  const ir::Graph baseline = model;
  const nlohmann::json identity = run_identity(o, d, baseline_file);
  o.oracle.teacher = o.distill ? &baseline : nullptr;
  search::TorchOracle oracle(fit, val, parts.confirmation, o.oracle, &progress);

  std::unique_ptr<search::SearchState> resume_state;
  if (o.resume && fs::exists(ckpt_state)) {
    std::ifstream in(ckpt_state);
    nlohmann::json j;
    try {
      in >> j;
    } catch (const nlohmann::json::exception& e) {
      throw ModelError(fmt::format("{}: unreadable checkpoint: {}", ckpt_state, e.what()));
    }
    if (!j.contains("state")) throw ModelError(fmt::format("{}: checkpoint without a search state", ckpt_state));
    check_resumable(j, o.report_dir, identity);
    resume_state = std::make_unique<search::SearchState>(search::state_from_json(j.at("state")));
    resume_state->model = io::load_model((fs::path(o.report_dir) / j.value("model", "")).string());
    if (resume_state->confirmed_step > 0) {
      const int64_t own = own_confirmed_step(*resume_state);
      resume_state->confirmed_model = own > 0 ? io::load_model(confirmed_file(own)) : resume_state->model;
    }
    progress.log(fmt::format("resuming from {} at step {}", ckpt_state, resume_state->next_step));
  } else if (o.resume) {
    progress.log(fmt::format("--resume: no checkpoint in {}; starting from the beginning", o.report_dir));
  }

  if (!resume_state) remove_checkpoints(o.report_dir);
  search::SearchHooks hooks;
  hooks.progress = &progress;
  hooks.stop = &g_stop;
  int64_t saved_confirmed = resume_state ? own_confirmed_step(*resume_state) : 0;
  int64_t saved_step = resume_state ? search::last_accepted_step(*resume_state) : -1;
  hooks.checkpoint = [&](const search::SearchState& st) {
    // Models first, each in a file named by its step (the model changes only when a step is accepted), then the
    // state that names them with their fingerprints, then the files it no longer names: a kill between the writes
    // leaves the previous state with the files it names.
    const int64_t own = own_confirmed_step(st), step = search::last_accepted_step(st);
    if (own > 0 && own != saved_confirmed) io::save_model(st.confirmed_model, confirmed_file(own));
    if (step != saved_step) io::save_model(st.model, checkpoint_file(step));
    if (o.keep_steps && !st.history.empty() && st.history.back().accepted) {
      fs::create_directories(fs::path(o.report_dir) / "steps");
      io::save_model(st.model, (fs::path(o.report_dir) / "steps" / fmt::format("step{}.h5", st.history.back().step)).string());
    }
    const std::string model_name = fs::path(checkpoint_file(step)).filename().string();
    nlohmann::json files = {{model_name, file_fingerprint(checkpoint_file(step))}};
    if (own > 0) files[fs::path(confirmed_file(own)).filename().string()] = file_fingerprint(confirmed_file(own));
    nlohmann::json j = {{"input", o.source.path.empty() ? "arch:" + o.source.arch : o.source.path},
                        {"identity", identity},
                        {"model", model_name},
                        {"files", files},
                        {"state", search::state_json(st)}};
    write_text_atomically(ckpt_state, j.dump(1));
    if (saved_confirmed > 0 && saved_confirmed != own) fs::remove(confirmed_file(saved_confirmed));
    if (saved_step >= 0 && saved_step != step) fs::remove(checkpoint_file(saved_step));
    saved_confirmed = own;
    saved_step = step;
  };
  g_stop.store(false);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  search::SearchResult r = search::run(baseline, oracle, o.search, hooks, resume_state.get());
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

  exec::ExecOptions eo;
  eo.device = o.oracle.device;
  exec::EvalResult base_test = exec::evaluate(baseline, d.test, eo);
  const double final_val = search::accuracy_of(oracle.validate(r.model));
  const double final_confirm = parts.confirmation.size() ? search::accuracy_of(oracle.confirm(r.model)) : -1;
  exec::EvalResult final_test = exec::evaluate(r.model, d.test, eo);
  const exec::PairedComparison paired = exec::compare_paired(base_test.correct, final_test.correct);
  io::save_model(r.model, o.output);
  std::string onnx_out;
  if (io::format_of(o.output) != io::ModelFormat::kOnnx) {
    onnx_out = (fs::path(o.output).parent_path() / (fs::path(o.output).stem().string() + ".onnx")).string();
    io::save_model(r.model, onnx_out);
  }
  nlohmann::json report = {
      {"snare_version", kVersion},
      {"created", now_utc()},
      {"machine", machine_description()},
      {"versions", {{"snare", kVersion}, {"libtorch", TORCH_VERSION}}},
      {"model", {{"name", baseline.name}, {"input", o.source.path.empty() ? "arch:" + o.source.arch : o.source.path},
                 {"output", o.output}, {"onnx", onnx_out}}},
      {"data", d.name},
      {"class_names", d.class_names},
      {"seed", o.source.seed},
      {"options", options_json(o)},
      {"tolerance", tolerance_json(o, r, parts)},
      {"baseline", summary(baseline, r.state.baseline_val_accuracy, r.state.baseline_confirm_accuracy, base_test)},
      {"final", summary(r.model, final_val, final_confirm, final_test)},
      {"test_comparison",
       {{"baseline_only_correct", paired.only_a},
        {"final_only_correct", paired.only_b},
        {"mcnemar_p", paired.p_value}}},
      {"steps", search::history_json(r.state.history)},
      {"stop_reason", r.state.stop_reason},
      {"wall_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  if (o.search.rule == search::Rule::kAccuracySe) {
    // The one validation accuracy every step had to keep (the paired rule's margin differs per step).
    search::PairedLoss base;
    base.samples = val.size();
    base.reference_accuracy = r.state.baseline_val_accuracy;
    report["accept_threshold"] = r.state.baseline_val_accuracy - o.search.max_loss_pp / 100.0 +
                                 search::margin_of(search::tolerance_of(o.search), base);
  }
  report::write_report(report, o.report_dir);
  print_table(report["baseline"], report["final"]);
  fmt::print("test samples only the baseline gets right: {}, only the reduced model: {} (exact McNemar p = {:.3g})\n",
             paired.only_a, paired.only_b, paired.p_value);
  fmt::print("{}\n", report["tolerance"]["meaning"].get<std::string>());
  fmt::print("stopped: {}\nsaved {}{}; report in {}\n", r.state.stop_reason, o.output,
             onnx_out.empty() ? "" : " and " + onnx_out, o.report_dir);
  if (r.interrupted) throw Error(ExitCode::kInterrupted, "interrupted: saved the last accepted model that holds the tolerance on the confirmation split; "
                                                         "continue with --resume");
}

}  // namespace

void register_reduce(CLI::App& app) {
  auto o = std::make_shared<ReduceOptions>();
  CLI::App* cmd = app.add_subcommand(
      "reduce", "SNARE: reduce a whole trained network automatically within an accuracy tolerance");
  add_model_source(*cmd, o->source, true);
  add_data_options(*cmd, o->data, true);
  cmd->add_option("-o,--output", o->output, "Reduced model file (.h5, .keras, .onnx); an .onnx is also written beside it")
      ->required();
  cmd->add_option("--max-loss", o->search.max_loss_pp,
                  "Tolerated accuracy loss against the input model in percentage points, checked at the end on a "
                  "confirmation split that no decision saw (--confirm-split)")
      ->capture_default_str();
  cmd->add_option("--margin", o->search.margin_se,
                  "Safety margin in standard errors (of --rule): every step must keep its validation loss this far "
                  "inside the tolerance (0 = decide on the tolerance alone)")
      ->capture_default_str();
  cmd->add_option("--confirm-margin", o->search.confirm_margin_se,
                  "The same for the final check on the confirmation split: the returned model's confirmation loss "
                  "plus this many standard errors stays within the tolerance")
      ->capture_default_str();
  cmd->add_option("--rule", o->rule,
                  "Standard error the margin counts in: paired (of the loss against the input model on the same "
                  "samples) or accuracy-se (of the input model's validation accuracy alone, the rule of earlier versions)")
      ->check(CLI::IsMember({"paired", "accuracy-se"}))
      ->capture_default_str();
  cmd->add_option("--confirm-split", o->confirm_split,
                  "Fraction of the training data held out for the final check of the tolerance, which no decision "
                  "sees; the run returns the last accepted step that holds there (0 = none; by subject for HAR)")
      ->capture_default_str();
  cmd->add_option("--budget-params", o->search.budget_params, "Stop once non-zero parameters are at most N");
  cmd->add_option("--budget-macs", o->search.budget_macs, "Stop once MACs are at most N");
  cmd->add_option("--mac-weight", o->search.mac_weight,
                  "Weight of a step's MAC reduction against its non-zero-parameter reduction in the score (raise it "
                  "when latency, not size, is the goal)")
      ->capture_default_str();
  cmd->add_option("--time-limit", o->time_limit_min, "Start no new step after this many minutes");
  cmd->add_option("--device", o->oracle.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--report", o->report_dir, "Folder for report.json, report.html and checkpoints (default OUT_report)");
  cmd->add_flag("--resume", o->resume,
                "Continue the run whose checkpoint is in the report folder (refused, exit 2, when its model, data or "
                "options differ; --time-limit, --keep-steps and -o may change)");
  cmd->add_flag("--keep-steps", o->keep_steps,
                "Keep the model of every accepted step as steps/stepN.h5 in the report folder (other points of the "
                "size/accuracy trade-off, without a new run)");
  cmd->add_option("--val-split", o->val_split, "Fraction of the training data held out for decisions (by subject for HAR)")
      ->capture_default_str();
  cmd->add_option("--retrain-batches", o->oracle.retrain_batches, "Batches of retraining after each step")
      ->capture_default_str();
  cmd->add_option("--finetune-epochs", o->oracle.finetune_epochs, "Epochs of the final fine-tuning")->capture_default_str();
  cmd->add_option("--baseline-epochs", o->baseline_epochs, "Epochs to train a built-in baseline (--arch)")
      ->capture_default_str();
  cmd->add_option("--baseline-recipe", o->baseline_recipe,
                  "How a built-in baseline is trained: converged (Adam 3e-3, cosine decay to 0, --batch) or keras "
                  "(Keras model.fit defaults: Adam 1e-3 constant, batch 32)")
      ->check(CLI::IsMember({"converged", "keras"}))
      ->capture_default_str();
  cmd->add_option("--lr", o->oracle.lr, "Learning rate of retraining")->capture_default_str();
  cmd->add_option("--batch", o->oracle.batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--criterion", o->criterion, "Unit importance: l1, l2, activation, apoz, taylor")->capture_default_str();
  cmd->add_flag("--distill", o->distill, "Distil from the input model while retraining");
  add_augment_option(*cmd, o->augment);
  cmd->add_flag("--no-units", o->no_units, "Do not remove units");
  cmd->add_flag("--no-masks", o->no_masks, "Do not prune connections");
  cmd->add_flag("--no-lowrank", o->no_lowrank, "Do not factorise layers");
  cmd->add_option("--recovery-rounds", o->search.recovery_rounds,
                  "Extra rounds of retraining for a step that misses the threshold by less than --recovery-window")
      ->capture_default_str();
  cmd->add_option("--recovery-window", o->search.recovery_window_pp,
                  "Largest shortfall in percentage points that earns extra retraining")
      ->capture_default_str();
  cmd->add_option("--channel-multiple", o->search.channel_multiple,
                  "Keep convolution filters in multiples of N, for runtimes that compute channels in blocks "
                  "(ONNX Runtime on x86: 16 with AVX-512, 8 with AVX2)")
      ->capture_default_str();
  cmd->add_option("--train-samples", o->train_samples, "Use only the first N training samples (quick trials)");
  cmd->callback([o]() {
    o->search.seed = o->source.seed;
    run_reduce(*o);
  });
}

}  // namespace snare::cli
