// snare::pipeline run report: the parts of report.json (docs/report.md) that describe a run's machine, options,
// models and tolerance; reduce() assembles them.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "data/dataset.h"
#include "exec/network.h"
#include "ir/graph.h"
#include "pipeline/reduce_options.h"
#include "search/search.h"

namespace snare::pipeline {

/// "CPU model, N cores, T intra-op threads, GPU: ...".
std::string machine_description();
/// The current time as ISO 8601 UTC ("2026-11-30T03:14:21Z").
std::string now_utc();
/// A model's size and accuracies: params, non-zeros, MACs, validation/confirmation/test accuracy, per-layer units.
/// `confirm` < 0: no confirmation split.
nlohmann::json summary(const ir::Graph& g, double val, double confirm, const exec::EvalResult& test);
/// The options that shaped the run, under report.json's names.
nlohmann::json options_json(const ReduceOptions& o);
/// What --max-loss promised and what the confirmation split says of the returned model, with the one sentence a
/// user needs to read it right.
nlohmann::json tolerance_json(const ReduceOptions& o, const search::SearchResult& r, const data::Holdouts& parts);

}  // namespace snare::pipeline
