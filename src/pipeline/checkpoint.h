// snare::pipeline checkpoints: what a resumable run is bound to (its identity: snare's version, the input model's
// content, the data, every option that shapes the run), and the checks a resume makes against it (docs/search.md).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "data/dataset.h"
#include "pipeline/reduce_options.h"

namespace snare::pipeline {

/// The identity of run `o` on data `d`, keyed by the CLI flag of each field. `baseline_file`: the built-in
/// baseline trained by the first run (read only for --arch).
nlohmann::json run_identity(const ReduceOptions& o, const data::Dataset& d, const std::string& baseline_file);
/// The part of run_identity every rank of a distributed run can check at the rendezvous: without where the data
/// lies and the baseline file, which differ between machines or exist on rank 0 alone.
nlohmann::json shared_run_identity(const ReduceOptions& o, const data::Dataset& d);

/// A run that starts afresh in a report folder drops an earlier run's checkpoint files (names snare gives them), so
/// that a later resume cannot mix the two.
void remove_checkpoints(const std::string& report_dir);

/// Refuses (OptionError on ReduceOptions::resume, exit 2) a checkpoint that another run made (a different identity: each difference is
/// listed), or whose model files were replaced since it was written.
void check_resumable(const nlohmann::json& checkpoint, const std::string& report_dir, const nlohmann::json& identity);

}  // namespace snare::pipeline
