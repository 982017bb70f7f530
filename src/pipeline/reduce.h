// snare::pipeline reduce: the whole SNARE run as a library call. Trains a built-in baseline when given an
// architecture, carves validation and confirmation splits, runs the search with a checkpoint after every accepted
// step (resumable), fine-tunes, evaluates input and result on the test split, writes the reduced model (+ .onnx
// beside it) and report.json / report.html into the report folder.
//
//   pipeline::ReduceOptions o;
//   o.source.path = "model.h5";
//   o.data.spec = "mnist";
//   o.output = "small.h5";
//   pipeline::ReduceResult r = pipeline::reduce(o, {&my_progress});
//   std::cout << r.report["final"]["params"];
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/progress.h"
#include "ir/graph.h"
#include "pipeline/reduce_options.h"

namespace snare::pipeline {

/// How a run talks to its caller; every member is optional.
struct ReduceCallbacks {
  ProgressSink* progress = nullptr;            ///< progress lines and bars (none: silent)
  /// Set to stop (a signal): a retraining or fine-tuning under way ends after its batch and is discarded, and the
  /// run saves its state and returns (resumable).
  const std::atomic<bool>* stop = nullptr;
  std::function<void()> search_begins;         ///< after the baseline and data are ready (e.g. install a signal handler)
  std::function<void()> search_ends;           ///< when the search has returned
};

struct ReduceResult {
  ir::Graph model;             ///< the reduced model (the last accepted step that holds on confirmation)
  nlohmann::json report;       ///< report.json's content (docs/report.md)
  std::string output;          ///< where the model was saved
  std::string onnx_output;     ///< the .onnx beside it ("" when the output is .onnx)
  std::string report_dir;
  bool interrupted = false;    ///< stopped through `stop`: saved, resumable
};

/// Runs SNARE as described above. Throws snare::Error kinds (docs/cli.md's exit codes) for bad options, models,
/// data and outputs; an interrupted run returns with `interrupted` set.
ReduceResult reduce(ReduceOptions options, const ReduceCallbacks& callbacks = {});

}  // namespace snare::pipeline
