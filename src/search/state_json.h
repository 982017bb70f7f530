// JSON form of the search's records: the history in report.json, and the checkpoint state that
// --resume reads back (the model itself is checkpointed as a Keras file beside it).
#pragma once

#include <nlohmann/json.hpp>

#include "search/search.h"

namespace snare::search {

nlohmann::json to_json(const StepRecord& r);
/// samples, only_baseline, only_model, baseline_accuracy, and loss_pp / se_pp in percentage points.
nlohmann::json to_json(const PairedLoss& l);
nlohmann::json history_json(const std::vector<StepRecord>& history);
/// {"probing": s, "retraining": s, ...}: the fields of SearchTiming in seconds.
nlohmann::json timing_json(const SearchTiming& timing);

/// Everything of SearchState except the model.
nlohmann::json state_json(const SearchState& s);
/// Inverse of state_json; the caller sets `model`, and `confirmed_model` when confirmed_step > 0. Throws ModelError on a malformed checkpoint.
SearchState state_from_json(const nlohmann::json& j);

}  // namespace snare::search
