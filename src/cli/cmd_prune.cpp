// snare prune MODEL --layer NAME (--remove 50% | --keep N) [--criterion C] [--data D] -o OUT
// snare prune MODEL --sparsity 0.9 [--layer NAME]... [--global] -o OUT
// snare factorize MODEL --layer NAME --rank R -o OUT
// All take --dry-run: print the plan and predicted params/MACs, write nothing.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <memory>

#include "analysis/stats.h"
#include "cli/commands.h"
#include "cli/common_options.h"
#include "common/error.h"
#include "io/model_file.h"
#include "measure/input_means.h"
#include "measure/unit_importance.h"
#include "reduce/importance.h"
#include "reduce/magnitude.h"
#include "reduce/plan.h"

namespace snare::cli {

namespace {

/// "50%" -> 0.5 of the units; "3" -> 3 units.
int64_t parse_removal(const std::string& text, int64_t total) {
  try {
    size_t used = 0;
    if (!text.empty() && text.back() == '%') {
      double pct = std::stod(text.substr(0, text.size() - 1), &used);
      if (used != text.size() - 1 || pct < 0 || pct > 100) throw std::invalid_argument("range");
      return static_cast<int64_t>(std::llround(pct / 100.0 * static_cast<double>(total)));
    }
    long long n = std::stoll(text, &used);
    if (used != text.size() || n < 0) throw std::invalid_argument("range");
    return n;
  } catch (const std::logic_error&) {
    throw UsageError(fmt::format("--remove: expected a count or a percentage such as 50%, got '{}'", text));
  }
}

/// --dry-run and -o, shared by prune and factorize.
void add_output_options(CLI::App& cmd, bool& dry_run, std::string& output) {
  cmd.add_flag("--dry-run", dry_run, "Print the plan and the predicted params and MACs; write nothing");
  cmd.add_option("-o,--output", output, "Output model file");
}

void check_output_or_dry_run(bool dry_run, const std::string& output) {
  if (!dry_run && output.empty()) throw UsageError("-o/--output is required (or use --dry-run)");
  if (!output.empty()) check_output_path(output);
}

void finish(const ir::Graph& before, const reduce::ReductionPlan& plan, bool dry_run, const std::string& output) {
  ir::Graph after = reduce::apply(before, plan);
  analysis::ModelStats a = analysis::analyze(before), b = analysis::analyze(after);
  fmt::print("plan:\n{}", plan.describe(before));
  fmt::print("params {} -> {} ({:.2f}x), non-zero {} -> {} ({:.2f}x), MACs {} -> {} ({:.2f}x)\n", a.params, b.params,
             static_cast<double>(a.params) / static_cast<double>(b.params), a.nonzero_params, b.nonzero_params,
             static_cast<double>(a.params) / static_cast<double>(std::max<int64_t>(1, b.nonzero_params)), a.macs, b.macs,
             static_cast<double>(a.macs) / static_cast<double>(std::max<int64_t>(1, b.macs)));
  if (dry_run) {
    fmt::print("dry run: nothing written\n");
    return;
  }
  io::save_model(after, output);
  fmt::print("saved {}\n", output);
}

}  // namespace

void register_prune(CLI::App& app) {
  struct Options {
    ModelSource source;
    DataOptions data;
    std::vector<std::string> layers;
    std::string remove;
    int64_t keep = -1;
    double sparsity = -1;
    bool global = false;
    std::string criterion = "l2";
    int64_t samples = 512;
    bool compensate = false;
    bool dry_run = false;
    std::string output;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "prune", "Remove units (neurons, filters, LSTM units) of one layer, or mask connections by magnitude");
  add_model_source(*cmd, o->source, false);
  cmd->add_option("--layer", o->layers, "Layer to prune (with --sparsity: repeatable; default all)");
  cmd->add_option("--remove", o->remove, "Units to remove: a count or a percentage (50%)");
  cmd->add_option("--keep", o->keep, "Units to keep");
  cmd->add_option("--sparsity", o->sparsity, "Connection pruning: fraction of weights to zero, in [0,1)");
  cmd->add_flag("--global", o->global, "With --sparsity: one magnitude threshold over all selected layers");
  cmd->add_option("--criterion", o->criterion, "Unit importance: " + reduce::criterion_names() + " (" + reduce::criterion_names(true) + " need --data)")
      ->capture_default_str();
  cmd->add_flag("--compensate", o->compensate,
                "Bias compensation (needs --data): move the removed units' or masked weights' mean contribution into "
                "the next layer's bias");
  cmd->add_option("--samples", o->samples, "Training samples the data criteria and the compensation look at")
      ->check(CLI::Range(int64_t{1}, std::numeric_limits<int64_t>::max()))
      ->capture_default_str();
  add_data_options(*cmd, o->data, false);
  add_output_options(*cmd, o->dry_run, o->output);
  cmd->callback([o]() {
    check_output_or_dry_run(o->dry_run, o->output);
    ir::Graph g = load_source(o->source);
    bool units = !o->remove.empty() || o->keep >= 0;
    if (units == (o->sparsity >= 0)) throw UsageError("give either --remove/--keep (units) or --sparsity (connections)");
    // The training sample of the data criteria, and of the layers' input means (bias compensation).
    if (o->compensate && o->data.spec.empty()) throw UsageError("--compensate needs --data");
    const reduce::Criterion c = reduce::criterion_from_name(o->criterion);
    data::Split sample;
    if (o->compensate || (units && reduce::needs_data(c) && !o->data.spec.empty())) {
      data::Dataset d = load_data(o->data, g);
      sample = data::subset(d.train, at::arange(std::min(o->samples, d.train.size()), at::kLong));
    }
    reduce::ReductionPlan plan;
    if (o->sparsity >= 0) {
      plan = reduce::magnitude_plan(g, o->sparsity, o->layers, o->global);
    } else {
      if (o->layers.size() != 1) throw UsageError("--remove/--keep need exactly one --layer");
      if (!o->remove.empty() && o->keep >= 0) throw UsageError("give --remove or --keep, not both");
      if (g.index_of(o->layers[0]) < 0) throw UsageError(fmt::format("--layer: no layer named '{}'", o->layers[0]));
      const ir::Layer& l = g.layer(o->layers[0]);
      if (!ir::has_units(l.kind)) {
        throw UsageError(fmt::format("--layer '{}' ({}) has no units to remove", l.name, ir::kind_name(l.kind)));
      }
      int64_t keep = o->keep >= 0 ? o->keep : l.units - parse_removal(o->remove, l.units);
      if (reduce::needs_data(c) && o->data.spec.empty()) {
        throw UsageError(fmt::format("--criterion {} needs --data", o->criterion));
      }
      plan = measure::keep_most_important(g, l.name, keep, c, &sample);
    }
    if (o->compensate) plan.input_means = measure::input_means(g, sample);
    finish(g, plan, o->dry_run, o->output);
  });
}

void register_factorize(CLI::App& app) {
  struct Options {
    ModelSource source;
    std::string layer;
    int64_t rank = 0;
    bool dry_run = false;
    std::string output;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "factorize", "Replace a Dense or Conv layer by two thinner ones (truncated SVD to --rank)");
  add_model_source(*cmd, o->source, false);
  cmd->add_option("--layer", o->layer, "Layer to factorise")->required();
  cmd->add_option("--rank", o->rank, "Rank to keep")->required();
  add_output_options(*cmd, o->dry_run, o->output);
  cmd->callback([o]() {
    check_output_or_dry_run(o->dry_run, o->output);
    ir::Graph g = load_source(o->source);
    reduce::ReductionPlan plan;
    plan.factorizations.push_back({o->layer, o->rank});
    finish(g, plan, o->dry_run, o->output);
  });
}

}  // namespace snare::cli
