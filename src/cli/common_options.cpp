#include "cli/common_options.h"

#include <fmt/format.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <tuple>

#include <nlohmann/json.hpp>

#include "arch/zoo.h"
#include "common/error.h"
#include "data/registry.h"
#include "io/model_file.h"

namespace snare::cli {

void add_model_source(CLI::App& cmd, ModelSource& source, bool allow_arch) {
  cmd.add_option("model", source.path, "Model file (.h5, .keras, .onnx)");
  if (allow_arch) {
    std::string names;
    for (const arch::ArchInfo& a : arch::architectures()) names += std::string(names.empty() ? "" : ", ") + a.name;
    cmd.add_option("--arch", source.arch, "Built-in architecture instead of a file: " + names);
    cmd.add_option("--seed", source.seed, "Random seed (weights, shuffling, dropout)")->capture_default_str();
  }
}

void add_data_options(CLI::App& cmd, DataOptions& options, bool required) {
  std::string kinds;
  for (const data::DatasetKind& k : data::dataset_kinds()) kinds += std::string(kinds.empty() ? "" : ", ") + k.name;
  auto* opt = cmd.add_option("--data", options.spec,
                             "Data set: " + kinds + " (NAME:PATH for another location), or a folder of IDX files");
  if (required) opt->required();
  cmd.add_option("--scale", options.scale,
                 "Input scaling: raw (as stored), unit (/255), standard (per-channel mean/std); default: the "
                 "model's recorded scale, else the data set's (unit for uint8 images, raw for other files)");
  cmd.add_option("--mean", options.mean, "Per-channel means for --scale standard (one value: every channel)")
      ->delimiter(',');
  cmd.add_option("--std", options.stddev, "Per-channel standard deviations for --scale standard")->delimiter(',');
  cmd.add_option("--layout", options.layout,
                 "Your arrays' layout where both readings fit the model: channels-last (Keras) or channels-first");
  cmd.add_option("--label-column", options.label_column, "csv: name of the label column (default: the last)");
  cmd.add_option("--group-column", options.group_column, "csv: name of a group (subject/user id) column");
  cmd.add_option("--test-split", options.test_split,
                 "csv/images without separate test data: fraction held out as the test split");
  cmd.add_option("--resize", options.resize, "images: resize every image to HxW (e.g. 28x28)");
  cmd.add_option("--arrays", options.arrays,
                 "npz/npy/h5: array names other than x_train, y_train, ... as ROLE=NAME (e.g. x_train=images)")
      ->delimiter(',');
}

void add_augment_option(CLI::App& cmd, std::string& spec) {
  cmd.add_option("--augment", spec,
                 "Perturb training batches: none, default (scale=0.2) or a list of scale=F "
                 "(per-channel gain sd), noise=F (additive sd, in scaled units), shift=N (steps along time/space)")
      ->capture_default_str();
}

void add_dist_options(CLI::App& cmd, DistFlags& flags) {
  cmd.add_option("--world-size", flags.world_size,
                 "Processes of a distributed run, on this and other machines (default $WORLD_SIZE, else 1; "
                 "docs/distributed.md)");
  cmd.add_option("--rank", flags.rank, "This process's rank, 0 to world size - 1; rank 0 writes every file "
                                        "(default $RANK)");
  cmd.add_option("--rendezvous", flags.rendezvous,
                 "Where rank 0 meets the others, tcp://HOST:PORT (default tcp://$MASTER_ADDR:$MASTER_PORT, else "
                 "tcp://127.0.0.1:29500)");
  cmd.add_option("--dist-timeout", flags.timeout_s,
                 "Seconds a rank waits for the others (rendezvous, each exchange) before it stops with exit 7")
      ->capture_default_str();
}

std::unique_ptr<dist::Group> join_ranks(const DistFlags& flags) {
  dist::DistConfig c = dist::config_from_environment();
  if (flags.world_size != 0) c.world_size = flags.world_size;
  if (flags.rank != -1) c.rank = flags.rank;
  if (!flags.rendezvous.empty()) dist::parse_rendezvous(flags.rendezvous, c);
  c.timeout_s = flags.timeout_s;
  dist::check(c);
  if (c.world_size == 1) return nullptr;
  return std::make_unique<dist::Group>(c);
}

void require_positive(double value, const std::string& flag) {
  if (!(value > 0)) throw UsageError(fmt::format("{}: must be positive, got {}", flag, value));
}

}  // namespace snare::cli
