// Options and steps several subcommands share: where the model comes from (a file or --arch), the
// data set and its scaling, and saving with the facts a later `eval` needs (scale, statistics).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "dist/group.h"
#include "pipeline/sources.h"

namespace snare::cli {

using pipeline::DataOptions;
using pipeline::ModelSource;

/// MODEL positional and --arch; exactly one must be given (checked in load()).
void add_model_source(CLI::App& cmd, ModelSource& source, bool allow_arch);
/// --data and --scale.
void add_data_options(CLI::App& cmd, DataOptions& options, bool required);

using pipeline::check_output_path;
using pipeline::kFromScratchLr;
using pipeline::kKerasBatch;
using pipeline::kKerasLr;
using pipeline::load_data;
using pipeline::load_source;

/// --augment SPEC: random perturbation of training batches (exec::parse_augment reads SPEC).
void add_augment_option(CLI::App& cmd, std::string& spec);

/// A distributed run's flags; unset ones come from WORLD_SIZE, RANK, MASTER_ADDR and MASTER_PORT (torchrun's).
struct DistFlags {
  int world_size = 0;       ///< 0: from the environment, else 1
  int rank = -1;            ///< -1: from the environment, else 0
  std::string rendezvous;   ///< tcp://HOST:PORT; empty: from the environment, else tcp://127.0.0.1:29500
  double timeout_s = 300;
};
/// --world-size, --rank, --rendezvous, --dist-timeout.
void add_dist_options(CLI::App& cmd, DistFlags& flags);
/// Meets the other ranks when the flags or the environment ask for more than one process; null otherwise.
std::unique_ptr<dist::Group> join_ranks(const DistFlags& flags);

/// Rejects a non-positive value of a numeric flag with a UsageError naming the flag.
void require_positive(double value, const std::string& flag);

}  // namespace snare::cli
