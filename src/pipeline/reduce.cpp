#include "pipeline/reduce.h"

#include <ATen/ATen.h>
#include <torch/version.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/fingerprint.h"
#include "common/signal_cleanup.h"
#include "common/version.h"
#include "dist/group.h"
#include "exec/blas_kernels.h"
#include "exec/network.h"
#include "exec/paired_test.h"
#include "exec/train.h"
#include "io/keras/keras.h"
#include "io/model_file.h"
#include "pipeline/checkpoint.h"
#include "pipeline/run_report.h"
#include "report/report.h"
#include "search/state_json.h"
#include "search/tolerance.h"

namespace fs = std::filesystem;

namespace snare::pipeline {

namespace {

/// Progress for callers that pass none.
class SilentProgress : public ProgressSink {};

/// Throws OptionError naming `field` unless `ok`.
void require(bool ok, const char* field, const std::string& problem) {
  if (!ok) throw OptionError(field, problem);
}

/// A finite number >= 0 (NaN and infinity fail every comparison that matters here, so they are refused too).
bool finite_at_least(double v, double low) { return std::isfinite(v) && v >= low; }

void check(const ReduceOptions& o) {
  search::check_options(o.search);
  require(finite_at_least(o.time_limit_min, 0), "ReduceOptions::time_limit_min",
          fmt::format("must be a finite number >= 0, got {}", o.time_limit_min));
  require(o.val_split > 0 && o.val_split < 1, "ReduceOptions::val_split", fmt::format("must be in (0,1), got {}", o.val_split));
  require(o.confirm_split >= 0 && o.val_split + o.confirm_split < 1, "ReduceOptions::confirm_split",
          fmt::format("must be >= 0 and leave training data beside ReduceOptions::val_split {}, got {}", o.val_split,
                      o.confirm_split));
  require(o.oracle.retrain_batches >= 0, "TorchOracleOptions::retrain_batches",
          fmt::format("must be >= 0, got {}", o.oracle.retrain_batches));
  require(o.baseline_epochs >= 1, "ReduceOptions::baseline_epochs", fmt::format("must be >= 1, got {}", o.baseline_epochs));
  require(o.oracle.finetune_epochs >= 1, "TorchOracleOptions::finetune_epochs",
          fmt::format("must be >= 1, got {}", o.oracle.finetune_epochs));
  require(std::isfinite(o.oracle.lr) && o.oracle.lr > 0, "TorchOracleOptions::lr",
          fmt::format("must be a finite positive number, got {}", o.oracle.lr));
  require(o.oracle.batch_size >= 1, "TorchOracleOptions::batch_size", fmt::format("must be >= 1, got {}", o.oracle.batch_size));
  require(o.train_samples >= 0, "ReduceOptions::train_samples", fmt::format("must be >= 0, got {}", o.train_samples));
  const std::vector<std::string> recipes = baseline_recipe_names();
  require(std::find(recipes.begin(), recipes.end(), o.baseline_recipe) != recipes.end(), "ReduceOptions::baseline_recipe",
          fmt::format("expected one of {}, got '{}'", fmt::join(recipes, ", "), o.baseline_recipe));
  require(!(o.no_units && o.no_masks && o.no_lowrank), "ReduceOptions::no_units",
          "ReduceOptions::no_units, ReduceOptions::no_masks and ReduceOptions::no_lowrank together leave nothing to do");
}

/// The bytes of `path` (a file snare wrote).
std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ModelError(fmt::format("{}: cannot read", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

ReduceResult reduce(ReduceOptions o, const ReduceCallbacks& callbacks) {
  o.search.seed = o.source.seed;
  check(o);
  o.oracle.augment = exec::parse_augment(o.augment);
  dist::Group* group = o.group;
  o.oracle.group = group;
  // Rank 0 alone writes (outputs, report, checkpoints) and reads the checkpoints; other ranks receive them.
  const bool writes = !group || group->leader();
  // What decides the order of the exchanges before the full comparison below (which needs the data): ranks that
  // differ here would wait for each other until the timeout.
  if (group) {
    group->agree({{"snare version", kVersion}, {"ReduceOptions::resume", o.resume}, {"ModelSource::arch", o.source.arch}},
                 "run (version and start)");
  }
  if (writes) check_output_path(o.output);
  if (o.report_dir.empty()) o.report_dir = (fs::path(o.output).parent_path() / (fs::path(o.output).stem().string() + "_report")).string();
  bool made_report_dir = false;
  if (writes) {
    // A report folder that is a file, or one that cannot be made, is an output problem (exit 6), not a bug.
    std::error_code ec;
    if (fs::exists(o.report_dir, ec) && !fs::is_directory(o.report_dir, ec)) {
      throw OutputError(fmt::format("cannot use '{}' as the report folder: it is a file", o.report_dir));
    }
    made_report_dir = !fs::exists(o.report_dir, ec);
    fs::create_directories(o.report_dir, ec);
    if (ec) throw OutputError(fmt::format("cannot make the report folder '{}': {}", o.report_dir, ec.message()));
  }
  // A folder this run made goes again if the run ends (an error, a signal) before writing anything into it.
  std::optional<RemoveOnSignal> remove_if_empty;
  if (made_report_dir) remove_if_empty.emplace(o.report_dir, Debris::kEmptyFolder);
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
  o.search.compensate = o.compensate;
  o.oracle.criterion = reduce::criterion_from_name(o.criterion);
  SilentProgress silent;
  ProgressSink& progress = callbacks.progress ? *callbacks.progress : silent;
  const auto start = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  double loading_s = 0, baseline_s = 0;  // the search's phases are timed in its state (search::SearchTiming)

  // The model to reduce: a file, or a built-in trained here first (kept for --resume).
  ir::Graph model;
  bool trained_here = false;
  bool resume_baseline = !o.source.arch.empty() && o.resume && writes && fs::exists(baseline_file);
  if (group && !o.source.arch.empty() && o.resume) resume_baseline = group->any(resume_baseline);
  // A model file only rank 0 reads (the baseline, a checkpoint's models): it reads the bytes once and shares them,
  // and every rank parses the same bytes alike.
  auto model_from_rank0 = [&](const std::string& path) {
    if (!group) return io::load_model(path);
    const std::string bytes = group->share(writes ? file_bytes(path) : "");
    ir::Graph m = io::keras::read_keras_bytes(bytes, writes ? path : "rank 0's " + fs::path(path).filename().string());
    m.infer_shapes();
    return m;
  };
  if (resume_baseline) {
    model = model_from_rank0(baseline_file);
  } else {
    model = load_source(o.source);
    trained_here = !o.source.arch.empty();
  }
  data::Dataset d = load_data(o.data, model, &model);
  if (o.train_samples > 0 && o.train_samples < d.train.size()) {
    d.train = data::subset(d.train, at::arange(o.train_samples, at::TensorOptions(at::kLong)));
  }
  data::Holdouts parts = data::holdouts_of(d, o.val_split, o.confirm_split, o.source.seed);
  if (group) group->agree(shared_run_identity(o, d), "run (model, data and options)");
  loading_s = seconds_since(start);
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
    t.group = group;
    const auto t0 = std::chrono::steady_clock::now();
    model = exec::train(model, fit, &val, t, progress).graph;
    if (writes) io::save_model(model, baseline_file);
    baseline_s = seconds_since(t0);
  }
  const ir::Graph baseline = model;
  const nlohmann::json identity = writes ? run_identity(o, d, baseline_file) : nlohmann::json();
  o.oracle.teacher = o.distill ? &baseline : nullptr;
  o.oracle.stop = callbacks.stop;
  measure::TorchOracle oracle(fit, val, parts.confirmation, o.oracle, &progress);

  std::unique_ptr<search::SearchState> resume_state;
  // Rank 0 reads the checkpoint and checks it; the other ranks receive its text and models from rank 0.
  bool resume_found = o.resume && writes && fs::exists(ckpt_state);
  if (group && o.resume) resume_found = group->any(resume_found);
  if (resume_found) {
    nlohmann::json j;
    if (writes) {
      std::ifstream in(ckpt_state);
      try {
        in >> j;
      } catch (const nlohmann::json::exception& e) {
        throw ModelError(fmt::format("{}: unreadable checkpoint: {}", ckpt_state, e.what()));
      }
      if (!j.contains("state")) throw ModelError(fmt::format("{}: checkpoint without a search state", ckpt_state));
      check_resumable(j, o.report_dir, identity);
      if (group) group->share(j.dump());
    } else {
      j = nlohmann::json::parse(group->share(""));
    }
    resume_state = std::make_unique<search::SearchState>(search::state_from_json(j.at("state")));
    resume_state->model = model_from_rank0((fs::path(o.report_dir) / j.value("model", "")).string());
    if (resume_state->confirmed_step > 0) {
      const int64_t own = own_confirmed_step(*resume_state);
      resume_state->confirmed_model = own > 0 ? model_from_rank0(confirmed_file(own)) : resume_state->model;
    }
    progress.log(fmt::format("resuming from {} at step {}", ckpt_state, resume_state->next_step));
  } else if (o.resume) {
    progress.log(fmt::format("ReduceOptions::resume: no checkpoint in {}; starting from the beginning", o.report_dir));
  }

  if (!resume_state && writes) remove_checkpoints(o.report_dir);
  search::SearchHooks hooks;
  hooks.progress = &progress;
  hooks.stop = callbacks.stop;
  if (group) hooks.any_rank = [group](bool flag) { return group->any(flag); };
  int64_t saved_confirmed = resume_state ? own_confirmed_step(*resume_state) : 0;
  int64_t saved_step = resume_state ? search::last_accepted_step(*resume_state) : -1;
  if (writes) hooks.checkpoint = [&](const search::SearchState& st) {
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
  search::SearchResult r;
  {
    // search_ends runs however the search ends, an exception included (a caller's signal handler goes away).
    if (callbacks.search_begins) callbacks.search_begins();
    struct Ends {
      const std::function<void()>& f;
      ~Ends() {
        if (f) f();
      }
    } ends{callbacks.search_ends};
    r = search::run(baseline, oracle, o.search, hooks, resume_state.get());
  }

  const auto evaluation_start = std::chrono::steady_clock::now();
  exec::ExecOptions eo;
  eo.device = o.oracle.device;
  eo.group = group;
  exec::EvalResult base_test = exec::evaluate(baseline, d.test, eo);
  const double final_val = search::accuracy_of(oracle.validate(r.model));
  const double final_confirm = parts.confirmation.size() ? search::accuracy_of(oracle.confirm(r.model)) : -1;
  exec::EvalResult final_test = exec::evaluate(r.model, d.test, eo);
  const exec::PairedComparison paired = exec::compare_paired(base_test.correct, final_test.correct);
  const double evaluation_s = seconds_since(evaluation_start);
  const auto output_start = std::chrono::steady_clock::now();
  std::string onnx_out;
  if (io::format_of(o.output) != io::ModelFormat::kOnnx) {
    onnx_out = (fs::path(o.output).parent_path() / (fs::path(o.output).stem().string() + ".onnx")).string();
  }
  if (writes) {
    io::save_model(r.model, o.output);
    if (!onnx_out.empty()) io::save_model(r.model, onnx_out);
  }
  // Seconds per phase. Loading, the baseline, evaluation and output are this process's; the search's phases
  // are summed over every process of a resumed run.
  nlohmann::json timing = search::timing_json(r.state.timing);
  timing["loading"] = loading_s;
  timing["baseline_training"] = baseline_s;
  timing["final_evaluation"] = evaluation_s;
  timing["output"] = seconds_since(output_start);
  nlohmann::json report = {
      {"snare_version", kVersion},
      {"created", now_utc()},
      {"machine", machine_description()},
      {"versions", {{"snare", kVersion}, {"libtorch", TORCH_VERSION}, {"blas", exec::blas_kernels().describe()}}},
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
      {"timing", timing},
      {"wall_seconds", seconds_since(start)}};
  if (o.search.rule == search::Rule::kAccuracySe) {
    // The one validation accuracy every step had to keep (the paired rule's margin differs per step).
    search::PairedLoss base;
    base.samples = val.size();
    base.reference_accuracy = r.state.baseline_val_accuracy;
    report["accept_threshold"] = r.state.baseline_val_accuracy - o.search.max_loss_pp / 100.0 +
                                 search::margin_of(search::tolerance_of(o.search), base);
  }
  if (group) {
    // Rank 0's view of the run's communication (each rank sends the same messages).
    const dist::Group::Traffic& t = group->traffic();
    report["distributed"] = {{"world_size", group->size()},
                             {"collectives", t.collectives},
                             {"bytes_per_rank", t.bytes},
                             {"collective_seconds", t.seconds}};
  }
  if (writes) report::write_report(report, o.report_dir);
  ReduceResult result;
  result.model = r.model;
  result.report = std::move(report);
  if (writes) {
    result.output = o.output;
    result.onnx_output = onnx_out;
    result.report_dir = o.report_dir;
  }
  result.interrupted = r.interrupted;
  return result;
}

}  // namespace snare::pipeline
