// snare train (--arch NAME | MODEL) --data NAME [--epochs --lr --batch --seed --device --scale] -o OUT
#include <fmt/format.h>

#include <memory>

#include "cli/commands.h"
#include "cli/common_options.h"
#include "cli/console_progress.h"
#include "common/error.h"
#include "common/fingerprint.h"
#include "common/memory_limit.h"
#include "common/version.h"
#include "exec/network.h"
#include "exec/train.h"
#include "io/model_file.h"

namespace snare::cli {

void register_train(CLI::App& app) {
  struct Options {
    ModelSource source;
    DataOptions data;
    exec::TrainOptions train;
    std::string optimizer = "adam";
    std::string augment = "none";
    double val_split = 0.0;
    std::string keep = "best";
    std::string output;
    DistFlags dist;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "train", "Train a built-in architecture from scratch, or fine-tune a model file (connection masks are kept)");
  add_model_source(*cmd, o->source, true);
  add_data_options(*cmd, o->data, true);
  cmd->add_option("--epochs", o->train.epochs, "Training epochs")->capture_default_str();
  o->train.lr = kFromScratchLr;
  cmd->add_option("--lr", o->train.lr, "Learning rate (peak of the cosine schedule)")->capture_default_str();
  cmd->add_option("--batch", o->train.batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--optimizer", o->optimizer, "Optimizer (sgd with momentum 0.9)")
      ->check(CLI::IsMember(exec::optimizer_names()))
      ->capture_default_str();
  cmd->add_option("--val-split", o->val_split,
                  "Fraction of the training data held out for validation (by subject where the data has subjects); "
                  "enables early stopping and, by default, keeps the best-validation weights (--keep)")
      ->capture_default_str();
  cmd->add_option("--keep", o->keep,
                  "With --val-split: keep the best validation epoch's weights (best) or the last epoch's (last)")
      ->check(CLI::IsMember({"best", "last"}))
      ->capture_default_str();
  cmd->add_option("--patience", o->train.patience, "Early stopping: epochs without improvement (0 = off)")
      ->capture_default_str();
  add_augment_option(*cmd, o->augment);
  cmd->add_option("--device", o->train.device, "cpu, cuda or cuda:N")->capture_default_str();
  o->train.cosine = true;
  cmd->add_option("--cosine", o->train.cosine, "Cosine learning-rate decay to 0 over the run (true/false)")
      ->capture_default_str();
  cmd->add_option("-o,--output", o->output, "Output model file (.h5, .keras, .onnx)")->required();
  add_dist_options(*cmd, o->dist);
  cmd->callback([o]() {
    o->train.optimizer = exec::optimizer_from_name(o->optimizer);
    o->train.seed = o->source.seed;
    o->train.augment = exec::parse_augment(o->augment);
    o->train.restore_best = o->keep == "best";
    // A distributed run: every rank trains on its share of each batch; rank 0 alone prints and writes.
    std::unique_ptr<dist::Group> group = join_ranks(o->dist);
    o->train.group = group.get();
    const bool writes = !group || group->leader();
    if (writes) check_output_path(o->output);
    ir::Graph g = load_source(o->source);
    data::Dataset d = load_data(o->data, g, &g);
    if (group) {
      group->agree({{"snare version", kVersion},
                    {"model", o->source.path.empty() ? "arch:" + o->source.arch : file_fingerprint(o->source.path)},
                    {"data samples", fmt::format("{} training, {} test", d.train.size(), d.test.size())},
                    {"options", fmt::format("epochs {} lr {} batch {} optimizer {} seed {} augment {} val-split {} keep {} "
                                            "patience {} cosine {}", o->train.epochs, o->train.lr, o->train.batch_size,
                                            o->optimizer, o->source.seed, o->augment, o->val_split, o->keep,
                                            o->train.patience, o->train.cosine)}},
                   "training (model, data and options)");
    }
    ConsoleProgress console;
    ProgressSink& progress = writes ? static_cast<ProgressSink&>(console) : null_progress();
    exec::TrainResult r;
    if (o->val_split > 0 || d.validation.size() > 0) {
      // A validation split the data brings (x_val, y_val) is used as it is.
      data::Holdouts h = data::holdouts_of(d, o->val_split > 0 ? o->val_split : 0.1, 0.0, o->source.seed);
      r = exec::train(g, h.fit, &h.validation, o->train, progress);
    } else {
      r = exec::train(g, d.train, nullptr, o->train, progress);
    }
    exec::ExecOptions eo;
    eo.device = o->train.device;
    eo.group = group.get();
    exec::EvalResult test = exec::evaluate(r.graph, d.test, eo);
    if (!writes) return;
    io::save_model(r.graph, o->output);
    fmt::print("trained {} on {}{}: test accuracy {:.4f} (loss {:.4f}); saved {}\n", r.graph.name, d.name,
               group ? fmt::format(" over {} ranks (same weights on each, checked)", group->size()) : "", test.accuracy,
               test.loss, o->output);
    if (group) {
      const dist::Group::Traffic& t = group->traffic();
      fmt::print("rank 0 exchanged {} in {} collectives, {:.1f} s inside them\n", size_text(static_cast<uint64_t>(t.bytes)),
                 t.collectives, t.seconds);
    }
  });
}

}  // namespace snare::cli
