// snare reduce (MODEL | --arch NAME) --data D -o OUT [--max-loss PP] [--budget-params N | --budget-macs N]
//              [--time-limit MIN] [--seed S] [--device D] [--report DIR] [--resume] ...
//
// Flags to pipeline::ReduceOptions, the run (pipeline::reduce: the library does the work), and what the console
// shows of its result. Ctrl-C or SIGTERM during the search stops cleanly after saving (exit 128 + the signal: 130
// or 143); --resume continues. Before and after the search, a signal ends the process as it would any program,
// once the debris handler (common/signal_cleanup.h) has removed the temporaries.
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common_options.h"
#include "cli/console_progress.h"
#include "common/error.h"
#include "common/signal_cleanup.h"
#include "pipeline/reduce.h"
#include "reduce/importance.h"
#include "search/tolerance.h"

namespace snare::cli {

namespace {

std::atomic<bool> g_stop{false};
std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  g_signal.store(sig);
  g_stop.store(true);
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

void print_result(const pipeline::ReduceResult& r) {
  const nlohmann::json& report = r.report;
  print_table(report["baseline"], report["final"]);
  const nlohmann::json& test = report["test_comparison"];
  fmt::print("test samples only the baseline gets right: {}, only the reduced model: {} (exact McNemar p = {:.3g})\n",
             test["baseline_only_correct"].get<int64_t>(), test["final_only_correct"].get<int64_t>(),
             test["mcnemar_p"].get<double>());
  fmt::print("{}\n", report["tolerance"]["meaning"].get<std::string>());
  fmt::print("stopped: {}\nsaved {}{}; report in {}\n", report["stop_reason"].get<std::string>(), r.output,
             r.onnx_output.empty() ? "" : " and " + r.onnx_output, r.report_dir);
}

void run_reduce(pipeline::ReduceOptions o, const DistFlags& dist_flags) {
  // A distributed run: every rank runs the same search; rank 0 alone prints and writes (docs/distributed.md).
  std::unique_ptr<dist::Group> group = join_ranks(dist_flags);
  o.group = group.get();
  const bool leader = !group || group->leader();
  ConsoleProgress progress;
  pipeline::ReduceCallbacks callbacks;
  callbacks.progress = leader ? &progress : nullptr;
  callbacks.stop = &g_stop;
  // Only the search stops cleanly; before it (data, baseline training) a signal ends the process as usual.
  callbacks.search_begins = [] {
    g_stop.store(false);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
  };
  callbacks.search_ends = [] {
    std::signal(SIGINT, on_signal_remove_debris);
    std::signal(SIGTERM, on_signal_remove_debris);
  };
  const pipeline::ReduceResult r = pipeline::reduce(o, callbacks);
  if (leader) print_result(r);
  if (r.interrupted) {
    throw Error(g_signal.load() == SIGTERM ? ExitCode::kTerminated : ExitCode::kInterrupted,
                "interrupted: saved the last accepted model that holds the tolerance on the confirmation split; "
                "continue with --resume");
  }
}

}  // namespace

void register_reduce(CLI::App& app) {
  auto o = std::make_shared<pipeline::ReduceOptions>();
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
      ->check(CLI::IsMember(search::rule_names()))
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
  cmd->add_option("--finetune-epochs", o->oracle.finetune_epochs, "Epochs of the final fine-tuning and of each consolidation")->capture_default_str();
  cmd->add_option("--baseline-epochs", o->baseline_epochs, "Epochs to train a built-in baseline (--arch)")
      ->capture_default_str();
  cmd->add_option("--baseline-recipe", o->baseline_recipe,
                  "How a built-in baseline is trained: converged (Adam 3e-3, cosine decay to 0, --batch) or keras "
                  "(Keras model.fit defaults: Adam 1e-3 constant, batch 32)")
      ->check(CLI::IsMember(pipeline::baseline_recipe_names()))
      ->capture_default_str();
  cmd->add_option("--lr", o->oracle.lr, "Learning rate of retraining")->capture_default_str();
  cmd->add_option("--batch", o->oracle.batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--criterion", o->criterion, "Unit importance: " + reduce::criterion_names())->capture_default_str();
  cmd->add_flag("--distill", o->distill, "Distil from the input model while retraining");
  add_augment_option(*cmd, o->augment);
  cmd->add_flag("--no-units", o->no_units, "Do not remove units");
  cmd->add_flag("--no-masks", o->no_masks, "Do not prune connections");
  cmd->add_flag("--no-lowrank", o->no_lowrank, "Do not factorise layers");
  cmd->add_flag("--compensate", o->compensate,
                "Bias compensation: move a removed unit's or masked weight's mean contribution (on training data) "
                "into the next layer's bias");
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
  cmd->add_option("--consolidate", o->search.consolidations,
                  "When no step is left to try, fine-tune the whole network and, when validation holds, start every "
                  "target afresh; at most N times")
      ->capture_default_str();
  cmd->add_option("--trials", o->search.trials,
                  "Candidates retrained per step, the top-scored ones, at once on groups of ranks in a distributed run; "
                  "the best-scored one that holds is kept (docs/search.md)")
      ->capture_default_str();
  cmd->add_option("--train-samples", o->train_samples, "Use only the first N training samples (quick trials)");
  auto dist_flags = std::make_shared<DistFlags>();
  add_dist_options(*cmd, *dist_flags);
  cmd->callback([o, dist_flags]() { run_reduce(*o, *dist_flags); });
}

}  // namespace snare::cli
