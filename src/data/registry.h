// The table of named data sets `--data NAME[:ARG]` understands. One row per kind; loaders live in
// their own files (idx via dataset.cpp, har.cpp, wisdm.cpp) and return raw, unscaled values.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace snare::data {

struct DatasetKind {
  const char* name;     ///< spec prefix, e.g. "mnist"
  const char* summary;  ///< one line for --help
  /// Input scaling used when neither the user (--scale) nor the model says otherwise.
  Scale default_scale;
  /// Loads raw values; `arg` is the part after ':' in the spec (a path) or empty. Only a user's files read
  /// `options` (the model's input shape and classes, layout, column names).
  std::function<Dataset(const std::string& arg, const LoadOptions& options)> load;
};

/// Sorted by name.
const std::vector<DatasetKind>& dataset_kinds();

}  // namespace snare::data
