// snare::pipeline ReduceOptions: everything a SNARE run takes, with its defaults (the CLI's defaults; docs/cli.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/sources.h"
#include "search/search.h"
#include "measure/torch_oracle.h"

namespace snare::pipeline {

/// A run of `reduce`: the model and data, where the results go, and the search's and retraining's settings.
struct ReduceOptions {
  ModelSource source;
  DataOptions data;
  std::string output;      ///< reduced model file (.h5, .keras, .onnx); an .onnx is written beside other formats
  std::string report_dir;  ///< report.json, report.html and checkpoints; empty: OUTPUT's stem + "_report"
  search::SearchOptions search;
  measure::TorchOracleOptions oracle;
  double time_limit_min = 0;
  /// 0.2 each: the margins of decisions and of the confirmation shrink with the square root of the samples, and
  /// so does the flattery of many looks at one split; measured on LeNet-5 (docs/benchmarks.md, session 25).
  double val_split = 0.2;
  double confirm_split = 0.2;
  std::string rule = "paired";
  int64_t baseline_epochs = 8;
  std::string baseline_recipe = "converged";  ///< one of baseline_recipe_names()
  int64_t train_samples = 0;
  std::string criterion = "l2";
  std::string augment = "none";
  bool distill = false;
  bool resume = false;
  bool keep_steps = false;
  bool no_units = false, no_masks = false, no_lowrank = false;
  bool compensate = false;  ///< SearchOptions::compensate
  /// A distributed run (docs/distributed.md): every rank calls reduce() with the same options; training and
  /// evaluation are shared over the ranks, rank 0 alone writes files and reads checkpoints. Null: this process.
  dist::Group* group = nullptr;
};

/// How a built-in architecture (--arch) is trained before it is reduced: "converged" (snare's from-scratch
/// schedule, kFromScratchLr) or "keras" (model.fit's defaults, kKerasLr / kKerasBatch). For parsing and --help.
inline std::vector<std::string> baseline_recipe_names() { return {"converged", "keras"}; }

}  // namespace snare::pipeline
